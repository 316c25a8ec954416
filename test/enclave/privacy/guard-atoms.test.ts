import { expect } from 'chai';
import fc from 'fast-check';
import { isDomainError } from '../../../contracts/errors.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import { guardRowsOf, type RowMap } from '../../../enclave/privacy/row-map.js';
import type { DimPredicate } from '../../../query/predicates.js';
import { withStore } from './state-fixture.js';

/**
 * Where no person has more than one row, the guard counts people per block over the rows' distinct code
 * combinations (atoms, guardRowsOf) instead of over every row. The two must answer alike: random maps and
 * random histories, one guard fed the atoms and one fed only the rows.
 */
const DIMS = [
  { name: 'a', values: ['a0', 'a1', 'a2'] },
  { name: 'b', values: ['b0', 'b1', 'b2', 'b3'] },
];

const atom: fc.Arbitrary<DimPredicate> = fc
  .constantFrom(...DIMS)
  .chain((d) => fc.subarray(d.values, { minLength: 1 }).map((vals): DimPredicate => ({ dim: d.name, in: vals })));
const predicate: fc.Arbitrary<DimPredicate> = fc.oneof(
  atom,
  fc.array(atom, { minLength: 1, maxLength: 2 }).map((ps): DimPredicate => ({ and: ps })),
  atom.map((p): DimPredicate => ({ not: p })),
);

const outcome = async (guard: DifferencingGuard, datasetId: string, rows: ReturnType<typeof guardRowsOf>, sets: DimPredicate[]): Promise<string> => {
  try {
    const r = await guard.checkAndRecord({ buyerOrgId: 'b', datasetId, k: 3, dimensions: DIMS, rows, sets });
    return `released ${r.blocks}`;
  } catch (e) {
    if (isDomainError(e)) return e.type;
    throw e;
  }
};

describe('differencing guard: counting per code combination equals counting per row', () => {
  it('same answers, release after release, with and without subject numbers', async () => {
    // one store per guard for the whole property, a history of its own per run
    let run = 0;
    await withStore((sa) =>
      withStore(async (sb) => {
        const a = new DifferencingGuard(sa);
        const b = new DifferencingGuard(sb);
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.nat(2), fc.nat(3)), { minLength: 1, maxLength: 60 }),
            fc.boolean(),
            fc.array(fc.array(predicate, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }),
            async (cells, withSubjects, releases) => {
              const n = cells.length;
              const map: RowMap = {
                partition: new Int32Array(n),
                dimensions: [
                  { name: 'a', codes: Uint16Array.from(cells, (c) => c[0]) },
                  { name: 'b', codes: Uint16Array.from(cells, (c) => c[1]) },
                ],
                // one row per person: distinct subject numbers
                ...(withSubjects ? { subjects: Int32Array.from(cells, (_, i) => n - 1 - i) } : {}),
              };
              const withAtoms = guardRowsOf(map, 1);
              expect(withAtoms.atoms, 'atoms given').to.not.equal(undefined);
              const { atoms: _atoms, ...perRow } = withAtoms;
              const d = `d${run++}`;
              for (const sets of releases) expect(await outcome(a, d, withAtoms, sets)).to.equal(await outcome(b, d, perRow, sets));
            },
          ),
          { numRuns: 150 },
        );
      }),
    );
  });

  it('no atoms when some person has several rows', () => {
    const map: RowMap = { partition: new Int32Array(3), subjects: Int32Array.from([0, 0, 1]), dimensions: [{ name: 'a', codes: Uint16Array.from([0, 1, 2]) }] };
    expect(guardRowsOf(map, 1).atoms).to.equal(undefined);
    expect(guardRowsOf(map, 1).kept).to.deep.equal(Uint8Array.from([1, 0, 1]));
  });
});
