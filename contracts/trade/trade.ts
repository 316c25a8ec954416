import type { Computation } from '../computation.js';
import type { Evaluation } from '../policy/schema.js';
import type { ApprovedPrivacyTerms, SignedApproval } from '../review/approval.js';
import type { FailureCode, ReasonParams, TradeReasonCode } from '../reasons.js';
import type { TradeState } from './states.js';

/**
 * A trade: one buyer's request for one computation under one offer version, priced by one quote.
 * Absent values are null (never undefined) because trades go into canonical JSON audit events.
 */
export interface Trade {
  id: string;
  state: TradeState;
  quoteId: string;
  offerId: string;
  offerVersion: number;
  datasetId: string;
  datasetCommitment: string;
  ownerOrgId: string;
  buyerOrgId: string;
  buyerUserId: string;
  computation: Computation;
  /** sm3 hex of canonicalJson(computation) — what the reviewer approves and the receipt names. */
  computationHash: string;
  /** For sql: the columns the enclave's validator reported (screening used them). */
  columnsUsed: string[] | null;
  purpose: { code: string; statement: string };
  destination: string;
  /** ε this trade spends (the offer's ε per query), in thousandths, and the rows it was priced on. */
  epsilonMilli: number;
  rows: number;
  minGroupSize: number;
  priceFen: number;
  ownerShareFen: number;
  platformFeeFen: number;
  /** What a privacy refusal of this trade costs the buyer (⌊price × offer refusalFeeBps / 10000⌋, as quoted). */
  refusalChargeFen: number;
  /** The privacy terms the trade runs under and a reviewer approves (approval v2); null on trades recorded before. */
  privacyTerms: ApprovedPrivacyTerms | null;
  screening: Evaluation | null;
  approval: SignedApproval | null;
  reviewerId: string | null;
  failureReason: string | null;
  /** Why it failed, for machines: a privacy refusal carries the enclave's refusal type and its parameters. */
  failure: TradeFailure | null;
  /** What delivery produced, e.g. { receiptId } — set by `deliver`. */
  result: Record<string, unknown> | null;
  /** The deadline of the current state (review deadline, then the approval's expiry); null once executing. */
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One recorded step of a trade: who moved it, when, and why (English text, and as a code with parameters). */
export interface TradeTransition {
  tradeId: string;
  from: TradeState;
  to: TradeState;
  actor: string;
  reason: string;
  code: TradeReasonCode;
  params: ReasonParams;
  at: string;
}

/** A failed trade's machine-readable reason. */
export interface TradeFailure {
  /** 'privacy-refused': the enclave refused for privacy and the refusal charge was taken; 'execution-failed': nothing was taken */
  code: 'privacy-refused' | 'execution-failed';
  /** the enclave's refusal type, e.g. privacy-differencing-refused */
  type: string;
  params: Record<string, unknown>;
  chargedFen: number;
  /** The reason as a catalogue code with parameters (formats/messages.ts); absent on trades failed before codes. */
  message?: { code: FailureCode; params: ReasonParams };
}

/**
 * Refusals for privacy that are charged as the quote states: every `privacy-*` refusal of the enclave except
 * the ones that are the platform's own state or integrity, not the buyer's request.
 */
const NOT_CHARGED = new Set([
  'privacy-row-map-missing',
  'privacy-row-map-mismatch',
  'privacy-differencing-state',
  'privacy-charge-conflict',
  'privacy-invalid-parameter',
  'privacy-invalid-policy',
  'privacy-internal',
  // the joint history grew past what the guard enumerates: decided from the released queries, not the data
  'privacy-history-too-complex',
  // an exact release under another per-person row cap than the version's first: decided from the terms alone
  'privacy-row-cap-conflict',
]);
export const isChargedPrivacyRefusal = (type: string): boolean => type.startsWith('privacy-') && !NOT_CHARGED.has(type);

/** The trade's refusal charge (set at submit: refusalChargeOf, pricing/price.ts) split owner/platform as its price is. */
export function refusalCharge(t: Pick<Trade, 'priceFen' | 'ownerShareFen' | 'platformFeeFen' | 'refusalChargeFen'>): { chargeFen: number; ownerShareFen: number; platformFeeFen: number } {
  const chargeFen = Math.min(t.refusalChargeFen ?? t.priceFen, t.priceFen);
  const platformFeeFen = t.priceFen > 0 ? Math.floor((chargeFen * t.platformFeeFen) / t.priceFen) : 0;
  return { chargeFen, ownerShareFen: chargeFen - platformFeeFen, platformFeeFen };
}
