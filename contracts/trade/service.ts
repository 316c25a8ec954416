import { canonicalJson } from '../../crypto/index.js';
import { Computation } from '../computation.js';
import type { Actor, BuyerRef, Context, DatasetRef } from '../context.js';
import { DomainError } from '../errors.js';
import { newId } from '../ids.js';
import { evaluateTrade } from '../policy/evaluate.js';
import { refusalChargeOf } from '../pricing/price.js';
import { quoteSignatureValid } from '../pricing/quote.js';
import { approvedPrivacyTerms, privacyTermsFor, privacyTermsMismatch, verifyApproval } from '../review/approval.js';
import { computationHash } from '../computation.js';
import { assertApprovalValidity, assertMayReview, latestTradeDeadline, ReviewDecisionInput, type Review } from '../review/review.js';
import { parseOrThrow } from '../validate.js';
import { admit } from './admission.js';
import { assertTransition, type TradeState } from './states.js';
import type { LedgerMemoCode, Reason, TradeReasonCode } from '../reasons.js';
import { refusalCharge, type Trade, type TradeFailure } from './trade.js';
import { z } from 'zod';

export const SubmitRequest = z
  .object({
    quote: z.unknown(),
    computation: Computation,
    columnsUsed: z.array(z.string()).max(64).optional(),
  })
  .strict();

/** States a trade can expire from: everything before execution starts. */
const EXPIRABLE: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved'];

/**
 * The trade lifecycle services. Each public method is ONE store transaction that changes the trade
 * through the transition table, records the transition (who, when, why), appends the audit events
 * and moves the money the step implies (and, on approval, queues the execution job) — so they all
 * commit together or not at all.
 */
export class TradeService {
  constructor(private readonly ctx: Context) {}

  async get(tradeId: string): Promise<Trade> {
    const t = await this.ctx.store.trades.get(tradeId);
    if (!t) throw new DomainError('not-found', 'no such trade', { tradeId });
    return t;
  }

  /**
   * Moves a trade through one transition of the table (inside the caller's transaction). `reason` is the English
   * text older clients read; `why` the same as a catalogue code with parameters.
   */
  private async move(trade: Trade, to: TradeState, actor: string, reason: string, why: Reason<TradeReasonCode>, patch: Partial<Trade> = {}): Promise<Trade> {
    assertTransition(trade.id, trade.state, to);
    const at = this.ctx.nowIso();
    const next: Trade = { ...trade, ...patch, state: to, updatedAt: at };
    if (!await this.ctx.store.trades.update(next, trade.state)) {
      throw new DomainError('conflict', 'the trade changed meanwhile; reload it and retry', { tradeId: trade.id });
    }
    await this.ctx.store.trades.appendTransition({ tradeId: trade.id, from: trade.state, to, actor, reason, code: why.code, params: why.params, at });
    // Every way into `approved` (a reviewer, auto-approval) queues the execution in this same transaction.
    if (to === 'approved') await this.ctx.store.jobs.enqueue(trade.id, at);
    await this.ctx.audit.append({ actor, entityType: 'trade', entityId: trade.id, action: `trade.${to}`, data: { from: trade.state, to, reason } });
    return next;
  }

  private async release(trade: Trade, actor: string, memo: string, code: LedgerMemoCode): Promise<void> {
    await this.ctx.ledger.release({ tradeId: trade.id, buyerOrgId: trade.buyerOrgId, actor, memo, code });
  }

