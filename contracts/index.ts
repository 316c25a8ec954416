import { verifyAuditLog, type AuditVerification } from './audit/verify.js';
import type { AuditEvent, SignedCheckpoint } from './audit/chain.js';
import type { AuditInput } from './audit/log.js';
import { type Actor, type BuyerRef, Context, type ContractsOptions, type DatasetRef } from './context.js';
import { DomainError } from './errors.js';
import { accountIds, type LedgerAccount, type LedgerTransaction } from './ledger/ledger.js';
import type { Offer } from './offer/offer.js';
import { OfferService } from './catalogue/offers.js';
import { evaluateListing, evaluateTrade } from './policy/evaluate.js';
import { PolicyDocument, type Evaluation } from './policy/schema.js';
import type { SignedQuote } from './pricing/quote.js';
import { issueQuote, quotedTermsOf, type QuotedTerms } from './trade/quoting.js';
import { latestTradeDeadline } from './review/review.js';
import { TradeService } from './trade/service.js';
import type { TradeState } from './trade/states.js';
import type { Trade, TradeTransition } from './trade/trade.js';
import { parseOrThrow } from './validate.js';
import type { PolicyVersionInfo } from './store.js';

export type { Actor, BuyerRef, ContractsOptions, DatasetRef } from './context.js';
export type { Offer } from './offer/offer.js';
export type { Trade, TradeTransition } from './trade/trade.js';
export type { SignedQuote } from './pricing/quote.js';
export type { Evaluation, PolicyDocument } from './policy/schema.js';
export type { Signer } from './signer.js';
export type { ContractsStore } from './store.js';

/**
 * The one object the server calls. Every method that changes something is one store transaction
 * with its audit events (and money moves, where the lifecycle says); inputs that come from a
 * request are `unknown` and validated here with zod, failing as DomainError with a stable type.
 */
