import { z } from 'zod';

/**
 * Price models of an offer, all in integer fen (分). Each is a declarative shape; `priceOf`
 * (price.ts) is the one place that turns a model and a computation's size into fen. Every model is
 * built to be monotone and subadditive (see price.ts), so splitting a purchase never saves money.
 */

export const Fen = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Fixed price per query, whatever it touches. */
export const FixedPrice = z.object({ kind: z.literal('fixed'), perQueryFen: Fen }).strict();

/** Linear in rows touched: ceil(rows × fenPerThousandRows / 1000), never below minimumFen. */
export const PerRowPrice = z
  .object({ kind: z.literal('per-row'), fenPerThousandRows: Fen, minimumFen: Fen.default(0) })
  .strict();

/**
 * Volume tiers with marginal rates: rows up to tiers[0].upToRows cost tiers[0].fenPerThousandRows
 * per thousand, the next ones the next rate, … The last tier has no upper bound. Rates must not
 * increase — a concave price with price(0)=0 is subadditive, which is what makes it arbitrage-free.
 */
export const TieredPrice = z
  .object({
    kind: z.literal('tiered'),
    tiers: z
      .array(z.object({ upToRows: z.number().int().positive().nullable(), fenPerThousandRows: Fen }).strict())
      .min(1)
      .max(16),
  })
  .strict()
  .superRefine((m, ctx) => {
    m.tiers.forEach((t, i) => {
      const last = i === m.tiers.length - 1;
      if (last !== (t.upToRows === null)) {
        ctx.addIssue({ code: 'custom', message: 'only the last tier is open-ended (upToRows: null)' });
      }
      const prev = m.tiers[i - 1];
      if (prev && t.upToRows !== null && prev.upToRows !== null && t.upToRows <= prev.upToRows) {
        ctx.addIssue({ code: 'custom', message: 'tier bounds must increase' });
      }
      if (prev && t.fenPerThousandRows > prev.fenPerThousandRows) {
        ctx.addIssue({ code: 'custom', message: 'tier rates must not increase (volume discounts only)' });
      }
    });
  });

/**
 * A subscription: periodFen buys up to queriesPerPeriod queries in each period of periodDays,
 * counted from the offer's validFrom. The first query of a period pays the period; the others are 0.
 */
export const SubscriptionPrice = z
  .object({
    kind: z.literal('subscription'),
    periodFen: Fen,
    periodDays: z.number().int().min(1).max(366),
    queriesPerPeriod: z.number().int().min(1).max(1_000_000),
  })
  .strict();

/**
 * ε-priced, for DP outputs: baseFen + ceil(fenPerEpsilon × ε), ε counted in thousandths so the
 * arithmetic stays in integers. Linear in ε plus a constant is subadditive: one query at ε₁+ε₂
 * never costs more than two at ε₁ and ε₂.
 */
export const EpsilonPrice = z
  .object({ kind: z.literal('epsilon'), baseFen: Fen, fenPerEpsilon: Fen })
  .strict();

export const PriceModel = z.discriminatedUnion('kind', [FixedPrice, PerRowPrice, TieredPrice, SubscriptionPrice, EpsilonPrice]);
export type PriceModel = z.infer<typeof PriceModel>;

/** Platform fee in basis points of the price (1 bp = 0.01%); the owner gets the rest. */
export const FeeBps = z.number().int().min(0).max(10_000);