  /**
   * Submits a quoted computation: checks the quote (platform signature, issued here, unexpired,
   * for this buyer and exactly this computation), the offer terms again, holds the price, then
   * screens with the negative list: deny → rejected and released; review or allow → under_review,
   * or approved when the policy allows auto-approval. Resubmitting the same quote returns the
   * same trade (idempotent).
   */
  async submit(args: { request: unknown; dataset: DatasetRef; buyer: BuyerRef }): Promise<Trade> {
    const req = parseOrThrow(SubmitRequest, args.request, 'invalid-request');
    if (!quoteSignatureValid(req.quote, this.ctx.signer.publicKeyPem)) throw new DomainError('invalid-quote', 'the quote is malformed or its signature does not verify');
    const q = req.quote.statement;
    const stored = await this.ctx.store.quotes.get(q.quoteId);
    if (!stored || canonicalJson(stored) !== canonicalJson(req.quote)) throw new DomainError('invalid-quote', 'this quote was not issued here');
    if (q.buyerOrgId !== args.buyer.orgId || q.buyerUserId !== args.buyer.userId) throw new DomainError('invalid-quote', 'the quote was issued to another buyer');
    const existing = await this.ctx.store.trades.getByQuote(q.quoteId);
    if (existing) return existing;
    const now = this.ctx.clock.now();
    if (now.getTime() >= Date.parse(q.expiresAt)) throw new DomainError('quote-expired', 'the quote has expired; ask for a new one', { expiresAt: q.expiresAt });
    if (computationHash(req.computation) !== q.computationHash) throw new DomainError('quote-mismatch', 'the computation differs from the quoted one');
    if (q.datasetId !== args.dataset.id || q.datasetCommitment !== args.dataset.commitment) {
      throw new DomainError('quote-mismatch', 'the dataset changed since the quote was issued');
    }
    const offer = await this.ctx.store.offers.get(q.offerId, q.offerVersion);
    const latest = await this.ctx.store.offers.get(q.offerId);
    if (!offer || !latest) throw new DomainError('invalid-quote', 'the quoted offer does not exist');
    if (latest.status !== 'active') throw new DomainError('offer-withdrawn', 'this offer has been withdrawn since the quote');

    const policy = await this.ctx.policy();
    return this.ctx.store.transaction(async () => {
      const raced = await this.ctx.store.trades.getByQuote(q.quoteId); // another process submitted it meanwhile
      if (raced) return raced;
      await admit(this.ctx, { offer, dataset: args.dataset, computation: req.computation, columnsUsed: req.columnsUsed, buyerOrgId: q.buyerOrgId, purpose: q.purpose, destination: q.destination });
      const at = now.toISOString();
      let trade: Trade = {
        id: newId(),
        state: 'submitted',
        quoteId: q.quoteId,
        offerId: q.offerId,
        offerVersion: q.offerVersion,
        datasetId: q.datasetId,
        datasetCommitment: q.datasetCommitment,
        ownerOrgId: offer.ownerOrgId,
        buyerOrgId: q.buyerOrgId,
        buyerUserId: q.buyerUserId,
        computation: req.computation,
        computationHash: q.computationHash,
        columnsUsed: req.columnsUsed ?? null,
        purpose: q.purpose,
        destination: q.destination,
        epsilonMilli: q.epsilonMilli,
        rows: q.rows,
        minGroupSize: offer.terms.minGroupSize,
        priceFen: q.priceFen,
        ownerShareFen: q.ownerShareFen,
        platformFeeFen: q.platformFeeFen,
        // as the quote states it; quotes that do not state it are charged by the offer's fee
        refusalChargeFen: (q as { refusalChargeFen?: number }).refusalChargeFen ?? refusalChargeOf(q.priceFen, offer.terms.refusalFeeBps ?? 10_000),
        privacyTerms: privacyTermsFor({ minGroupSize: offer.terms.minGroupSize, epsilonMilli: q.epsilonMilli }, offer.terms, args.dataset.privacyBudget ?? {}),
        screening: null,
        approval: null,
        reviewerId: null,
        failureReason: null,
        failure: null,
        result: null,
        expiresAt: latestTradeDeadline(now, offer.terms.validUntil, this.ctx.reviewTtlMs).toISOString(),
        createdAt: at,
        updatedAt: at,
      };
      await this.ctx.store.trades.insert(trade);
      await this.ctx.audit.append({
        actor: args.buyer.userId,
        entityType: 'trade',
        entityId: trade.id,
        action: 'trade.submitted',
        data: { quoteId: q.quoteId, offerId: q.offerId, offerVersion: q.offerVersion, computationHash: q.computationHash, priceFen: q.priceFen },
      });
      await this.ctx.ledger.hold({ tradeId: trade.id, buyerOrgId: trade.buyerOrgId, amountFen: trade.priceFen, actor: args.buyer.userId });

      const screening = evaluateTrade(policy, {
        schema: args.dataset.schema,
        offer,
        computation: req.computation,
        columnsUsed: req.columnsUsed,
        epsilon: q.epsilonMilli / 1000,
        buyer: { orgId: args.buyer.orgId, name: args.buyer.orgName, destination: q.destination },
        purpose: q.purpose,
      });
      const rules = screening.findings.map((f) => f.ruleId);
      const summary = rules.join(', ') || 'no rule fired';
      const screened = { policyId: policy.policyId, policyVersion: policy.version, decision: screening.decision, rules };
      trade = await this.move(
        trade,
        'screened',
        'system',
        `negative list ${policy.policyId} v${policy.version}: ${screening.decision} (${summary})`,
        { code: rules.length ? 'trade.screened' : 'trade.screened-clean', params: screened },
        { screening },
      );
      if (screening.decision === 'deny') {
        trade = await this.move(trade, 'rejected', 'system', `denied by the negative list: ${summary}`, { code: 'trade.denied', params: { rules } }, { expiresAt: null });
        await this.release(trade, 'system', 'released: denied by the negative list', 'ledger.release-denied');
      } else if (screening.autoApprove) {
        trade = await this.move(trade, 'approved', 'system', 'no rule fired and the policy allows auto-approval', { code: 'trade.auto-approved', params: {} }, {
          expiresAt: latestTradeDeadline(now, offer.terms.validUntil, Math.min(this.ctx.autoApprovalTtlMs, this.ctx.approvalMaxValidityMs)).toISOString(),
        });
      } else if (screening.decision === 'review') {
        trade = await this.move(trade, 'under_review', 'system', `review required: ${summary}`, { code: 'trade.review-required', params: { rules } });
      } else {
        trade = await this.move(trade, 'under_review', 'system', 'every trade sees a reviewer under this policy', { code: 'trade.review-always', params: {} });
      }
      return trade;
    });
  }

