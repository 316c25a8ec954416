import { expect } from 'chai';
import { isDomainError } from '../../../contracts/errors.js';
import { declaredBlocks, DifferencingGuard, MAX_CLASS_CELLS, type GuardRows, type PlannedSets } from '../../../enclave/privacy/differencing.js';
import type { DimPredicate } from '../../../query/predicates.js';
import { closeTestStates, testStore } from './state-fixture.js';
import { ENGINES } from '../../store/engines.js';

/**
 * `privacy-history-too-complex` is neither recorded nor charged, so it must follow from the buyers' queries
 * alone: the classes and the caps come from every PLANNED group of each release, not from the groups that
 * happened to pass k.
 */
const N = 320; // 320 × 320 declared (a, b) cells exceed the class-cell cap
const A = Array.from({ length: N }, (_, i) => `a${i}`);
const B = Array.from({ length: N }, (_, i) => `b${i}`);
const DIMS = [
  { name: 'a', values: A },
  { name: 'b', values: B },
];
const K = 5;

/** Rows as (a code, b code), K people each; every row is a person. */
function rowsOf(cells: [number, number][]): GuardRows {
  const a: number[] = [];
  const b: number[] = [];
  for (const [x, y] of cells) for (let i = 0; i < K; i++) (a.push(x), b.push(y));
  return { rowCount: a.length, codes: new Map([['a', Uint16Array.from(a)], ['b', Uint16Array.from(b)]]) };
}

/** One exact "GROUP BY dim" release as the gate runs it: groups below k withheld, the rest checked and recorded. */
async function release(guard: DifferencingGuard, rows: GuardRows, dim: 'a' | 'b'): Promise<string> {
  const codes = rows.codes.get(dim)!;
  const people = new Map<number, number>();
  for (const c of codes) people.set(c, (people.get(c) ?? 0) + 1);
  const values = dim === 'a' ? A : B;
  const sets: DimPredicate[] = [...people].filter(([, n]) => n >= K).map(([c]) => ({ dim, in: [values[c]!] }));
  if (sets.length === 0) return 'privacy-all-withheld';
  const planned: PlannedSets = { groupBy: [dim], predicates: [], setsPerGroup: 1 };
  try {
    await guard.checkAndRecord({ buyerOrgId: '*', datasetId: 'd', k: K, dimensions: DIMS, rows, sets, planned });
    return 'released';
  } catch (e) {
    if (!isDomainError(e)) throw e;
    return e.type;
  }
}

for (const engine of ENGINES) describe(`differencing guard: the complexity caps depend on the queries alone [${engine}]`, () => {
  afterEach(closeTestStates);
  it('two datasets of one schema, different data: the same too-complex decision for the same queries', async () => {
    // dense: person groups on the diagonal, every a and every b value holds k people
    const dense = rowsOf(A.map((_, i) => [i, i]));
    // sparse in b: every a value holds k people, all of them in b0
    const sparse = rowsOf(A.map((_, i) => [i, 0]));
    const decisions: string[][] = [];
    for (const rows of [dense, sparse]) {
      const guard = new DifferencingGuard(await testStore(engine));
      decisions.push([await release(guard, rows, 'a'), await release(guard, rows, 'b')]);
    }
    // GROUP BY a passes on both; GROUP BY b plans 320 × 320 class-cells on both, however many b groups pass k
    expect(decisions[0]).to.deep.equal(['released', 'privacy-history-too-complex']);
    expect(decisions[1]).to.deep.equal(decisions[0]);
  });

  it('the plan survives in the history: a later release is capped by earlier planned groups that were withheld', async () => {
    const db = await testStore(engine);
    // "GROUP BY a" releases a0 and a1 (a2's people sit in the block of every other value): it planned all of a
    const rows = rowsOf([[0, 0], [1, 0], [2, 0]]);
    const first = new DifferencingGuard(db);
    const sets: DimPredicate[] = [{ dim: 'a', in: ['a0'] }, { dim: 'a', in: ['a1'] }];
    await first.checkAndRecord({ buyerOrgId: '*', datasetId: 'd', k: K, dimensions: DIMS, rows, sets, planned: { groupBy: ['a'], predicates: [], setsPerGroup: 1 } });
    // a fresh guard on the same database (a restart): "GROUP BY b" plans b's 320 values against a's 320
    const again = new DifferencingGuard(db);
    let type = 'released';
    try {
      await again.checkAndRecord({ buyerOrgId: '*', datasetId: 'd', k: K, dimensions: DIMS, rows, sets: [{ dim: 'b', in: ['b0'] }], planned: { groupBy: ['b'], predicates: [], setsPerGroup: 1 } });
    } catch (e) {
      type = isDomainError(e) ? e.type : String(e);
    }
    expect(type).to.equal('privacy-history-too-complex');
  });

  it('a planned partition refines the released sets’ classes without changing their blocks', () => {
    const sets: DimPredicate[] = [{ dim: 'a', in: ['a0', 'a1'] }, { and: [{ dim: 'a', in: ['a0'] }, { dim: 'b', in: ['b3'] }] }];
    const plain = declaredBlocks(sets, DIMS);
    const small = [{ name: 'a', values: A.slice(0, 8) }, { name: 'b', values: B.slice(0, 8) }];
    const refined = declaredBlocks(sets, small, { split: ['a'], predicates: [{ dim: 'b', in: ['b3', 'b4'] }], nodes: 10 });
    const coarse = declaredBlocks(sets, small);
    expect(plain.blocks).to.equal(coarse.blocks);
    expect(refined.blocks).to.equal(coarse.blocks);
    expect(refined.cells).to.be.greaterThan(coarse.cells);
    expect(refined.cells).to.be.at.most(MAX_CLASS_CELLS);
    // the same class-cell in both partitions has the same signature, so the same block up to renaming
    const cellOf = (b: typeof refined, a: number, bb: number) => b.dims.reduce((acc, d) => acc + d.classOf[d.name === 'a' ? a : bb]! * d.stride, 0);
    const pairs = new Map<number, number>();
    for (let a = 0; a < 8; a++) {
      for (let bb = 0; bb < 8; bb++) {
        const r = refined.blockOfCell[cellOf(refined, a, bb)]!;
        const c = coarse.blockOfCell[cellOf(coarse, a, bb)]!;
        if (pairs.has(r)) expect(pairs.get(r)).to.equal(c);
        pairs.set(r, c);
      }
    }
  });
});
