import type { Computation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import { approvalStatementFor, ApprovedPrivacyTerms, signApproval } from '../../contracts/review/approval.js';
import { computationHash } from '../../contracts/computation.js';
import { sm2Fingerprint, sm2PublicFromPrivate } from '../../crypto/index.js';
import { ShuyuClient } from './client.js';
import type { Page, ReviewCase, Trade } from './types.js';

/**
 * The compliance reviewer: the queue, a trade's case (negative-list findings, price, privacy cost,
 * purpose), approvals signed locally with the reviewer's SM2 key (signApproval — the key never
 * leaves this machine), and rejections with a reason.
 */
export class ReviewerClient extends ShuyuClient {
  queue(query: { cursor?: string; limit?: number } = {}): Promise<Page<Trade>> {
    return this.http.get<Page<Trade>>('/reviews', query);
  }

  case(tradeId: string): Promise<ReviewCase> {
    return this.http.get<ReviewCase>(`/reviews/${tradeId}`);
  }

  /**
   * Builds the approval statement from the case and signs it. The computation hash is recomputed
   * here from the computation shown, so a server cannot get an approval for something else.
   */
  static approvalFor(c: ReviewCase, reviewerPrivateKey: Uint8Array, opts: { validHours?: number; now?: Date } = {}): ReturnType<typeof signApproval> {
    const t = c.trade;
    const hash = computationHash(t.computation as Computation);
    if (hash !== t.computationHash) {
      throw new DomainError('case-inconsistent', `the case's computation hashes to ${hash}, not the ${t.computationHash} it claims`);
    }
    const fp = sm2Fingerprint(sm2PublicFromPrivate(reviewerPrivateKey));
    const registered = c.approvalTemplate.reviewerKeyFingerprint;
    if (registered !== fp) {
      throw new DomainError('key-mismatch', `this key (${fp.slice(0, 16)}…) is not the one registered for you (${String(registered).slice(0, 16)}…)`);
    }
    const now = opts.now ?? new Date();
    const template = c.approvalTemplate as Record<string, unknown>;
    // the template must describe the trade the reviewer was shown, field by field
    const shown = { ...t, tradeId: t.id } as Record<string, unknown>;
    for (const k of ['tradeId', 'datasetId', 'datasetCommitment', 'buyerOrgId', 'buyerUserId', 'offerId', 'offerVersion'] as const) {
      if (template[k] !== shown[k]) throw new DomainError('case-inconsistent', `the approval template's ${k} differs from the trade's`);
    }
    // v2: the privacy terms the reviewer approves with the trade (shown in the case)
    const privacy = template.type === 'shuyu.approval.v2' ? ApprovedPrivacyTerms.parse(template.privacy) : null;
    const statement = approvalStatementFor(
      {
        trade: { ...t, computationHash: hash },
        privacy,
        reviewerId: String(template.reviewerId),
        reviewerKeyFingerprint: fp,
      },
      { decidedAt: new Date(now.getTime() - 1000).toISOString(), expiresAt: new Date(now.getTime() + (opts.validHours ?? 24) * 3_600_000).toISOString() },
    );
    return signApproval(statement, reviewerPrivateKey);
  }

  async approve(tradeId: string, reviewerPrivateKey: Uint8Array, reason: string, opts: { validHours?: number } = {}): Promise<Trade> {
    const approval = ReviewerClient.approvalFor(await this.case(tradeId), reviewerPrivateKey, opts);
    return this.http.post<Trade>(`/reviews/${tradeId}/decision`, { decision: 'approve', reason, approval });
  }

  reject(tradeId: string, reason: string): Promise<Trade> {
    return this.http.post<Trade>(`/reviews/${tradeId}/decision`, { decision: 'reject', reason });
  }
}
