import { expect } from 'chai';
import fc from 'fast-check';
import { heGroupSizes } from '../../../enclave/privacy/row-map.js';

/** heGroupSizes (k on people for HE releases) against a naive model: a Set of subjects per group. */
describe('heGroupSizes: rows and distinct people per HE group', () => {
  it('equals the naive per-group row count and Set of subjects, for any map and any plan of disjoint groups', () => {
    const input = fc
      .record({ partitions: fc.integer({ min: 1, max: 12 }), subjects: fc.integer({ min: 1, max: 30 }), groups: fc.integer({ min: 1, max: 5 }) })
      .chain(({ partitions, subjects, groups }) =>
        fc.record({
          partitionCount: fc.constant(partitions),
          rows: fc.array(fc.tuple(fc.integer({ min: -1, max: partitions }), fc.integer({ min: 0, max: subjects - 1 })), { maxLength: 200 }),
          // each partition in at most one group (−1: filtered out), as the HE layout plans them
          groupOf: fc.array(fc.integer({ min: -1, max: groups - 1 }), { minLength: partitions, maxLength: partitions }),
          groups: fc.constant(groups),
          withSubjects: fc.boolean(),
        }),
      );
    fc.assert(
      fc.property(input, ({ partitionCount, rows, groupOf, groups, withSubjects }) => {
        const plan = { groups: Array.from({ length: groups }, (_, g) => ({ key: [g], partitions: groupOf.flatMap((x, p) => (x === g ? [p] : [])) })) };
        const map = { partition: Int32Array.from(rows.map((r) => r[0])), ...(withSubjects ? { subjects: Int32Array.from(rows.map((r) => r[1])) } : {}) };
        const got = heGroupSizes(plan, map, partitionCount);
        const inGroup = (p: number) => (p >= 0 && p < partitionCount ? groupOf[p]! : -1);
        const want = plan.groups.map((_, g) => rows.filter((r) => inGroup(r[0]) === g));
        expect(got.rows).to.deep.equal(want.map((w) => w.length));
        if (withSubjects) expect(got.subjects).to.deep.equal(want.map((w) => new Set(w.map((r) => r[1])).size));
        else expect(got.subjects).to.equal(undefined);
      }),
      { numRuns: 300 },
    );
  });
});
