import { expect } from 'chai';
import fc from 'fast-check';
import { isDomainError } from '../../../contracts/errors.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import type { DimPredicate } from '../../../query/predicates.js';
import { withStore } from './state-fixture.js';

/**
 * The guard's block rule against a naive model written from docs/privacy.md §4: every DECLARED cell (one
 * value of every dimension) gets the list of released sets that contain it; cells with one list form a
 * block; a release is refused when some block holds fewer than k distinct subjects — none included — or one
 * subject holds more than 1/k of a block's rows.
 * Random histories of small predicates, with and without subjects that own several rows.
 */
const DIMS = [
  { name: 'a', values: ['a0', 'a1', 'a2'] },
  { name: 'b', values: ['b0', 'b1', 'b2', 'b3'] },
  { name: 'c', values: ['c0', 'c1'] },
];

const holds = (p: DimPredicate, cell: number[]): boolean => {
  if ('all' in p) return true;
  if ('dim' in p) {
    const d = DIMS.findIndex((x) => x.name === p.dim);
    return p.in.includes(DIMS[d]!.values[cell[d]!]!);
  }
  if ('and' in p) return p.and.every((q) => holds(q, cell));
  if ('or' in p) return p.or.some((q) => holds(q, cell));
  return !holds(p.not, cell);
};

const predicate: fc.Arbitrary<DimPredicate> = fc.letrec<{ p: DimPredicate }>((tie) => ({
  p: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...DIMS).chain((d) => fc.subarray(d.values).map((vals): DimPredicate => ({ dim: d.name, in: vals }))),
    fc.array(tie('p'), { minLength: 1, maxLength: 3 }).map((ps): DimPredicate => ({ and: ps })),
    fc.array(tie('p'), { minLength: 1, maxLength: 3 }).map((ps): DimPredicate => ({ or: ps })),
    tie('p').map((p): DimPredicate => ({ not: p })),
  ),
})).p;

describe('differencing guard: the declared-block rule equals a naive model', () => {
  it('answers and refuses exactly as the model, release after release (empty blocks refused)', async () => {
    const ROWS = 30;
    let run = 0;
    // one store for the whole property, a history of its own per run
    await withStore(async (store) => {
      const guard = new DifferencingGuard(store);
      const row = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 11 }));
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.array(row, { minLength: ROWS, maxLength: ROWS }),
          fc.integer({ min: 1, max: 3 }),
          fc.array(fc.array(predicate, { maxLength: 3 }), { minLength: 1, maxLength: 4 }),
          async (withSubjects, data, k, releases) => {
            const datasetId = `d${run++}`;
            const codes = new Map(DIMS.map((d, j) => [d.name, Uint16Array.from(data.map((r) => r[j]!))]));
            const subjects = withSubjects ? Int32Array.from(data.map((r) => r[3]!)) : undefined;
            let history: DimPredicate[] = [];
            for (const sets of releases) {
              const all = [...history, ...sets];
              // naive: every declared cell's signature, then people per signature
              const sigOf = (cell: number[]) => all.map((p) => (holds(p, cell) ? '1' : '0')).join('');
              const people = new Map<string, Set<number>>();
              // rows of each person per signature: no one person may hold more than 1/k of a block's rows
              const rowsOf = new Map<string, number[]>();
              for (let a = 0; a < 3; a++) for (let b = 0; b < 4; b++) for (let c = 0; c < 2; c++) people.set(sigOf([a, b, c]), new Set());
              data.forEach((r, i) => {
                const sig = sigOf([r[0]!, r[1]!, r[2]!]);
                people.get(sig)!.add(withSubjects ? r[3]! : i);
                rowsOf.set(sig, [...(rowsOf.get(sig) ?? []), withSubjects ? r[3]! : i]);
              });
              const dominated = [...rowsOf.values()].some((who) => who.some((p) => who.filter((q) => q === p).length * k > who.length));
              const modelRefuses = [...people.values()].some((s) => s.size < k) || dominated;
              let refused = false;
              try {
                await guard.checkAndRecord({
                  buyerOrgId: 'b',
                  datasetId,
                  k,
                  dimensions: DIMS,
                  rows: { rowCount: ROWS, codes, ...(subjects ? { subjects } : {}) },
                  sets,
                });
              } catch (e) {
                if (!isDomainError(e) || e.type !== 'privacy-differencing-refused') throw e;
                refused = true;
              }
              expect(refused).to.equal(modelRefuses);
              if (!refused) history = all; // a refused release records nothing
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
