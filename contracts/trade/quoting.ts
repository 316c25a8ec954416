import { ClampBounds, Computation } from '../computation.js';
import type { BuyerRef, Context, DatasetRef } from '../context.js';
import { DomainError } from '../errors.js';
import { newId } from '../ids.js';
import { PurposeCode, RegionCode } from '../offer/offer.js';
import { computationHash } from '../computation.js';
import { admit, PAID_STATES, periodStart } from './admission.js';
import type { Trade } from './trade.js';
import { parseOrThrow } from '../validate.js';
import { canonicalJson } from '../../crypto/index.js';
import { z } from 'zod';
import { Accuracy, accuracyOf, QuoteWarning } from '../pricing/accuracy.js';
import { assertCanRun, SqlFacts } from '../pricing/feasibility.js';
import { epsilonToMilli, priceOf, refusalChargeOf, splitPrice } from '../pricing/price.js';
import { type SignedQuote, signQuote } from '../pricing/quote.js';

export const QuoteRequest = z
  .object({
    offerId: z.string().min(1),
    computation: Computation,
    /**
     * DP SQL only: narrower clamp bounds per measure; folded into the computation (so into its hash), which is
     * what the buyer then submits. The same as `computation.clamp`; giving both, they must agree.
     */
    clamp: ClampBounds.optional(),
    /** For sql: the columns enclave/sql's validator reported for this query. */
    columnsUsed: z.array(z.string()).max(64).optional(),
    /** For sql: the validator's findings in the offer's mode (columns, outputs, grouping); the server passes them in. */
    sql: SqlFacts.optional(),
    purpose: z.object({ code: PurposeCode, statement: z.string().max(2000).default('') }).strict(),
    destination: RegionCode,
  })
  .strict();
export type QuoteRequest = z.infer<typeof QuoteRequest>;

/** The computation a quote prices: the request's computation with the request's clamp folded in. */
export function quotedComputation(req: Pick<QuoteRequest, 'computation' | 'clamp'>): Computation {
  const c = req.computation;
  if (!req.clamp) return c;
  if (c.kind !== 'sql') {
    throw new DomainError(
      'invalid-clamp',
      c.kind === 'verify'
        ? 'verify releases nothing to clamp'
        : 'aggregate computations sum sealed rows homomorphically and cannot clamp a row narrower than the bounds it was sealed under; ask for the same statistics with kind sql',
    );
  }
  if (c.clamp && canonicalJson(c.clamp) !== canonicalJson(req.clamp)) {
    throw new DomainError('invalid-clamp', 'the request’s clamp differs from the computation’s');
  }
  return { ...c, clamp: req.clamp };
}

/**
 * Prices one computation for one buyer under the offer's latest version and signs the quote. Refuses first
 * what can never run (feasibility.ts); a DP quote states each output's noise and what a privacy refusal costs.
 */
export async function issueQuote(
  ctx: Context,
  args: { request: unknown; dataset: DatasetRef; buyer: BuyerRef; beforeSign?: (computation: Computation) => void | Promise<void> },
): Promise<SignedQuote> {
  const req = parseOrThrow(QuoteRequest, args.request, 'invalid-request');
  const offer = await ctx.store.offers.get(req.offerId);
  if (!offer) throw new DomainError('not-found', 'no such offer', { offerId: req.offerId });
  const computation = quotedComputation(req);
  const columnsUsed = req.sql?.columnsUsed ?? req.columnsUsed;
  await admit(ctx, { offer, dataset: args.dataset, computation, columnsUsed, buyerOrgId: args.buyer.orgId, purpose: req.purpose, destination: req.destination });
  if (computation.kind === 'sql' && !req.sql) {
    throw new DomainError('invalid-request', 'an sql computation needs the SQL validator’s findings (sql: { columnsUsed, outputs, groupBy })');
  }
  assertCanRun({ offer, schema: args.dataset.schema, computation, ...(req.sql ? { sql: req.sql } : {}) });
  await args.beforeSign?.(computation);
  const noise = accuracyOf({ offer, schema: args.dataset.schema, computation, rows: args.dataset.rowCount, ...(req.sql ? { sql: req.sql } : {}) });

  // verify answers yes/no and spends no ε; DP kinds spend the offer's ε per query.
  const epsilonMilli = computation.kind === 'verify' ? 0 : epsilonToMilli(offer.terms.epsilonPerQuery);
  const now = ctx.clock.now();
  const usedInPeriod =
    offer.priceModel.kind === 'subscription'
      ? await ctx.store.trades.countByBuyer(args.buyer.orgId, offer.id, PAID_STATES, periodStart(offer, now, offer.priceModel.periodDays))
      : 0;
  const priceFen = priceOf(offer.priceModel, { rows: args.dataset.rowCount, epsilonMilli, usedInPeriod });
  const quote = await signQuote(
    {
      quoteId: newId(),
      offerId: offer.id,
      offerVersion: offer.version,
      datasetId: args.dataset.id,
      datasetCommitment: args.dataset.commitment,
      buyerOrgId: args.buyer.orgId,
      buyerUserId: args.buyer.userId,
      computationHash: computationHash(computation),
      purpose: req.purpose,
      destination: req.destination,
      rows: args.dataset.rowCount,
      epsilonMilli,
      priceFen,
      ...splitPrice(priceFen, offer.platformFeeBps),
      refusalChargeFen: refusalChargeOf(priceFen, offer.terms.refusalFeeBps),
      refusalAllowance: offer.terms.refusalAllowance,
      ...(noise ? { accuracy: noise.accuracy } : {}),
      warnings: noise?.warnings ?? [],
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.quoteTtlMs).toISOString(),
    },
    ctx.signer,
  );
  await ctx.store.transaction(async () => {
    await ctx.store.quotes.insert(quote);
    await ctx.audit.append({
      actor: args.buyer.userId,
      entityType: 'quote',
      entityId: quote.statement.quoteId,
      action: 'quote.issued',
      data: { offerId: offer.id, offerVersion: offer.version, priceFen, computationHash: quote.statement.computationHash, expiresAt: quote.statement.expiresAt },
    });
  });
  return quote;
}

/** What the buyer was quoted for a trade, as its reviewer sees it: the refusal cost and each DP output's noise. */
export const QuotedTerms = z
  .object({
    quoteId: z.string(),
    priceFen: z.number().int(),
    refusalChargeFen: z.number().int(),
    refusalAllowance: z.number().int(),
    accuracy: Accuracy.optional(),
    warnings: z.array(QuoteWarning),
  })
  .strict();
export type QuotedTerms = z.infer<typeof QuotedTerms>;

export async function quotedTermsOf(ctx: Context, trade: Pick<Trade, 'quoteId'>): Promise<QuotedTerms | null> {
  const q = (await ctx.store.quotes.get(trade.quoteId))?.statement;
  if (!q) return null;
  return {
    quoteId: q.quoteId,
    priceFen: q.priceFen,
    refusalChargeFen: q.refusalChargeFen,
    refusalAllowance: q.refusalAllowance,
    ...(q.accuracy ? { accuracy: q.accuracy } : {}),
    warnings: q.warnings,
  };
}
