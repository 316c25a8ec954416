import { expect } from 'chai';
import fc from 'fast-check';
import { PriceModel } from '../../contracts/offer/price-model.js';
import { epsilonToMilli, priceOf, refusalChargeOf, splitPrice } from '../../contracts/pricing/price.js';

const fen = fc.integer({ min: 0, max: 1_000_000 });
const rowSizedModel: fc.Arbitrary<PriceModel> = fc.oneof(
  fen.map((perQueryFen) => ({ kind: 'fixed' as const, perQueryFen })),
  fc.record({ kind: fc.constant('per-row' as const), fenPerThousandRows: fen, minimumFen: fen }),
  fc
    .array(fc.tuple(fc.integer({ min: 1, max: 1_000_000 }), fen), { minLength: 1, maxLength: 6 })
    .map((raw) => {
      // Increasing bounds, non-increasing rates: the only shape TieredPrice accepts.
      const bounds = [...new Set(raw.map(([b]) => b))].sort((a, b) => a - b);
      const rates = raw.map(([, r]) => r).sort((a, b) => b - a);
      const kept = rates.slice(0, bounds.length + 1);
      const tiers = kept.map((rate, i) => ({ upToRows: i === kept.length - 1 ? null : bounds[i]!, fenPerThousandRows: rate }));
      return PriceModel.parse({ kind: 'tiered', tiers });
    }),
  fc.record({ kind: fc.constant('epsilon' as const), baseFen: fen, fenPerEpsilon: fen }),
);
const rows = fc.integer({ min: 0, max: 50_000_000 });
const milli = fc.integer({ min: 0, max: 10_000 });

