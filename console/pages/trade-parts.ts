/** Pieces of a trade shown both to its reviewer and to its buyer. */
import type { Finding } from '../../contracts/policy/schema.js';
import { canonicalJson } from '../../crypto/index.js';
import { h, table } from '../dom.js';
import { bi, dateTime, num, t, yuan } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { describeComputation } from '../computation.js';
import type { Offer, Trade } from '../endpoints.js';
import { dl, mono, notice, safeT, shortHash, stateBadge } from '../ui.js';

export function computationBlock(tr: Trade, opts: { open?: boolean } = {}): HTMLElement {
  return h(
    'div',
    { class: 'computation' },
    h('p', { class: 'readable' }, describeComputation(tr.computation)),
    tr.computation.kind === 'sql' ? h('pre', { class: 'sql' }, tr.computation.query) : null,
    h('details', { open: opts.open ?? false }, h('summary', null, 'JSON'), h('pre', null, JSON.stringify(JSON.parse(canonicalJson(tr.computation)), null, 2))),
  );
}

export function findingsBlock(tr: Trade): HTMLElement {
  const ev = tr.screening;
  if (!ev) return notice('info', t('common.none'));
  const policy = typeof ev.policyId === 'string' ? ` · ${ev.policyId} v${String(ev.policyVersion ?? '')}` : '';
  const decision = h('p', null, t('trade.decision'), ': ', h('span', { class: `badge decision-${ev.decision}` }, safeT(`decision.${ev.decision}` as MessageKey, ev.decision)), policy);
  if (!ev.findings.length) return h('div', null, decision, notice('ok', t('trade.noFindings')));
  return h(
    'div',
    null,
    decision,
    table(
      t('trade.findings'),
      [t('trade.rule'), t('trade.effect'), t('trade.reason'), t('trade.detail')],
      ev.findings.map((f: Finding) => [
        mono(f.ruleId),
        h('span', { class: `badge effect-${f.effect}` }, safeT(`effect.${f.effect}` as MessageKey, f.effect)),
        bi(f.reason),
        h('small', null, Object.entries(f.detail).filter(([, v]) => !(Array.isArray(v) && v.length === 0) && v !== null && v !== '').map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('; ')),
      ]),
      { className: 'findings' },
    ),
  );
}

/** ε is carried in thousandths (contracts/pricing epsilonToMilli). */
export const epsilon = (milli: number): string => num(milli / 1000, 3);

/**
 * The buyer's ε budget on this dataset: the total from the offer's terms, the remaining part when the
 * server reports it (`privacyBudget.remainingEpsilon` on a review case), else what is left after this trade at most.
 */
export function budgetText(tr: Trade, offer: Offer | null, remaining: number | null): string {
  const total = offer?.terms.epsilonBudgetPerBuyer;
  if (remaining !== null) return total === undefined ? `ε ${num(remaining, 3)}` : t('trade.budgetOf', { left: `ε ${num(remaining, 3)}`, total: `ε ${num(total, 3)}` });
  if (total === undefined) return '—';
  return t('trade.budgetTotal', { total: `ε ${num(total, 3)}`, after: `ε ${num(Math.max(0, total - tr.epsilonMilli / 1000), 3)}` });
}

export interface TradeFactsExtra {
  buyerName?: string | null;
  datasetTitle?: string | null;
  offer?: Offer | null;
  remainingEpsilon?: number | null;
}

export function tradeFacts(tr: Trade, x: TradeFactsExtra = {}): HTMLElement {
  return dl([
    [t('trade.state'), stateBadge(tr.state)],
    [t('trade.buyer'), x.buyerName ?? mono(tr.buyerOrgId)],
    [t('trade.purpose'), h('span', null, mono(tr.purpose.code), ' ', tr.purpose.statement)],
    [t('trade.dataset'), h('a', { href: `#/datasets/${tr.datasetId}` }, x.datasetTitle ?? shortHash(tr.datasetId))],
    [t('trade.offer'), `${x.offer?.title ?? shortHash(tr.offerId)} · ${t('offer.version', { v: tr.offerVersion })}`],
    [t('trade.destination'), tr.destination],
    [t('trade.price'), h('span', null, h('strong', null, yuan(tr.priceFen)), ` (${t('trade.ownerShare')} ${yuan(tr.ownerShareFen)} · ${t('trade.fee')} ${yuan(tr.platformFeeFen)})`)],
    [t('trade.privacy'), `${t('trade.epsilon', { e: epsilon(tr.epsilonMilli) })} · ${t('trade.minGroup', { n: tr.minGroupSize })}`],
    [t('trade.budget'), budgetText(tr, x.offer ?? null, x.remainingEpsilon ?? null)],
    [t('trade.rows'), num(tr.rows)],
    [t('trade.submitted'), dateTime(tr.createdAt)],
    [t('trade.computationHash'), mono(tr.computationHash)],
  ]);
}
