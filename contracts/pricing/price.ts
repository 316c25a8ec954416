import { DomainError } from '../errors.js';
import type { PriceModel } from '../offer/price-model.js';

/**
 * The size of one computation, as far as price is concerned. Integers only: rows touched and ε in
 * thousandths (milli-ε), so no price ever depends on floating-point rounding.
 */
export interface PriceBasis {
  rows: number;
  epsilonMilli: number;
  /** Subscription only: queries this buyer already made in the current period. */
  usedInPeriod?: number;
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a + b - 1n) / b;

function toFen(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DomainError('price-overflow', 'price exceeds the largest representable amount');
  return Number(v);
}

/** Concave piecewise-linear cost of `rows` under non-increasing marginal tier rates (before rounding). */
function tieredMilliFen(tiers: Extract<PriceModel, { kind: 'tiered' }>['tiers'], rows: bigint): bigint {
  let total = 0n; // in fen × 1/1000 (rate is per thousand rows)
  let lower = 0n;
  for (const t of tiers) {
    if (rows <= lower) break;
    const upper = t.upToRows === null ? rows : BigInt(t.upToRows);
    const inTier = (rows < upper ? rows : upper) - lower;
    if (inTier > 0n) total += inTier * BigInt(t.fenPerThousandRows);
    lower = upper;
  }
  return total;
}

/**
 * Price in fen of one computation under `model`. Properties (test/contracts/pricing.test.ts):
 * ≥ 0; monotone in rows and in ε; subadditive in rows and in ε (price(a+b) ≤ price(a)+price(b)),
 * because each model is a constant plus a concave function rounded up with ceil, and
 * ceil(x+y) ≤ ceil(x)+ceil(y).
 */
export function priceOf(model: PriceModel, basis: PriceBasis): number {
  if (!Number.isSafeInteger(basis.rows) || basis.rows < 0) {
    throw new DomainError('invalid-price-basis', 'rows must be a non-negative integer', { rows: basis.rows });
  }
  if (!Number.isSafeInteger(basis.epsilonMilli) || basis.epsilonMilli < 0) {
    throw new DomainError('invalid-price-basis', 'ε must be a non-negative number of thousandths', { epsilonMilli: basis.epsilonMilli });
  }
  const rows = BigInt(basis.rows);
  switch (model.kind) {
    case 'fixed':
      return model.perQueryFen;
    case 'per-row': {
      const linear = ceilDiv(rows * BigInt(model.fenPerThousandRows), 1000n);
      const min = BigInt(model.minimumFen);
      return toFen(linear > min ? linear : min);
    }
    case 'tiered':
      return toFen(ceilDiv(tieredMilliFen(model.tiers, rows), 1000n));
    case 'subscription': {
      const used = basis.usedInPeriod ?? 0;
      if (used >= model.queriesPerPeriod) {
        throw new DomainError('quota-exhausted', `the subscription allows ${model.queriesPerPeriod} queries per period`, {
          queriesPerPeriod: model.queriesPerPeriod,
        });
      }
      return used === 0 ? model.periodFen : 0;
    }
    case 'epsilon':
      return toFen(BigInt(model.baseFen) + ceilDiv(BigInt(basis.epsilonMilli) * BigInt(model.fenPerEpsilon), 1000n));
  }
}

/** Split a price between the platform (fee, rounded down) and the owner (the rest): they always sum to the price. */
export function splitPrice(priceFen: number, platformFeeBps: number): { ownerShareFen: number; platformFeeFen: number } {
  const fee = Number((BigInt(priceFen) * BigInt(platformFeeBps)) / 10_000n);
  return { ownerShareFen: priceFen - fee, platformFeeFen: fee };
}

/** ε as stored in offers (a decimal) → integer thousandths; refuses finer precision than 0.001. */
export function epsilonToMilli(epsilon: number): number {
  const milli = Math.round(epsilon * 1000);
  if (!Number.isFinite(epsilon) || epsilon < 0 || Math.abs(milli - epsilon * 1000) > 1e-6) {
    throw new DomainError('invalid-epsilon', 'ε must be a non-negative multiple of 0.001', { epsilon });
  }
  return milli;
}

/** What a privacy refusal of a trade costs the buyer: ⌊price × refusalFeeBps / 10000⌋ (stated in the quote). */
export function refusalChargeOf(priceFen: number, refusalFeeBps: number): number {
  return Number((BigInt(priceFen) * BigInt(refusalFeeBps)) / 10_000n);
}
