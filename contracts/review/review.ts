import { z } from 'zod';
import { DomainError } from '../errors.js';
import type { Trade } from '../trade/trade.js';
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
export function assertMayReview(reviewer: Reviewer, trade: Pick<Trade, 'id' | 'buyerOrgId' | 'ownerOrgId' | 'buyerUserId'>): void {
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