  /**
   * A compliance reviewer decides. Separation of duties is checked against the trade; an approval
   * must carry a signed approval statement that verifies against the reviewer's operator-issued
   * certificate (the same check the enclave repeats) and binds this trade, dataset, commitment,
   * computation, buyer and offer version. A rejection releases the held funds.
   */
  async decideReview(args: { tradeId: string; reviewer: Actor; decision: unknown; certificate?: unknown }): Promise<Trade> {
    const input = parseOrThrow(ReviewDecisionInput, args.decision, 'invalid-review');
    const trade = await this.get(args.tradeId);
    assertMayReview(args.reviewer, trade);
    const to = input.decision === 'approve' ? 'approved' : 'rejected';
    // The table also lets `screened` reach approved/rejected, but only the screening itself takes
    // those edges; a person decides only what is under review.
    if (trade.state !== 'under_review') {
      throw new DomainError('illegal-transition', `a reviewer decides only trades under review; this one is ${trade.state}`, { tradeId: trade.id, from: trade.state, to });
    }
    assertTransition(trade.id, trade.state, to);
    const now = this.ctx.clock.now();
    if (input.decision === 'approve') {
      const operatorPem = await this.ctx.operatorPublicKeyPem();
      if (!operatorPem) throw new DomainError('not-configured', 'no operator key is configured to check reviewer certificates');
      const cert = args.certificate as { statement?: { reviewerId?: unknown; orgId?: unknown } } | undefined;
      if (cert?.statement?.reviewerId !== args.reviewer.userId || cert?.statement?.orgId !== args.reviewer.orgId) {
        throw new DomainError('invalid-approval', 'the reviewer certificate is not this reviewer’s');
      }
      const check = verifyApproval(input.approval, args.certificate, operatorPem, {
        tradeId: trade.id,
        datasetId: trade.datasetId,
        datasetCommitment: trade.datasetCommitment,
        computationHash: trade.computationHash,
        buyerOrgId: trade.buyerOrgId,
        now,
      });
      if (!check.ok) throw new DomainError('invalid-approval', check.reason);
      const st = input.approval.statement;
      if (st.offerId !== trade.offerId || st.offerVersion !== trade.offerVersion || st.buyerUserId !== trade.buyerUserId) {
        throw new DomainError('invalid-approval', 'the approval names another offer version or buyer');
      }
      // the privacy terms the enclave will hold the release to: exactly the trade's
      if (trade.privacyTerms) {
        const approved = approvedPrivacyTerms(st);
        if (!approved) throw new DomainError('invalid-approval', 'the approval does not state the privacy terms it approves (shuyu.approval.v2 is required)');
        const differs = privacyTermsMismatch(trade.privacyTerms, approved);
        if (differs) throw new DomainError('invalid-approval', `the approval states another ${differs} than the trade runs under`, { term: differs });
      }
      const terms = (await this.ctx.store.offers.get(trade.offerId, trade.offerVersion))?.terms;
      assertApprovalValidity(st, now, terms?.validUntil, this.ctx.approvalMaxValidityMs);
    }
    return this.ctx.store.transaction(async () => {
      const review: Review = {
        id: newId(),
        tradeId: trade.id,
        reviewerId: args.reviewer.userId,
        reviewerOrgId: args.reviewer.orgId,
        decision: input.decision,
        reason: input.reason,
        approval: input.decision === 'approve' ? input.approval : null,
        decidedAt: now.toISOString(),
      };
      await this.ctx.store.reviews.insert(review);
      await this.ctx.audit.append({ actor: args.reviewer.userId, entityType: 'review', entityId: review.id, action: `review.${input.decision}`, data: { tradeId: trade.id, reason: input.reason } });
      if (input.decision === 'approve') {
        return await this.move(trade, 'approved', args.reviewer.userId, input.reason, { code: 'trade.reviewer-approved', params: { reason: input.reason } }, {
          approval: input.approval,
          reviewerId: args.reviewer.userId,
          expiresAt: input.approval.statement.expiresAt,
        });
      }
      const rejected = await this.move(trade, 'rejected', args.reviewer.userId, input.reason, { code: 'trade.reviewer-rejected', params: { reason: input.reason } }, {
        reviewerId: args.reviewer.userId,
        expiresAt: null,
      });
      await this.release(rejected, args.reviewer.userId, 'released: rejected by the reviewer', 'ledger.release-rejected');
      return rejected;
    });
  }

