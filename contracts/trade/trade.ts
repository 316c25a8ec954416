import type { Computation } from '../computation.js';
import type { Evaluation } from '../policy/schema.js';
import type { SignedApproval } from '../review/approval.js';
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
  screening: Evaluation | null;
  approval: SignedApproval | null;
  reviewerId: string | null;
  failureReason: string | null;
  /** What delivery produced, e.g. { receiptId } — set by `deliver`. */
  result: Record<string, unknown> | null;
  /** The deadline of the current state (review deadline, then the approval's expiry); null once executing. */
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One recorded step of a trade: who moved it, when, and why. */
export interface TradeTransition {
  tradeId: string;
  from: TradeState;
  to: TradeState;
  actor: string;
  reason: string;
  at: string;
}