describe('contracts/pricing', () => {
  it('price ≥ 0, an integer, for every model and size', () => {
    fc.assert(fc.property(rowSizedModel, rows, milli, (m, r, e) => {
      const p = priceOf(m, { rows: r, epsilonMilli: e });
      return Number.isSafeInteger(p) && p >= 0;
    }), { numRuns: 2000 });
  });

  it('monotone in rows and in ε', () => {
    fc.assert(fc.property(rowSizedModel, rows, rows, milli, milli, (m, r1, r2, e1, e2) => {
      const [ra, rb] = r1 <= r2 ? [r1, r2] : [r2, r1];
      const [ea, eb] = e1 <= e2 ? [e1, e2] : [e2, e1];
      return priceOf(m, { rows: ra, epsilonMilli: ea }) <= priceOf(m, { rows: rb, epsilonMilli: eb });
    }), { numRuns: 2000 });
  });

  it('arbitrage-free in ε: price(ε₁+ε₂) ≤ price(ε₁) + price(ε₂)', () => {
    fc.assert(fc.property(rowSizedModel, rows, milli, milli, (m, r, e1, e2) =>
      priceOf(m, { rows: r, epsilonMilli: e1 + e2 }) <= priceOf(m, { rows: r, epsilonMilli: e1 }) + priceOf(m, { rows: r, epsilonMilli: e2 })), { numRuns: 2000 });
  });

  it('arbitrage-free in rows: no split of the rows into parts is cheaper than the whole', () => {
    fc.assert(fc.property(rowSizedModel, fc.array(fc.integer({ min: 0, max: 5_000_000 }), { minLength: 1, maxLength: 8 }), milli, (m, parts, e) => {
      const whole = priceOf(m, { rows: parts.reduce((a, b) => a + b, 0), epsilonMilli: e });
      const split = parts.reduce((s, r) => s + priceOf(m, { rows: r, epsilonMilli: e }), 0);
      return whole <= split;
    }), { numRuns: 2000 });
  });

  it('the property test can fail: an increasing-rate tier table would allow a cheaper split, so the schema refuses it', () => {
    const bad = { kind: 'tiered', tiers: [{ upToRows: 1000, fenPerThousandRows: 1 }, { upToRows: null, fenPerThousandRows: 100 }] };
    expect(PriceModel.safeParse(bad).success).to.equal(false);
    // Evaluated anyway, it really is arbitrage-prone: 2 × 1,000 rows cost less than 2,000 at once.
    const m = bad as PriceModel;
    expect(priceOf(m, { rows: 2000, epsilonMilli: 0 })).to.be.greaterThan(2 * priceOf(m, { rows: 1000, epsilonMilli: 0 }));
  });

  it('known values: per-row rounds up and honours its minimum; tiers use marginal rates; ε in thousandths', () => {
    expect(priceOf({ kind: 'per-row', fenPerThousandRows: 50, minimumFen: 100 }, { rows: 10_001, epsilonMilli: 0 })).to.equal(501);
    expect(priceOf({ kind: 'per-row', fenPerThousandRows: 50, minimumFen: 100 }, { rows: 10, epsilonMilli: 0 })).to.equal(100);
    const tiered = PriceModel.parse({ kind: 'tiered', tiers: [{ upToRows: 1000, fenPerThousandRows: 100 }, { upToRows: 10_000, fenPerThousandRows: 50 }, { upToRows: null, fenPerThousandRows: 10 }] });
    expect(priceOf(tiered, { rows: 20_000, epsilonMilli: 0 })).to.equal(100 + 450 + 100);
    expect(priceOf({ kind: 'epsilon', baseFen: 200, fenPerEpsilon: 1000 }, { rows: 0, epsilonMilli: epsilonToMilli(0.25) })).to.equal(450);
  });

  it('subscription: the first query of a period pays the period, later ones are free, beyond the quota is refused', () => {
    const m = PriceModel.parse({ kind: 'subscription', periodFen: 9900, periodDays: 30, queriesPerPeriod: 3 });
    expect([0, 1, 2].map((u) => priceOf(m, { rows: 5, epsilonMilli: 0, usedInPeriod: u }))).to.deep.equal([9900, 0, 0]);
    expect(() => priceOf(m, { rows: 5, epsilonMilli: 0, usedInPeriod: 3 })).to.throw().with.property('type', 'quota-exhausted');
  });

  it('fee and owner share always sum to the price; fee rounds down', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 10_000 }), (p, bps) => {
      const { ownerShareFen, platformFeeFen } = splitPrice(p, bps);
      return ownerShareFen + platformFeeFen === p && platformFeeFen >= 0 && ownerShareFen >= 0 && platformFeeFen <= Math.floor((p * bps) / 10_000) + 1;
    }));
    expect(splitPrice(999, 1000)).to.deep.equal({ ownerShareFen: 900, platformFeeFen: 99 });
  });

  it('refuses bad sizes and ε finer than 0.001 with typed errors', () => {
    expect(() => priceOf({ kind: 'fixed', perQueryFen: 1 }, { rows: -1, epsilonMilli: 0 })).to.throw().with.property('type', 'invalid-price-basis');
    expect(() => priceOf({ kind: 'fixed', perQueryFen: 1 }, { rows: 1.5, epsilonMilli: 0 })).to.throw().with.property('type', 'invalid-price-basis');
    expect(() => epsilonToMilli(0.0005)).to.throw().with.property('type', 'invalid-epsilon');
    expect(epsilonToMilli(0.1 + 0.2)).to.equal(300);
  });

  it('a refusal charge is ⌊price × bps / 10000⌋: an integer, never above the price, exact for any safe price', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 10_000 }), (price, bps) => {
      const c = refusalChargeOf(price, bps);
      return Number.isSafeInteger(c) && c >= 0 && c <= price && BigInt(c) === (BigInt(price) * BigInt(bps)) / 10_000n && (bps < 10_000 || c === price);
    }), { numRuns: 2000 });
    expect([refusalChargeOf(1_999, 2_500), refusalChargeOf(3_001, 1_500), refusalChargeOf(9_007_199_254_740_991, 9_999)]).to.deep.equal([499, 450, 9_006_298_534_815_516]);
  });
});
