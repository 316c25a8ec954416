import { DomainError } from '../errors.js';

/**
 * The trade lifecycle as ONE transition table:
 *   submitted → screened → under_review → approved | rejected → executing → delivered | failed,
 *   delivered → settled, plus cancelled (by the buyer before execution) and expired (a deadline
 *   passed before execution). Anything not in TRANSITIONS is refused with DomainError('illegal-transition').
 */
export const TRADE_STATES = [
  'submitted',
  'screened',
  'under_review',
  'approved',
  'rejected',
  'executing',
  'delivered',
  'failed',
  'settled',
  'cancelled',
  'expired',
] as const;
export type TradeState = (typeof TRADE_STATES)[number];

export const TRANSITIONS: Readonly<Record<TradeState, readonly TradeState[]>> = {
  submitted: ['screened', 'cancelled', 'expired'],
  // A negative-list deny rejects straight from screening; a policy allowing auto-approval approves.
  screened: ['under_review', 'rejected', 'approved', 'cancelled', 'expired'],
  under_review: ['approved', 'rejected', 'cancelled', 'expired'],
  approved: ['executing', 'cancelled', 'expired'],
  rejected: [],
  executing: ['delivered', 'failed'],
  delivered: ['settled'],
  failed: [],
  settled: [],
  cancelled: [],
  expired: [],
};

export const TERMINAL_STATES: readonly TradeState[] = TRADE_STATES.filter((s) => TRANSITIONS[s].length === 0);

/** States in which the buyer's money is held in escrow: from submission until the trade settles or ends. */
export const HOLDING_STATES: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered'];

/** States in which the enclave has released a result and the buyer can fetch its signed receipt. */
export const RESULT_STATES: readonly TradeState[] = ['delivered', 'settled'];

/**
 * States after which a trade changes no more by itself and has nothing left to run: the terminal ones, and
 * delivered (settlement follows in the same step, so a waiting buyer or a job stops there too).
 */
export const FINAL_STATES: readonly TradeState[] = [...RESULT_STATES, ...TERMINAL_STATES.filter((s) => !RESULT_STATES.includes(s))];

/** The trade is over: a buyer stops waiting, a job stops running. */
export const isFinal = (state: TradeState): boolean => FINAL_STATES.includes(state);
/** The buyer's price is held in escrow for this trade. */
export const holdsMoney = (state: TradeState): boolean => HOLDING_STATES.includes(state);
/** The trade delivered a result (a signed receipt exists). */
export const hasResult = (state: TradeState): boolean => RESULT_STATES.includes(state);

export const canTransition = (from: TradeState, to: TradeState): boolean => TRANSITIONS[from].includes(to);

export function assertTransition(tradeId: string, from: TradeState, to: TradeState): void {
  if (!canTransition(from, to)) {
    throw new DomainError('illegal-transition', `a trade in state ${from} cannot become ${to}`, {
      tradeId,
      from,
      to,
      allowed: TRANSITIONS[from],
    });
  }
}
