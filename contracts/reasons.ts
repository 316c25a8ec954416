/**
 * Reason codes: the stable names of every reason a trade, its money or its screening gives people. The text
 * of each (Chinese and English) lives in the message catalogue formats/messages.ts, which must have a
 * template for every code listed here (its tables are typed by these unions, so a missing one fails the
 * type check). Parameters are data: amounts in fen, ids, names, codes.
 */

export type ReasonParam = string | number | boolean | null | { zh: string; en: string } | readonly (string | number)[];
export type ReasonParams = Record<string, ReasonParam>;

export interface Reason<C extends string = string> {
  code: C;
  params: ReasonParams;
}

/** A trade's timeline step (TradeTransition.code). */
export const TRADE_REASON_CODES = [
  'trade.screened',
  'trade.screened-clean',
  'trade.denied',
  'trade.review-required',
  'trade.review-always',
  'trade.auto-approved',
  'trade.reviewer-approved',
  'trade.reviewer-rejected',
  'trade.execution-started',
  'trade.delivered',
  'trade.settled',
  'trade.failed',
  'trade.refused-for-privacy',
  'trade.cancelled',
  'trade.cancelled-with-reason',
  'trade.expired',
  'trade.note',
] as const;
export type TradeReasonCode = (typeof TRADE_REASON_CODES)[number];

/** Why a trade failed (Trade.failure.message). */
export const FAILURE_CODES = ['failure.privacy-refused', 'failure.execution-failed'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

/** A ledger posting's memo (LedgerTransaction.code). */
export const LEDGER_MEMO_CODES = [
  'ledger.top-up',
  'ledger.top-up-memo',
  'ledger.hold',
  'ledger.release-denied',
  'ledger.release-rejected',
  'ledger.release-failed',
  'ledger.release-cancelled',
  'ledger.release-expired',
  'ledger.capture',
  'ledger.refusal-charge',
  'ledger.note',
] as const;
export type LedgerMemoCode = (typeof LEDGER_MEMO_CODES)[number];

/** A negative-list finding (Finding.code): the rule denies, asks for review, or the purpose statement was flagged. */
export const FINDING_CODES = ['negative-list.deny', 'negative-list.review', 'negative-list.statement-flagged'] as const;
export type FindingCode = (typeof FINDING_CODES)[number];
