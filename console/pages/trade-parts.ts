/** Pieces of a trade shown to its reviewer, its buyer and its owner, each in their own terms. */
import type { Finding } from '../../contracts/policy/schema.js';
import type { TradeState } from '../../contracts/trade/states.js';
import { hasResult, holdsMoney, isFinal } from '../../contracts/trade/states.js';
import { canonicalJson } from '../../crypto/index.js';
import { isMessageCode, render, type MessageParams } from '../../formats/messages.js';
import { h, table } from '../dom.js';
import { bi, dateTime, lang, num, t, yuan } from '../i18n.js';
import type { Me } from '../session.js';
import { purposeName } from './purposes.js';
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
  if (total === 0) return t('trade.budgetExact');
  return t('trade.budgetTotal', { total: `ε ${num(total, 3)}`, after: `ε ${num(Math.max(0, total - tr.epsilonMilli / 1000), 3)}` });
}

export interface TradeFactsExtra {
  buyerName?: string | null;
  ownerName?: string | null;
  /** whose terms the money is stated in (the owner's revenue, the buyer's payment) */
  party?: Party;
  datasetTitle?: string | null;
  offer?: Offer | null;
  remainingEpsilon?: number | null;
}

export function tradeFacts(tr: Trade, x: TradeFactsExtra = {}): HTMLElement {
  return dl(([
    [t('trade.state'), stateBadge(tr.state)],
    [t('trade.buyer'), x.buyerName ?? mono(tr.buyerOrgId)],
    x.ownerName ? [t('trade.owner'), x.ownerName] : null,
    [t('trade.purpose'), h('span', null, h('strong', null, purposeName(tr.purpose.code)), ' ', mono(tr.purpose.code), ' ', tr.purpose.statement)],
    [t('trade.dataset'), h('a', { href: `#/datasets/${tr.datasetId}` }, x.datasetTitle ?? shortHash(tr.datasetId))],
    [t('trade.offer'), `${x.offer?.title ?? shortHash(tr.offerId)} · ${t('offer.version', { v: tr.offerVersion })}`],
    [t('trade.destination'), tr.destination],
    // a trade that ended without a result shows what was quoted, not a split of money that never moved
    isFinal(tr.state) && !hasResult(tr.state)
      ? [t('trade.quotedPrice'), h('strong', null, yuan(tr.priceFen))]
      : [t('trade.price'), h('span', null, h('strong', null, yuan(tr.priceFen)), ` (${t('trade.ownerShare')} ${yuan(tr.ownerShareFen)} · ${t('trade.fee')} ${yuan(tr.platformFeeFen)})`)],
    [t('trade.money'), h('span', { class: 'money-state' }, moneyText(tr, x.party ?? 'buyer'))],
    [t('trade.privacy'), `${t('trade.epsilon', { e: epsilon(tr.epsilonMilli) })} · ${t('trade.minGroup', { n: tr.minGroupSize })}`],
    [t('trade.budget'), budgetText(tr, x.offer ?? null, x.remainingEpsilon ?? null)],
    [t('trade.rows'), num(tr.rows)],
    [t('trade.submitted'), dateTime(tr.createdAt)],
    [t('trade.computationHash'), mono(tr.computationHash)],
  ] as ([string, HTMLElement | string] | null)[]).filter((x): x is [string, HTMLElement | string] => x !== null));
}

// ── what happened, in each party's terms ─────────────────────────────────────

/** States in which the buyer may still cancel (nothing has run yet). */
export const CANCELLABLE: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved'];

type Party = 'buyer' | 'owner' | 'reviewer' | 'operator';

/** The organisations by name: the signed-in one's own, the other from the trade when the server names it. */
export function partyNames(tr: Trade, me: Me | null): { buyer: string; owner: string } {
  const named = tr as Trade & { buyerOrgName?: string; ownerOrgName?: string };
  const pick = (orgId: string, name: string | undefined) => (me?.org.id === orgId ? me.org.name : name || shortHash(orgId));
  return { buyer: pick(tr.buyerOrgId, named.buyerOrgName), owner: pick(tr.ownerOrgId, named.ownerOrgName) };
}

const refusal = (tr: Trade): { chargedFen: number } | null => (tr.failure?.code === 'privacy-refused' ? { chargedFen: tr.failure.chargedFen } : null);

/** What the trade did with the buyer's money (never "paid" unless a result was delivered). */
export function moneyText(tr: Trade, party: Party = 'buyer'): string {
  const price = yuan(tr.priceFen);
  if (hasResult(tr.state)) return party === 'owner' ? t('money.earned', { share: yuan(tr.ownerShareFen) }) : t('money.paid', { price });
  const r = refusal(tr);
  if (r && r.chargedFen > 0) return t('money.refusalCharged', { charge: yuan(r.chargedFen), returned: yuan(tr.priceFen - r.chargedFen) });
  if (holdsMoney(tr.state)) return t('money.held', { price });
  return t('money.returned', { price });
}

/** One sentence saying what happened to the trade, for the party looking at it. */
export function outcomeNotice(tr: Trade, party: Party, names: { buyer: string; owner: string }): HTMLElement {
  const price = yuan(tr.priceFen);
  const asBuyer = party === 'buyer';
  const r = refusal(tr);
  let key: string;
  let kind: 'ok' | 'info' | 'warn' | 'error' = 'info';
  const vars: Record<string, string> = { price, buyer: names.buyer, owner: names.owner, share: yuan(tr.ownerShareFen) };
  if (hasResult(tr.state)) {
    key = tr.state === 'settled' ? 'settled' : 'delivered';
    kind = 'ok';
  } else if (tr.state === 'executing') key = 'executing';
  else if (holdsMoney(tr.state)) key = 'waiting';
  else if (tr.state === 'rejected') {
    key = tr.screening?.decision === 'deny' ? 'denied' : 'rejected';
    kind = 'warn';
  } else if (r) {
    key = r.chargedFen > 0 ? 'refusedCharged' : 'refusedFree';
    vars.charge = yuan(r.chargedFen);
    vars.returned = yuan(tr.priceFen - r.chargedFen);
    kind = 'warn';
  } else if (tr.state === 'failed') {
    key = 'failed';
    kind = 'error';
  } else key = tr.state; // cancelled, expired
  const text = t(`outcome.${asBuyer ? 'buyer' : 'owner'}.${key}` as MessageKey, vars);
  return h('div', { class: `notice ${kind} outcome`, role: 'status', 'data-outcome': key }, text);
}

/** A timeline step's reason: the catalogue's sentence for its code when it has one, else its recorded text. */
export function stepReason(x: { reason: string; code?: string; params?: unknown }): string {
  return x.code && isMessageCode(x.code) ? render(x.code, (x.params ?? {}) as MessageParams, lang()) : x.reason;
}

/** Why a trade failed, in the reader's language when the failure carries a code. */
export function failureText(tr: Trade): string {
  const f = tr.failure as (Trade['failure'] & { message?: { code: string; params: unknown } }) | null | undefined;
  if (f?.message && isMessageCode(f.message.code)) return render(f.message.code, f.message.params as MessageParams, lang());
  if (f && isMessageCode(`failure.${f.code}`)) return render(`failure.${f.code}`, { ...(f.params as MessageParams), type: f.type, chargedFen: f.chargedFen }, lang());
  return tr.failureReason ?? '';
}
