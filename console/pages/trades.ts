/**
 * My trades, and one trade: status timeline (audit events), the signed receipt (download, verified in
 * the page against the pinned enclave key with the SDK's BuyerClient — the same verifyReceipt as the
 * CLI), and the released result as a table and a bar chart.
 */
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { hasResult, isFinal } from '../../contracts/trade/states.js';
import { field, h, replace, table } from '../dom.js';
import { dateTime, num, t, yuan } from '../i18n.js';
import { describeComputation } from '../computation.js';
import { buyerClient, savePin, type Offer, type TradeDetail } from '../endpoints.js';
import { get } from '../api.js';
import { currentUser } from '../session.js';
import { go, type RouteMatch } from '../router.js';
import { dl, errorBox, errorText, mono, notice, pageHeader, section, shortHash, stateBadge } from '../ui.js';
import { CANCELLABLE, computationBlock, failureText, findingsBlock, moneyText, outcomeNotice, partyNames, stepReason, tradeFacts } from './trade-parts.js';
import { download, resultSection } from './result-view.js';

export async function tradesPage(): Promise<Node> {
  const { items } = await buyerClient().trades({ limit: 100 });
  const me = currentUser();
  const role = me?.user.role ?? 'buyer';
  return h(
    'div',
    null,
    pageHeader(t('trades.title')),
    items.length
      ? table(
          t('trades.title'),
          [t('trade.submitted'), role === 'owner' ? t('trade.buyer') : t('trade.owner'), t('trade.purpose'), t('trade.computation'), t('trade.money'), t('trade.state'), ''],
          items.map((tr) => [
            dateTime(tr.createdAt),
            role === 'owner' ? partyNames(tr, me).buyer : partyNames(tr, me).owner,
            tr.purpose.statement,
            describeComputation(tr.computation),
            moneyText(tr, role),
            stateBadge(tr.state),
            h('a', { href: `#/trades/${tr.id}`, 'aria-label': `${t('common.more')}: ${tr.purpose.statement}` }, t('common.more')),
          ]),
          { numeric: [4] },
        )
      : notice('info', t('trades.empty')),
  );
}

// ── timeline ─────────────────────────────────────────────────────────────────
/** The recorded transitions of the trade (each one is also an event of the audit chain). */
function timeline(tr: TradeDetail): HTMLElement {
  const steps = [
    { at: tr.createdAt, to: 'submitted', actor: tr.buyerUserId, reason: '' },
    ...[...tr.transitions].sort((a, b) => a.at.localeCompare(b.at)).map((x) => ({ at: x.at, to: x.to as string, actor: x.actor, reason: stepReason(x) })),
  ];
  return h(
    'ol',
    { class: 'timeline' },
    steps.map((s, i) =>
      h(
        'li',
        { 'aria-current': i === steps.length - 1 ? 'step' : null },
        h('time', { datetime: s.at }, dateTime(s.at)),
        ' ',
        stateBadge(s.to),
        s.reason ? h('p', { class: 'reason' }, s.reason) : null,
      ),
    ),
  );
}

// ── receipt: pin, verify, download ───────────────────────────────────────────
async function verifyInPage(receipt: unknown): Promise<{ valid: true; fingerprint: string } | { valid: false; reason: string }> {
  const client = buyerClient();
  try {
    const pin = await client.pinEnclave();
    savePin(pin);
    const check = client.verifyReceipt(receipt);
    return check.valid ? { valid: true, fingerprint: pin.fingerprint } : check;
  } catch (e) {
    return { valid: false, reason: errorText(e) };
  }
}

function privacyFacts(p: Record<string, unknown> | undefined): HTMLElement | null {
  if (!p) return null;
  const eps = typeof p.epsilonSpent === 'number' ? p.epsilonSpent : null;
  const left = typeof p.epsilonRemaining === 'number' ? p.epsilonRemaining : null;
  return dl([
    [t('trade.mechanism'), String(p.mechanism ?? '—')],
    [t('offer.minGroup'), String(p.minGroupSize ?? '—')],
    [t('trade.absentGroups'), p.absentGroups === 'none' ? t('trade.absentNone') : p.absentGroups === 'empty-or-withheld' ? t('trade.absentWithheld') : '—'],
    [t('trade.privacy'), eps === null ? '—' : `ε ${num(eps, 3)}`],
    [t('trade.budget'), left === null ? '—' : `ε ${num(left, 3)}`],
  ]);
}