  /** approved → executing. Returns the trade unchanged if it is already executing (a job picked up again after a crash). */
  async startExecution(args: { tradeId: string; actor: string }): Promise<Trade> {
    return this.ctx.store.transaction(async () => {
      const trade = await this.get(args.tradeId);
      if (trade.state === 'executing') return trade;
      if (trade.state === 'approved' && trade.expiresAt && this.ctx.clock.now().getTime() >= Date.parse(trade.expiresAt)) {
        throw new DomainError('trade-expired', 'the approval expired before execution started', { tradeId: trade.id, expiresAt: trade.expiresAt });
      }
      return await this.move(trade, 'executing', args.actor, 'execution started', { code: 'trade.execution-started', params: {} }, { expiresAt: null });
    });
  }

  /** executing → delivered → settled: captures the escrow as owner share plus platform fee. Idempotent. */
  async deliver(args: { tradeId: string; actor: string; result: Record<string, unknown> }): Promise<Trade> {
    return this.ctx.store.transaction(async () => {
      let trade = await this.get(args.tradeId);
      if (trade.state === 'settled') return trade;
      const result = JSON.parse(canonicalJson(args.result)) as Record<string, unknown>;
      trade = await this.move(trade, 'delivered', args.actor, 'result delivered', { code: 'trade.delivered', params: {} }, { result });
      await this.ctx.ledger.capture({ tradeId: trade.id, ownerOrgId: trade.ownerOrgId, ownerShareFen: trade.ownerShareFen, platformFeeFen: trade.platformFeeFen, actor: args.actor });
      return await this.move(trade, 'settled', args.actor, `captured ${trade.ownerShareFen} fen to the owner and ${trade.platformFeeFen} fen fee`, {
        code: 'trade.settled',
        params: { ownerShareFen: trade.ownerShareFen, platformFeeFen: trade.platformFeeFen },
      });
    });
  }

