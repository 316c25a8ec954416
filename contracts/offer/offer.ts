import { z } from 'zod';
import { ColumnName } from '../dataset/schema.js';
import { FeeBps, PriceModel } from './price-model.js';

/**
 * An offer (listing) on a dataset: which computations a buyer may buy, at what price, under which
 * terms. Offers are versioned: a change writes version n+1 under the same id, and a trade keeps the
 * (id, version) it was quoted under, so a later price change never reprices a running trade.
 */

/**
 * Purpose codes a buyer declares: codes of the published purpose catalogue (policy/purposes.json, checked when an
 * offer is listed: catalogue/offers.ts); the negative list names prohibited ones.
 */
export const PurposeCode = z.string().regex(/^[a-z][a-z0-9-]{1,63}$/, 'purpose codes are lower-case slugs');

/** ISO 3166-1 alpha-2, optionally with a subdivision: CN, CN-53 (Yunnan), HK, DE … */
export const RegionCode = z.string().regex(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/, 'regions are ISO 3166 codes like CN or CN-53');

export const OfferTerms = z
  .object({
    purposes: z.array(PurposeCode).min(1).max(64),
    validFrom: z.iso.datetime(),
    validUntil: z.iso.datetime(),
    /** Trades per buyer organisation on this offer (all versions), counting every trade not refused. */
    queryQuotaPerBuyer: z.number().int().min(1).max(1_000_000),
    /** Regions the buyer may take results to; anything outside CN is cross-border (policy decides). */
    destinations: z.array(RegionCode).min(1).max(64),
    minGroupSize: z.number().int().min(1).max(1_000_000),
    /** ε spent per query by the enclave's DP mechanism; 0 = no DP (exact outputs). */
    epsilonPerQuery: z.number().min(0).max(10),
    /** ε a buyer may spend on this dataset in total; the enclave's own budget ledger enforces it. */
    epsilonBudgetPerBuyer: z.number().min(0).max(100),
    /**
     * Rows one person (one identifier) may contribute to any release, exact or DP: the enclave keeps at most
     * this many rows of each person (an HE release is refused if some person has more) and calibrates DP noise
     * to it. Without an identifier column every row is a person.
     */
    maxRowsPerPerson: z.number().int().min(1).max(1_000).default(1),
    /**
     * Data-dependent refusals (differencing guard, minimum group size) a buyer may receive on this dataset;
     * once used up, further exact releases to that buyer are refused before anything is computed.
     */
    refusalAllowance: z.number().int().min(0).max(100).default(3),
    /** Share of the quoted price charged when the enclave refuses a computation for privacy (basis points). */
    refusalFeeBps: z.number().int().min(0).max(10_000).default(10_000),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (Date.parse(t.validUntil) <= Date.parse(t.validFrom)) {
      ctx.addIssue({ code: 'custom', message: 'validUntil must be after validFrom' });
    }
    if (t.epsilonBudgetPerBuyer < t.epsilonPerQuery) {
      ctx.addIssue({ code: 'custom', message: 'epsilonBudgetPerBuyer is below one query' });
    }
  });
export type OfferTerms = z.infer<typeof OfferTerms>;

/** What an owner sends to create an offer or a new version of it. */
export const OfferInput = z
  .object({
    title: z.string().min(1).max(200),
    description: z.string().max(5_000).default(''),
    allowedKinds: z.array(z.enum(['aggregate', 'sql', 'verify'])).min(1).max(3),
    /** Columns a computation may touch; every name must exist in the dataset's schema. */
    allowedColumns: z.array(ColumnName).min(1).max(64),
    priceModel: PriceModel,
    platformFeeBps: FeeBps,
    terms: OfferTerms,
  })
  .strict();
export type OfferInput = z.infer<typeof OfferInput>;

export const OfferStatus = z.enum(['active', 'withdrawn']);
export type OfferStatus = z.infer<typeof OfferStatus>;

export const Offer = OfferInput.extend({
  id: z.string(),
  version: z.number().int().min(1),
  datasetId: z.string(),
  ownerOrgId: z.string(),
  status: OfferStatus,
  createdAt: z.iso.datetime(),
  createdBy: z.string(),
});
export type Offer = z.infer<typeof Offer>;
