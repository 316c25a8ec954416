/**
 * Creating an offer, or revising one as version n+1. Listing needs a preview first: the server screens
 * the offer against the negative list without writing anything (POST …/offers/screen) and the page
 * shows every finding; the list button works only for the exact input last previewed and not denied.
 */
import type { Finding } from '../../contracts/policy/schema.js';
import type { OfferWritten } from '../../client-sdk/sdk/types.js';
import { call, get } from '../api.js';
import { h, replace, table } from '../dom.js';
import { bi, t } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { go, type RouteMatch } from '../router.js';
import { errorText, mono, notice, pageHeader, safeT, section } from '../ui.js';
import { canonicalJson } from '../../crypto/index.js';
import type { Dataset, Evaluation, Offer } from './owner-data.js';
import { offerForm } from './owner-offer-form.js';

export function findingsTable(findings: readonly Finding[]): HTMLElement {
  return table(
    t('trade.findings'),
    [t('finding.rule'), t('finding.effect'), t('finding.reason'), t('finding.detail')],
    findings.map((f) => [
      mono(f.ruleId),
      h('span', { class: `badge effect-${f.effect}` }, safeT(`effect.${f.effect}` as MessageKey, f.effect)),
      bi(f.reason),
      h('small', null, Object.entries(f.detail).filter(([, v]) => v !== null && v !== '' && !(Array.isArray(v) && !v.length)).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('; ')),
    ]),
    { className: 'findings' },
  );
}

function screeningView(ev: Evaluation): HTMLElement {
  const kind = ev.decision === 'deny' ? 'error' : ev.decision === 'review' ? 'warn' : 'ok';
  return h(
    'div',
    { class: 'screening', 'data-decision': ev.decision },
    h('h3', null, t('offerEdit.screening', { policy: `${String(ev.policyId)} v${String(ev.policyVersion)}` }), ' ', h('span', { class: `badge decision-${ev.decision}` }, safeT(`decision.${ev.decision}` as MessageKey, ev.decision))),
    notice(kind, t(`offerEdit.${ev.decision}`)),
    ev.findings.length ? findingsTable(ev.findings) : null,
  );
}

async function editor(dataset: Dataset, current: Offer | null): Promise<Node> {
  const form = offerForm(dataset.schema, current);
  const result = h('div', { 'aria-live': 'polite', class: 'screening-result' }, notice('info', t('offerEdit.needPreview')));
  const status = h('div', { 'aria-live': 'polite', class: 'offer-status' });
  // the exact input last screened, and whether that screening allows listing it
  let previewed: string | null = null;
  let listable = false;
  const submit = h('button', { type: 'submit', class: 'primary', disabled: true }, current ? t('offerEdit.publish') : t('offerEdit.create'));
  const invalid = (control: HTMLElement | null) => {
    for (const el of Array.from(form.element.querySelectorAll('[aria-invalid]'))) el.removeAttribute('aria-invalid');
    control?.setAttribute('aria-invalid', 'true');
  };
  const snapshot = (): string | null => {
    const r = form.read();
    return r.ok ? canonicalJson(r.input) : null;
  };
  // any change after a preview makes it stale: listing must be of exactly what was screened
  const onChange = () => {
    if (previewed === null) return;
    if (snapshot() !== previewed) {
      submit.disabled = true;
      previewed = null;
      listable = false;
      replace(result, notice('warn', t('offerEdit.stale')));
    }
  };
  form.element.addEventListener('input', onChange);
  form.element.addEventListener('change', onChange);

  const preview = h('button', { type: 'button' }, t('offerEdit.preview'));
  preview.addEventListener('click', async () => {
    const r = form.read();
    if (!r.ok) {
      invalid(r.control);
      r.control.focus();
      return replace(result, notice('error', r.problem));
    }
    invalid(null);
    preview.disabled = true;
    try {
      const { screening } = await call<{ screening: Evaluation }>('POST', `/datasets/${dataset.id}/offers/screen`, { body: r.input });
      replace(result, screeningView(screening));
      previewed = canonicalJson(r.input);
      listable = screening.decision !== 'deny';
      submit.disabled = !listable;
    } catch (e) {
      replace(result, notice('error', errorText(e)));
    } finally {
      preview.disabled = false;
    }
  });

  const el = h(
    'form',
    {
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const r = form.read();
        if (!r.ok || !listable || canonicalJson(r.input) !== previewed) return;
        submit.disabled = true;
        try {
          const w = current
            ? await call<OfferWritten>('POST', `/offers/${current.id}/versions`, { body: r.input })
            : await call<OfferWritten>('POST', `/datasets/${dataset.id}/offers`, { body: r.input });
          replace(status, notice('ok', t('offerEdit.created', { title: w.offer.title, v: w.offer.version })));
          setTimeout(() => go(`#/owner/datasets/${dataset.id}`), 600);
        } catch (err) {
          replace(status, notice('error', errorText(err)));
          submit.disabled = false;
        }
      },
    },
    form.element,
    section(t('offerEdit.preview'), result, h('div', { class: 'actions' }, preview, submit, h('a', { class: 'button', href: `#/owner/datasets/${dataset.id}` }, t('offerEdit.cancel'))), status),
  );
  return h(
    'div',
    null,
    pageHeader(current ? t('offerEdit.reviseTitle', { title: current.title }) : t('offerEdit.newTitle'), h('p', { class: 'meta' }, h('a', { href: `#/owner/datasets/${dataset.id}` }, dataset.title))),
    current ? notice('info', t('offerEdit.reviseNote', { v: current.version + 1 })) : null,
    el,
  );
}

export async function newOfferPage(m: RouteMatch): Promise<Node> {
  return editor(await get<Dataset>(`/datasets/${m.params[0]!}`), null);
}

export async function reviseOfferPage(m: RouteMatch): Promise<Node> {
  const offer = await get<Offer>(`/offers/${m.params[0]!}`);
  return editor(await get<Dataset>(`/datasets/${offer.datasetId}`), offer);
}