// ── cancel ───────────────────────────────────────────────────────────────────
/** While a trade has not started running its buyer may cancel it; the hold is released. */
function cancelForm(tr: TradeDetail): HTMLElement {
  const reason = h('textarea', { rows: 2, maxlength: 2000, name: 'cancel-reason' });
  const status = h('div', { class: 'cancel-status', 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'danger' }, t('cancel.button'));
  return h(
    'form',
    {
      class: 'cancel-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (!reason.value.trim()) {
          reason.setAttribute('aria-invalid', 'true');
          return replace(status, notice('warn', t('cancel.needReason')));
        }
        btn.disabled = true;
        try {
          await buyerClient().cancel(tr.id, reason.value.trim());
          go(location.hash);
        } catch (err) {
          btn.disabled = false;
          replace(status, errorBox(err));
        }
      },
    },
    h('p', null, t('cancel.explain', { price: yuan(tr.priceFen) })),
    field(t('cancel.reason'), reason),
    h('div', { class: 'actions' }, btn),
    status,
  );
}

export async function tradePage(m: RouteMatch): Promise<Node> {
  const id = m.params[0]!;
  const client = buyerClient();
  const tr = await client.trade(id);
  const me = currentUser();
  const role = me?.user.role ?? 'buyer';
  const [offer, entry] = await Promise.all([
    get<Offer>(`/offers/${tr.offerId}`).catch(() => null),
    get<{ title: string; schema: DatasetSchema }>(`/catalog/${tr.datasetId}`).catch(() => null),
  ]);
  // Receipts go to the buyer only (GET /v1/trades/:id/result is the buyer's).
  const delivered = hasResult(tr.state) && role === 'buyer';
  const names = partyNames(tr, me);

  const ended = isFinal(tr.state) && !hasResult(tr.state);
  let receiptPart: Node = hasResult(tr.state)
    ? notice('ok', t('trade.deliveredToBuyer', { buyer: names.buyer }))
    : notice('info', t(tr.state === 'failed' ? (tr.failure?.code === 'privacy-refused' ? 'trade.noReceiptRefused' : 'trade.noReceiptFailed') : ended ? 'trade.noReceipt' : 'trade.noResult'));
  let resultPart: Node | null = null;
  if (delivered) {
    try {
      const { receipt } = await client.rawResult(id);
      const text = JSON.stringify(receipt, null, 2);
      const payload = JSON.parse(receipt.payload) as Record<string, unknown>;
      const verdict = h('div', { 'aria-live': 'polite', class: 'verdict' }, notice('info', t('common.loading')));
      // The released numbers are shown only once their receipt verified in this page.
      const holder = h('div', { class: 'result-holder' }, section(t('trade.result'), notice('info', t('common.loading'))));
      resultPart = holder;
      const privacy = payload.privacy as Record<string, unknown> | undefined;
      const runVerify = async (): Promise<void> => {
        const v = await verifyInPage(receipt);
        replace(holder, v.valid ? resultSection(t('trade.result'), payload.result, { tradeId: tr.id, schema: entry?.schema ?? null, computation: tr.computation, privacy }) : section(t('trade.result'), notice('error', t('trade.resultWithheld'))));
        replace(verdict, v.valid ? notice('ok', t('trade.verified', { fp: shortHash(v.fingerprint) })) : notice('error', t('trade.invalid', { reason: v.reason })));
        verdict.dataset.verified = String(v.valid);
      };
      receiptPart = h(
        'div',
        null,
        dl([
          [t('common.id'), mono(String(payload.receiptId ?? ''))],
          [t('trade.issuedAt'), dateTime(String(payload.issuedAt ?? ''))],
          [t('trade.computationHash'), mono(String(payload.computationHash ?? ''))],
          [t('trade.signingKey'), mono(String(payload.signingKeyFingerprint ?? ''))],
        ]),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'primary', onclick: () => download(`receipt-${tr.id}.json`, text) }, t('trade.download')),
          h('button', { type: 'button', onclick: () => void runVerify() }, t('trade.verify')),
        ),
        verdict,
        h('h3', null, t('trade.privacyApplied')),
        privacyFacts(privacy),
        h('details', null, h('summary', null, 'receipt.json'), h('pre', { class: 'receipt-json' }, text)),
      );
      void runVerify();
    } catch (e) {
      receiptPart = errorBox(e);
    }
  }

  const cancellable = role === 'buyer' && CANCELLABLE.includes(tr.state);
  return h(
    'div',
    null,
    pageHeader(describeComputation(tr.computation), h('p', { class: 'sub' }, stateBadge(tr.state), ' ', mono(tr.id))),
    outcomeNotice(tr, role, names),
    tr.failure || tr.failureReason ? notice('error', h('strong', null, t('trade.failure')), ': ', failureText(tr)) : null,
    cancellable ? section(t('cancel.title'), cancelForm(tr)) : null,
    h('div', { class: 'two-col' }, section(t('trade.timeline'), timeline(tr)), section(t('trade.receipt'), receiptPart)),
    resultPart,
    h(
      'div',
      { class: 'two-col' },
      section(t('trade.details'), tradeFacts(tr, { offer, datasetTitle: entry?.title ?? null, buyerName: names.buyer, ownerName: names.owner, party: role })),
      section(t('trade.computation'), computationBlock(tr), h('h3', null, t('trade.findings')), findingsBlock(tr)),
    ),
  );
}
