import { DomainError } from '../errors.js';

/**
 * The trade lifecycle as ONE transition table (DESIGN.md "Trade"):
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

/** States in which the buyer's money is held in escrow. */
export const HOLDING_STATES: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered'];

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