export function createContracts(options: ContractsOptions) {
  const ctx = new Context(options);
  const offers = new OfferService(ctx);
  const trades = new TradeService(ctx);

  return {
    context: ctx,

    // ── negative list ───────────────────────────────────────────────────────────────
    activePolicy: (): Promise<PolicyDocument> => ctx.policy(),
    /** Publishes a new policy version (must be newer than the active one of the same id) and activates it. */
    async publishPolicy(doc: unknown, actor: string): Promise<PolicyDocument> {
      const policy = parseOrThrow(PolicyDocument, doc, 'invalid-policy');
      const active = await ctx.policy();
      if (policy.policyId === active.policyId && policy.version <= active.version) {
        throw new DomainError('invalid-policy', `version must be above the active ${active.version}`);
      }
      await ctx.store.transaction(async () => {
        await ctx.store.policies.put(policy, ctx.nowIso());
        await ctx.audit.append({ actor, entityType: 'policy', entityId: policy.policyId, action: 'policy.published', data: { version: policy.version, rules: policy.rules.length } });
      });
      return policy;
    },
    /** Every negative-list version published, newest first: findings name the version they were made under. */
    policyHistory: (): Promise<PolicyVersionInfo[]> => ctx.store.policies.history(),
    async policyVersion(policyId: string, version: number): Promise<PolicyDocument> {
      const doc = await ctx.store.policies.get(policyId, version);
      if (!doc) throw new DomainError('not-found', `no negative-list version ${policyId} v${version}`);
      return doc;
    },
    evaluateListing: async (dataset: DatasetRef, offerInput: Parameters<typeof evaluateListing>[2]): Promise<Evaluation> => evaluateListing(await ctx.policy(), dataset.schema, offerInput),
    evaluateTrade: async (facts: Parameters<typeof evaluateTrade>[1]): Promise<Evaluation> => evaluateTrade(await ctx.policy(), facts),

    // ── offers ──────────────────────────────────────────────────────────────────────
    createOffer: (args: { dataset: DatasetRef; input: unknown; actor: Actor }) => offers.create(args),
    screenOffer: (args: { dataset: DatasetRef; input: unknown; actor: Actor }): Promise<Evaluation> => offers.preview(args),
    reviseOffer: (args: { offerId: string; dataset: DatasetRef; input: unknown; actor: Actor }) => offers.revise(args),
    withdrawOffer: (args: { offerId: string; actor: Actor }): Promise<Offer> => offers.withdraw(args),
    getOffer: (offerId: string, version?: number): Promise<Offer> => offers.get(offerId, version),
    offerVersions: (offerId: string): Promise<Offer[]> => ctx.store.offers.versions(offerId),
    listOffers: (filter: { datasetId?: string; ownerOrgId?: string; status?: Offer['status'] } = {}): Promise<Offer[]> => ctx.store.offers.list(filter),

    // ── quotes and trades ───────────────────────────────────────────────────────────
    /** request: { offerId, computation, clamp?, sql?, purpose: { code, statement }, destination }; beforeSign: the caller's own last refusals. */
    quote: (args: Parameters<typeof issueQuote>[1]): Promise<SignedQuote> => issueQuote(ctx, args),
    /** What the trade's buyer was quoted: refusal charge and allowance, each DP output's noise, warnings (null: quote gone). */
    quotedTerms: (trade: Pick<Trade, 'quoteId'>): Promise<QuotedTerms | null> => quotedTermsOf(ctx, trade),
    /** The latest expiry an approval of this trade may state now: the validity cap, and never past the offer's validUntil. */
    latestApprovalExpiry: async (trade: Pick<Trade, 'offerId' | 'offerVersion'>): Promise<string> =>
      latestTradeDeadline(ctx.clock.now(), (await ctx.store.offers.get(trade.offerId, trade.offerVersion))?.terms.validUntil, ctx.approvalMaxValidityMs).toISOString(),
    /** request: { quote, computation, columnsUsed? }. */
    submitTrade: (args: { request: unknown; dataset: DatasetRef; buyer: BuyerRef }): Promise<Trade> => trades.submit(args),
    /** decision: { decision: 'approve', reason, approval } | { decision: 'reject', reason }. */
    decideReview: (args: { tradeId: string; reviewer: Actor; decision: unknown; certificate?: unknown }): Promise<Trade> => trades.decideReview(args),
    startExecution: (args: { tradeId: string; actor: string }): Promise<Trade> => trades.startExecution(args),
    deliver: (args: { tradeId: string; actor: string; result: Record<string, unknown> }): Promise<Trade> => trades.deliver(args),
    fail: (args: { tradeId: string; actor: string; reason: string; type?: string }): Promise<Trade> => trades.fail(args),
    /** The enclave refused for privacy: the trade fails and its refusal charge is taken, as quoted. */
    refuseForPrivacy: (args: { tradeId: string; actor: string; type: string; params: Record<string, unknown>; message: string }): Promise<Trade> => trades.refuseForPrivacy(args),
    cancel: (args: { tradeId: string; actor: Actor; reason?: string }): Promise<Trade> => trades.cancel(args),
    expireDue: (now?: Date): Promise<Trade[]> => trades.expireDue(now),
    getTrade: (tradeId: string): Promise<Trade> => trades.get(tradeId),
    tradeTransitions: (tradeId: string): Promise<TradeTransition[]> => ctx.store.trades.transitions(tradeId),
    listTrades: (filter: { buyerOrgId?: string; ownerOrgId?: string; states?: readonly TradeState[]; afterId?: string; limit?: number }): Promise<Trade[]> => ctx.store.trades.list(filter),
    review: (tradeId: string) => ctx.store.reviews.forTrade(tradeId),

    // ── ledger ──────────────────────────────────────────────────────────────────────
    topUp: (args: { orgId: string; amountFen: number; idempotencyKey: string; actor: string; memo?: string }): Promise<LedgerTransaction> => ctx.ledger.topUp(args),
    /** An organisation's wallet (spendable) and revenue (earned as owner), in fen. */
    balances: async (orgId: string): Promise<{ walletFen: number; revenueFen: number }> => ({
      walletFen: await ctx.ledger.balance(accountIds.wallet(orgId)),
      revenueFen: await ctx.ledger.balance(accountIds.revenue(orgId)),
    }),
    platformFeeFen: (): Promise<number> => ctx.ledger.balance(accountIds.fee),
    /** Journal lines touching one account, in posting order (cursor: afterSeq). */
    statement: (accountId: string, page: { afterSeq?: number; limit?: number } = {}): Promise<LedgerTransaction[]> => ctx.store.ledger.transactions({ accountId, ...page }),
    tradeLedger: (tradeId: string): Promise<LedgerTransaction[]> => ctx.store.ledger.transactions({ tradeId }),
    accounts: (ownerId?: string): Promise<LedgerAccount[]> => ctx.store.ledger.accounts(ownerId ? { ownerId } : undefined),
    accountIds,

    // ── audit ───────────────────────────────────────────────────────────────────────
    /**
     * Appends an event for an entity contracts/ does not own (users, organisations, datasets, keys)
     * to the same chain. Call it inside `transaction` together with the write it records.
     */
    recordEvent: (input: AuditInput): Promise<AuditEvent> => ctx.store.transaction(() => ctx.audit.append(input)),
    /** One atomic unit over the shared database: the server's own writes and recordEvent commit together. */
    transaction: <T>(fn: () => Promise<T>): Promise<T> => ctx.store.transaction(fn),
    auditEvents: (filter: { afterSeq?: number; limit?: number; entityType?: string; entityId?: string } = {}) => ctx.store.audit.events(filter),
    /** Signs the current head with the platform key (call periodically, e.g. every minute). */
    checkpoint: (): Promise<SignedCheckpoint> => ctx.audit.checkpoint(ctx.signer),
    checkpoints: (): Promise<SignedCheckpoint[]> => ctx.store.audit.checkpoints(),
    /** Verifies the whole stored chain against the platform key; pass the last checkpoint a monitor kept to catch rollbacks. */
    verifyAudit: async (trusted?: unknown): Promise<AuditVerification> =>
      verifyAuditLog({ events: await ctx.store.audit.events({}), checkpoints: await ctx.store.audit.checkpoints() }, ctx.signer.publicKeyPem, trusted),
  };
}

export type Contracts = ReturnType<typeof createContracts>;
