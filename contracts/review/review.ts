import { z } from 'zod';
import { DomainError } from '../errors.js';
import { SignedApproval } from './approval.js';

/** A reviewer's recorded decision on one trade. */
export interface Review {
  id: string;
  tradeId: string;
  reviewerId: string;
  reviewerOrgId: string;
  decision: 'approve' | 'reject';
  reason: string;
  approval: SignedApproval | null;
  decidedAt: string;
}

/** What a reviewer sends: approve needs the signed approval statement; reject needs only the reason. */
export const ReviewDecisionInput = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), reason: z.string().trim().min(4).max(2000), approval: SignedApproval }).strict(),
  z.object({ decision: z.literal('reject'), reason: z.string().trim().min(4).max(2000) }).strict(),
]);
export type ReviewDecisionInput = z.infer<typeof ReviewDecisionInput>;

export interface Reviewer {
  userId: string;
  orgId: string;
}

/**
 * Separation of duties: nobody from the buyer's or the owner's organisation reviews the trade,
 * and nobody reviews a trade they submitted themselves.
 */
export function assertMayReview(reviewer: Reviewer, trade: { id: string; buyerOrgId: string; ownerOrgId: string; buyerUserId: string }): void {
  if (reviewer.userId === trade.buyerUserId) {
    throw new DomainError('separation-of-duties', 'a reviewer cannot review their own trade', { tradeId: trade.id });
  }
  if (reviewer.orgId === trade.buyerOrgId) {
    throw new DomainError('separation-of-duties', "a reviewer from the buyer's organisation cannot review this trade", { tradeId: trade.id });
  }
  if (reviewer.orgId === trade.ownerOrgId) {
    throw new DomainError('separation-of-duties', "a reviewer from the data owner's organisation cannot review this trade", { tradeId: trade.id });
  }
}

/** Default cap on how long an approval stays valid after the decision (Context `approvalMaxValidityMs`). */
export const DEFAULT_APPROVAL_MAX_VALIDITY_MS = 7 * 86_400_000;

/**
 * The latest moment a trade may still start running: the cap after `now`, and never past the offer's own
 * validity (a trade cannot outlive the terms it was bought under).
 */
export function latestTradeDeadline(now: Date, offerValidUntil: string | undefined, capMs: number): Date {
  return new Date(Math.min(now.getTime() + capMs, offerValidUntil ? Date.parse(offerValidUntil) : Infinity));
}

/**
 * Approvals are bounded: an approval whose `expiresAt` lies beyond the cap after the decision, or beyond the
 * offer's `validUntil`, is refused (`approval-validity-too-long`) rather than shortened, so the signed statement
 * the enclave checks never claims more time than the trade has. The detail names the latest acceptable expiry.
 */
export function assertApprovalValidity(statement: { expiresAt: string }, now: Date, offerValidUntil: string | undefined, capMs: number): void {
  const latest = latestTradeDeadline(now, offerValidUntil, capMs);
  if (Date.parse(statement.expiresAt) > latest.getTime()) {
    throw new DomainError(
      'approval-validity-too-long',
      `an approval may be valid until ${latest.toISOString()} at the latest (at most ${Math.round(capMs / 3_600_000)} h after the decision${offerValidUntil ? `, and not past the offer's validity ${offerValidUntil}` : ''})`,
      { expiresAt: statement.expiresAt, maxExpiresAt: latest.toISOString(), maxValidityMs: capMs, ...(offerValidUntil ? { offerValidUntil } : {}) },
    );
  }
}
