import { expect } from 'chai';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { isDomainError } from '../../../contracts/errors.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';

/**
 * The guard's block rule against a naive model written from docs/privacy.md §4: a row's label is the list of
 * (release, group, mask) sets it was in; a release is refused when some label's rows hold 1..k−1 distinct
 * subjects. Random histories of small releases, with and without subjects that own several rows.
 */
describe('differencing guard: the block rule equals a naive model', () => {
  it('answers and refuses exactly as the model, release after release', () => {
    const release = fc.record({
      entries: fc.array(fc.record({ row: fc.integer({ min: 1, max: 24 }), group: fc.integer({ min: 0, max: 3 }), mask: fc.integer({ min: 1, max: 3 }) }), { maxLength: 30 }),
      released: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 24, maxLength: 24 }), fc.integer({ min: 1, max: 4 }), fc.array(release, { minLength: 1, maxLength: 5 }), (withSubjects, subjectOf, k, releases) => {
        const guard = new DifferencingGuard(new Database(':memory:'));
        const rowCount = 24;
        let model: string[] = Array.from({ length: rowCount }, () => '');
        for (const rel of releases) {
          // one entry per row (the last wins), as both release paths produce
          const byRow = new Map<number, { group: number; mask: number }>();
          for (const e of rel.entries) byRow.set(e.row, e);
          const released = new Set(rel.released);
          const next = model.map((label, r) => {
            const e = byRow.get(r + 1);
            return e && released.has(e.group) ? `${label}|${e.group}:${e.mask}` : `${label}|-`;
          });
          const people = new Map<string, Set<number>>();
          next.forEach((label, r) => {
            if (!people.has(label)) people.set(label, new Set());
            people.get(label)!.add(withSubjects ? subjectOf[r]! : r);
          });
          const modelRefuses = [...people.values()].some((s) => s.size > 0 && s.size < k);
          const rowsOf = [...byRow.keys()];
          let refused = false;
          try {
            guard.checkAndRecord({
              buyerOrgId: 'b',
              datasetId: 'd',
              rowCount,
              k,
              ...(withSubjects ? { subjects: Int32Array.from(subjectOf) } : {}),
              membership: {
                row: Int32Array.from(rowsOf),
                group: Int32Array.from(rowsOf.map((r) => byRow.get(r)!.group)),
                mask: Int32Array.from(rowsOf.map((r) => byRow.get(r)!.mask)),
              },
              releasedGroups: released,
            });
          } catch (e) {
            if (!isDomainError(e) || e.type !== 'privacy-differencing-refused') throw e;
            refused = true;
          }
          expect(refused).to.equal(modelRefuses);
          if (!refused) model = next; // a refused release records nothing
        }
      }),
      { numRuns: 300 },
    );
  });
});