  /** executing → failed with a reason the buyer can read; the hold is released. Idempotent. */
  async fail(args: { tradeId: string; actor: string; reason: string; type?: string }): Promise<Trade> {
    return this.ctx.store.transaction(async () => {
      const trade = await this.get(args.tradeId);
      if (trade.state === 'failed') return trade;
      const type = args.type ?? 'execution-failed';
      const failed = await this.move(trade, 'failed', args.actor, args.reason, { code: 'trade.failed', params: { type, reason: args.reason } }, {
        failureReason: args.reason,
        failure: { code: 'execution-failed', type, params: {}, chargedFen: 0, message: { code: 'failure.execution-failed', params: { type } } },
      });
      await this.release(failed, args.actor, 'released: execution failed', 'ledger.release-failed');
      return failed;
    });
  }

  /**
   * executing → failed because the enclave refused the computation for privacy: the refusal charge the quote
   * stated is captured (owner share and platform fee as for a delivery) and the rest of the hold returned, with
   * the state change and its audit event, in one transaction. Idempotent.
   */
  async refuseForPrivacy(args: { tradeId: string; actor: string; type: string; params: Record<string, unknown>; message: string }): Promise<Trade> {
    return this.ctx.store.transaction(async () => {
      const trade = await this.get(args.tradeId);
      if (trade.state === 'failed') return trade;
      const charge = refusalCharge(trade);
      const failure: TradeFailure = {
        code: 'privacy-refused',
        type: args.type,
        params: JSON.parse(canonicalJson(args.params ?? {})) as Record<string, unknown>,
        chargedFen: charge.chargeFen,
        message: { code: 'failure.privacy-refused', params: { type: args.type, chargedFen: charge.chargeFen } },
      };
      const why = { code: 'trade.refused-for-privacy', params: { type: args.type, message: args.message, chargedFen: charge.chargeFen } } as const;
      const failed = await this.move(trade, 'failed', args.actor, `refused for privacy (${args.type}): ${args.message}; ${charge.chargeFen} fen charged as quoted`, why, {
        failureReason: `refused for privacy (${args.type}): ${args.message}`,
        failure,
      });
      await this.ctx.ledger.chargeRefusal({ tradeId: trade.id, buyerOrgId: trade.buyerOrgId, ownerOrgId: trade.ownerOrgId, ...charge, actor: args.actor });
      return failed;
    });
  }

  /** The buyer withdraws a trade before execution; the hold is released. */
  async cancel(args: { tradeId: string; actor: Actor; reason?: string }): Promise<Trade> {
    return this.ctx.store.transaction(async () => {
      const trade = await this.get(args.tradeId);
      if (trade.buyerOrgId !== args.actor.orgId) throw new DomainError('forbidden', "only the buyer's organisation can cancel its trade");
      if (trade.state === 'cancelled') return trade;
      const why: Reason<TradeReasonCode> = args.reason ? { code: 'trade.cancelled-with-reason', params: { reason: args.reason } } : { code: 'trade.cancelled', params: {} };
      const cancelled = await this.move(trade, 'cancelled', args.actor.userId, args.reason ?? 'cancelled by the buyer', why, { expiresAt: null });
      await this.release(cancelled, args.actor.userId, 'released: cancelled by the buyer', 'ledger.release-cancelled');
      return cancelled;
    });
  }

  /** Expires every trade whose deadline passed before execution, releasing its hold. Each in its own transaction. */
  async expireDue(now: Date = this.ctx.clock.now()): Promise<Trade[]> {
    const out: Trade[] = [];
    for (const due of await this.ctx.store.trades.due(EXPIRABLE, now.toISOString())) {
      try {
        const done = await this.ctx.store.transaction(async () => {
            const t = await this.get(due.id);
            if (!t.expiresAt || Date.parse(t.expiresAt) > now.getTime()) return undefined; // moved on meanwhile
            const why = { code: 'trade.expired', params: { deadline: t.expiresAt, state: t.state } } as const;
            const expired = await this.move(t, 'expired', 'system', `deadline ${t.expiresAt} passed in state ${t.state}`, why, { expiresAt: null });
            await this.release(expired, 'system', 'released: expired', 'ledger.release-expired');
            return expired;
        });
        if (done) out.push(done);
      } catch (e) {
        // Another worker moved it meanwhile: nothing to expire.
        if (!(e instanceof DomainError && (e.type === 'conflict' || e.type === 'illegal-transition'))) throw e;
      }
    }
    return out;
  }
}
