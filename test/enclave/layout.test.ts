import { expect } from 'chai';
import fc from 'fast-check';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { columnValue, measureSums, planLayout, ROW_CAP } from '../../he/layout.js';
import { BFV_N4096_T40, maxExactMagnitude } from '../../he/params.js';

/** The HE layout's exactness invariants, independent of SEAL. */
describe('he layout: fixed point, digit columns, exact recombination', () => {
  const schemaWith = (bounds: [number, number], type = 'decimal(2)') =>
    DatasetSchema.parse({ sector: 'credit', columns: [{ name: 'm', type, role: 'measure', level: 2, bounds }] });

  it('small bounds keep single x / x² columns; wide bounds get digits whose ROW_CAP-row sums fit the plain modulus', () => {
    expect(planLayout(schemaWith([-50, 50], 'int'), BFV_N4096_T40).columns.map((c) => c.id)).to.deep.equal(['_count', 'm', 'm^2']);
    const wide = planLayout(schemaWith([-1e9, 1e9]), BFV_N4096_T40).columns.filter((c) => c.limb);
    expect(wide.length).to.be.greaterThan(4);
    for (const c of wide) expect(((1n << BigInt(c.limb!.bits)) - 1n) * ROW_CAP <= maxExactMagnitude(BFV_N4096_T40)).to.equal(true);
  });

  it('Σ over digit columns recombines to exactly Σx and Σx² (fast-check, any bounds and values)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e9, max: 1e9 }),
        fc.integer({ min: 0, max: 2e9 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }),
        (lo, span, picks) => {
          const schema = schemaWith([lo / 100, (lo + span) / 100]);
          const layout = planLayout(schema, BFV_N4096_T40);
          const xs = picks.map((p) => BigInt(lo + Math.floor(p * span)));
          const totals: Record<string, bigint> = { _count: BigInt(xs.length) };
          for (const c of layout.columns) if (c.power > 0) totals[c.id] = xs.reduce((s, x) => s + columnValue(c, x), 0n);
          const { s1, s2 } = measureSums(layout, 'm', BigInt(xs.length), totals);
          return s1 === xs.reduce((s, x) => s + x, 0n) && s2 === xs.reduce((s, x) => s + x * x, 0n);
        },
      ),
      { numRuns: 300 },
    );
  });
});
