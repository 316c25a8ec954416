import { Computation } from '../computation.js';
import type { BuyerRef, Context, DatasetRef } from '../context.js';
import { DomainError } from '../errors.js';
import { newId } from '../ids.js';
import { PurposeCode, RegionCode } from '../offer/offer.js';
import { computationHash } from '../review/approval.js';
import { admit, PAID_STATES, periodStart } from '../trade/admission.js';
import { parseOrThrow } from '../validate.js';
import { z } from 'zod';
import { epsilonToMilli, priceOf, splitPrice } from './price.js';
import { type SignedQuote, signQuote } from './quote.js';

export const QuoteRequest = z
  .object({
    offerId: z.string().min(1),
    computation: Computation,
    /** For sql: the columns enclave/sql's validator reported for this query. */
    columnsUsed: z.array(z.string()).max(64).optional(),
    purpose: z.object({ code: PurposeCode, statement: z.string().max(2000).default('') }).strict(),
    destination: RegionCode,
  })
  .strict();
export type QuoteRequest = z.infer<typeof QuoteRequest>;

/** Prices one computation for one buyer under the offer's latest version and signs the quote. */
export async function issueQuote(ctx: Context, args: { request: unknown; dataset: DatasetRef; buyer: BuyerRef }): Promise<SignedQuote> {
  const req = parseOrThrow(QuoteRequest, args.request, 'invalid-request');
  const offer = ctx.store.offers.get(req.offerId);
  if (!offer) throw new DomainError('not-found', 'no such offer', { offerId: req.offerId });
  admit(ctx, { offer, dataset: args.dataset, computation: req.computation, columnsUsed: req.columnsUsed, buyerOrgId: args.buyer.orgId, purpose: req.purpose, destination: req.destination });

  // verify answers yes/no and spends no ε; DP kinds spend the offer's ε per query.
  const epsilonMilli = req.computation.kind === 'verify' ? 0 : epsilonToMilli(offer.terms.epsilonPerQuery);
  const now = ctx.clock.now();
  const usedInPeriod =
    offer.priceModel.kind === 'subscription'
      ? ctx.store.trades.countByBuyer(args.buyer.orgId, offer.id, PAID_STATES, periodStart(offer, now, offer.priceModel.periodDays))
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
      computationHash: computationHash(req.computation),
      purpose: req.purpose,
      destination: req.destination,
      rows: args.dataset.rowCount,
      epsilonMilli,
      priceFen,
      ...splitPrice(priceFen, offer.platformFeeBps),
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.quoteTtlMs).toISOString(),
    },
    ctx.signer,
  );
  ctx.store.transaction(() => {
    ctx.store.quotes.insert(quote);
    ctx.audit.append({
      actor: args.buyer.userId,
      entityType: 'quote',
      entityId: quote.statement.quoteId,
      action: 'quote.issued',
      data: { offerId: offer.id, offerVersion: offer.version, priceFen, computationHash: quote.statement.computationHash, expiresAt: quote.statement.expiresAt },
    });
  });
  return quote;
}
