/**
 * The negative list: the version in force, every version published, and what changed between any two
 * (chosen in the page, kept in the address so a comparison can be linked).
 */
import type { PolicyDocument } from '../../client-sdk/sdk/types.js';
import { get } from '../api.js';
import { field, h, table } from '../dom.js';
import { bi, dateTime, t } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { operatorClient } from '../endpoints.js';
import { go, type RouteMatch } from '../router.js';
import { dl, mono, notice, pageHeader, safeT, section } from '../ui.js';
import { isEmpty, policyDiff, type FieldChange } from './operator-policy-diff.js';

interface VersionInfo {
  policyId: string;
  version: number;
  rules: number;
  activatedAt: string;
  active: boolean;
}

type Rule = PolicyDocument['rules'][number];

const effectBadge = (effect: string): HTMLElement => h('span', { class: `badge effect-${effect}` }, safeT(`effect.${effect}` as MessageKey, effect));
const ref = (v: Pick<VersionInfo, 'policyId' | 'version'>): string => `${v.policyId}/${v.version}`;
const label = (v: Pick<VersionInfo, 'policyId' | 'version'>): string => `${v.policyId} v${v.version}`;

function shown(v: unknown): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return v.join(', ') || '—';
  const o = v as { zh?: unknown; en?: unknown };
  if (typeof o.zh === 'string' && typeof o.en === 'string') return bi(o as { zh: string; en: string });
  return JSON.stringify(v);
}

const rulesTable = (caption: string, rules: readonly Rule[]): HTMLElement =>
  table(caption, [t('policy.rule'), t('policy.kind'), t('policy.effect'), t('policy.reason')], rules.map((r) => [mono(r.id), r.kind, effectBadge(r.effect), bi(r.reason)]));

const changesTable = (caption: string, rows: (FieldChange & { id?: string })[]): HTMLElement =>
  table(
    caption,
    [t('policy.rule'), t('pv.field'), t('pv.before'), t('pv.after')],
    rows.map((c) => [c.id ? mono(c.id) : '—', mono(c.field), h('del', null, shown(c.before)), h('ins', null, shown(c.after))]),
  );

async function diffView(from: VersionInfo, to: VersionInfo): Promise<HTMLElement> {
  const [a, b] = await Promise.all([get<PolicyDocument>(`/policy/versions/${from.policyId}/${from.version}`), get<PolicyDocument>(`/policy/versions/${to.policyId}/${to.version}`)]);
  const d = policyDiff(a, b);
  return h(
    'div',
    { class: 'policy-diff', 'data-from': ref(from), 'data-to': ref(to) },
    h('h3', null, t('pv.diffTitle', { from: label(from), to: label(to) })),
    isEmpty(d) ? notice('info', t('pv.same')) : null,
    d.added.length ? [h('h4', null, t('pv.added')), rulesTable(t('pv.added'), d.added)] : null,
    d.removed.length ? [h('h4', null, t('pv.removed')), rulesTable(t('pv.removed'), d.removed)] : null,
    d.changed.length ? [h('h4', null, t('pv.changed')), changesTable(t('pv.changed'), d.changed.flatMap((c) => c.fields.map((f) => ({ ...f, id: c.id }))))] : null,
    d.settings.length ? [h('h4', null, t('pv.settings')), changesTable(t('pv.settings'), d.settings)] : null,
  );
}

export async function policyPage(m: RouteMatch): Promise<Node> {
  const [doc, { items }] = await Promise.all([operatorClient().policy(), get<{ items: VersionInfo[] }>('/policy/versions')]);
  const byRef = new Map(items.map((v) => [ref(v), v]));
  // newest first: by default the version in force against the one before it
  const from = byRef.get(m.query.get('from') ?? '') ?? items[1];
  const to = byRef.get(m.query.get('to') ?? '') ?? items[0];
  const select = (selected: VersionInfo | undefined) => {
    const s = h('select', null, items.map((v) => h('option', { value: ref(v) }, `${label(v)} · ${dateTime(v.activatedAt)}`)));
    if (selected) s.value = ref(selected);
    return s;
  };
  const fromSel = select(from);
  const toSel = select(to);
  const compare = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (e: Event) => {
        e.preventDefault();
        go(`#/operator/policy?${new URLSearchParams({ from: fromSel.value, to: toSel.value }).toString()}`);
      },
    },
    field(t('pv.from'), fromSel),
    field(t('pv.to'), toSel),
    h('button', { type: 'submit', class: 'primary' }, t('pv.show')),
  );
  return h(
    'div',
    null,
    pageHeader(t('policy.title')),
    section(
      `${bi(doc.title)} · ${t('policy.version')} ${doc.version}`,
      h('p', null, h('span', { class: 'badge ok' }, t('policy.active')), ' ', mono(doc.policyId)),
      dl([
        [t('policy.version'), String(doc.version)],
        [t('policy.autoApprove'), doc.autoApprove.enabled ? `${t('common.yes')} (≤ L${doc.autoApprove.maxLevel})` : t('common.no')],
        [t('policy.rules'), String(doc.rules.length)],
      ]),
      rulesTable(t('policy.rules'), doc.rules),
    ),
    section(
      t('pv.versions'),
      table(
        t('pv.versions'),
        [t('pv.version'), t('pv.rules'), t('pv.activatedAt'), ''],
        items.map((v) => [label(v), String(v.rules), dateTime(v.activatedAt), v.active ? h('span', { class: 'badge ok' }, t('policy.active')) : '']),
        { numeric: [1] },
      ),
    ),
    section(t('pv.compare'), items.length < 2 || !from || !to ? notice('info', t('pv.single')) : [compare, await diffView(from, to)]),
  );
}
