import { expect } from 'chai';
import { isDomainError } from '../../../contracts/errors.js';
import { RECORDED_REFUSALS } from '../../../enclave/privacy/ledger.js';
import { declaredBlocks, DifferencingGuard, keptRows, MAX_CLASS_CELLS, type GuardRows } from '../../../enclave/privacy/differencing.js';
import type { DimPredicate } from '../../../query/predicates.js';
import { closeTestStates, outcomeOf, testStore } from './state-fixture.js';

const BANDS = Array.from({ length: 16 }, (_, i) => `b${String(i).padStart(2, '0')}`);
const DIMS = [
  { name: 'district', values: ['D1', 'D2', 'D3', 'D4', 'D5', 'D6'] },
  { name: 'plan', values: ['basic', 'plus', 'pro'] },
  { name: 'band', values: BANDS },
];
const typeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (!isDomainError(e)) throw e;
    return e.type;
  }
};

describe('differencing guard: declared class-cells and blocks', () => {
  afterEach(closeTestStates);
  it('classes: values no atom tells apart share a class; unmentioned dimensions are free', () => {
    const b = declaredBlocks(
      [
        { dim: 'district', in: ['D1', 'D2'] },
        { not: { dim: 'district', in: ['D2', 'D3'] } },
      ],
      DIMS,
    );
    expect(b.dims.map((d) => d.name)).to.deep.equal(['district']);
    // D1: in both atoms' first only; D2: both; D3: second only; D4..D6: neither
    const cls = [...b.dims[0]!.classOf];
    expect(cls[3]).to.equal(cls[4]).and.equal(cls[5]);
    expect(new Set(cls.slice(0, 4)).size).to.equal(4);
    expect(b.cells).to.equal(4);
    // signatures: D1 ∈ {1,2}, D2 ∈ {1}, D3 ∈ {}, D4-6 ∈ {2}: four blocks, one of them "in no set"
    expect(b.blocks).to.equal(4);
  });

  it('a block exists whenever a declared class-cell has its signature, and the product of classes is capped', async () => {
    const b = declaredBlocks([{ and: [{ dim: 'district', in: ['D6'] }, { dim: 'plan', in: ['pro'] }] }], DIMS);
    expect(b.cells).to.equal(4);
    expect(b.blocks).to.equal(2); // (D6, pro) and everything else
    // every value of three dimensions in its own class: 6 · 3 · 16 = 288 cells
    const each = DIMS.flatMap((d) => d.values.map((v): DimPredicate => ({ dim: d.name, in: [v] })));
    expect(declaredBlocks(each, DIMS).cells).to.equal(288);
    const wide = Array.from({ length: 5 }, (_, i) => ({ name: `w${i}`, values: Array.from({ length: 12 }, (_, j) => `v${j}`) }));
    const split = wide.flatMap((d) => d.values.map((v): DimPredicate => ({ dim: d.name, in: [v] })));
    expect(12 ** 5).to.be.greaterThan(MAX_CLASS_CELLS);
    expect(typeOf(() => declaredBlocks(split, wide))).to.equal('privacy-history-too-complex');
    // decided from the queries alone: before any row is read (these rows have no codes at all), and not a
    // recorded (charged-against-the-allowance) refusal
    const guard = new DifferencingGuard(await testStore());
    const noRows: GuardRows = { rowCount: 3, codes: new Map() };
    expect(await outcomeOf(() => guard.checkAndRecord({ buyerOrgId: 'b', datasetId: 'd', k: 2, dimensions: wide, rows: noRows, sets: split }))).to.equal('privacy-history-too-complex');
    expect(RECORDED_REFUSALS.has('privacy-history-too-complex')).to.equal(false);
    expect(await guard.history('b', 'd')).to.deep.equal([]);
  });

  it('an empty declared block is refused like a block of one person; ≥ k people pass', async () => {
    const rows = (cells: [number, number, number][]): GuardRows => ({
      rowCount: cells.length,
      codes: new Map(DIMS.map((d, j) => [d.name, Uint16Array.from(cells.map((c) => c[j]!))])),
    });
    const many = Array.from({ length: 40 }, (_, i): [number, number, number] => [i % 5, i % 3, i % 16]); // no one in D6
    const check = async (cells: [number, number, number][], sets: DimPredicate[]) =>
      outcomeOf(async () => new DifferencingGuard(await testStore()).checkAndRecord({ buyerOrgId: 'b', datasetId: 'd', k: 3, dimensions: DIMS, rows: rows(cells), sets }));
    const notD6: DimPredicate = { not: { dim: 'district', in: ['D6'] } };
    expect(await check(many, [notD6]), 'D6 empty').to.equal('privacy-differencing-refused');
    expect(await check([...many, [5, 0, 0]], [notD6]), 'D6 one person').to.equal('privacy-differencing-refused');
    expect(await check([...many, [5, 0, 0], [5, 1, 1], [5, 2, 2]], [notD6]), 'D6 three people').to.equal('ok');
    expect(await check(many, [{ all: true }])).to.equal('ok');
  });

  it('elimination scan: refused at the same step whether the cell is empty or holds the target, wherever the target is', async () => {
    const K = 5;
    // 600 people spread over every (district, plan, band) except the target's (D6, pro, ·), which holds only the target
    const base: [number, number, number][] = [];
    for (let i = 0; base.length < 600; i++) {
      const c: [number, number, number] = [i % 6, Math.floor(i / 6) % 3, Math.floor(i / 18) % 16];
      if (c[0] !== 5 || c[1] !== 2) base.push(c);
    }
    const cell = (bands: string[]): DimPredicate => ({ and: [{ dim: 'district', in: ['D6'] }, { dim: 'plan', in: ['pro'] }, { dim: 'band', in: bands }] });
    const scan = async (target: number | null): Promise<string[]> => {
      const cells = target === null ? base : [...base, [5, 2, target] as [number, number, number]];
      const rows: GuardRows = { rowCount: cells.length, codes: new Map(DIMS.map((d, j) => [d.name, Uint16Array.from(cells.map((c) => c[j]!))])) };
      const guard = new DifferencingGuard(await testStore());
      const run = (sets: DimPredicate[]) => outcomeOf(() => guard.checkAndRecord({ buyerOrgId: '*', datasetId: 'c', k: K, dimensions: DIMS, rows, sets }));
      const out = [await run([{ all: true }])];
      for (const b of BANDS) out.push(await run([{ not: cell([b]) }]));
      return out;
    };
    const empty = await scan(null);
    expect(empty[0]).to.equal('ok');
    expect(empty.slice(1).every((t) => t === 'privacy-differencing-refused')).to.equal(true);
    for (const t of [0, 3, 12, 15]) expect(await scan(t), `target in ${BANDS[t]}`).to.deep.equal(empty);
  });

  it("people are counted over each person's first m rows: rows beyond the cap feed no block", async () => {
    // person 0: first row in D1, second in D6; D6 otherwise holds persons 1..2 (k = 3)
    const cells = [0, 5, 5, 5, ...Array.from({ length: 30 }, (_, i) => i % 5)];
    const subjects = Int32Array.from([0, 0, 1, 2, ...Array.from({ length: 30 }, (_, i) => 3 + i)]);
    const dims = [DIMS[0]!];
    const check = async (m: number) =>
      outcomeOf(async () =>
        new DifferencingGuard(await testStore()).checkAndRecord({
          buyerOrgId: 'b',
          datasetId: 'd',
          k: 3,
          dimensions: dims,
          rows: { rowCount: cells.length, codes: new Map([['district', Uint16Array.from(cells)]]), subjects, kept: keptRows(subjects, cells.length, m)! },
          sets: [{ dim: 'district', in: ['D6'] }],
        }),
      );
    expect(await check(2)).to.equal('ok');
    expect(await check(1)).to.equal('privacy-differencing-refused');
    expect([...keptRows(subjects, cells.length, 1)!.slice(0, 4)]).to.deep.equal([1, 0, 1, 1]);
  });

  it('1M rows: the check stays cheap (typed arrays, one pass)', async function () {
    this.timeout(60_000);
    const N = 1_000_000;
    const dims = [
      { name: 'region', values: Array.from({ length: 30 }, (_, i) => `r${i}`) },
      { name: 'age', values: Array.from({ length: 10 }, (_, i) => `a${i}`) },
      { name: 'sex', values: ['f', 'm'] },
      { name: 'year', values: Array.from({ length: 8 }, (_, i) => `y${i}`) },
    ];
    let s = 12345;
    const rnd = (n: number) => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), Math.floor((s / 4294967296) * n));
    const codes = new Map(dims.map((d) => [d.name, new Uint16Array(N)]));
    for (let r = 0; r < N; r++) for (const d of dims) codes.get(d.name)![r] = rnd(d.values.length);
    const subjects = new Int32Array(N);
    for (let r = 0; r < N; r++) subjects[r] = Math.floor(r * 0.7);
    const guard = new DifferencingGuard(await testStore());
    const times: number[] = [];
    // a history of grouped releases: region × age, then sex × year within two regions
    const releases: DimPredicate[][] = [
      [{ all: true }],
      dims[0]!.values.map((v): DimPredicate => ({ dim: 'region', in: [v] })),
      dims[1]!.values.flatMap((a) => dims[2]!.values.map((x): DimPredicate => ({ and: [{ dim: 'age', in: [a] }, { dim: 'sex', in: [x] }] }))),
      dims[3]!.values.map((y): DimPredicate => ({ and: [{ dim: 'region', in: ['r1', 'r2'] }, { dim: 'year', in: [y] }] })),
    ];
    let info = { blocks: 0, classCells: 0 };
    for (const sets of releases) {
      const t0 = performance.now(); // the per-release work: the first-m rule over the map, then the guard
      const rows: GuardRows = { rowCount: N, codes, subjects, kept: keptRows(subjects, N, 1)! };
      info = await guard.checkAndRecord({ buyerOrgId: '*', datasetId: 'big', k: 5, dimensions: dims, rows, sets });
      times.push(performance.now() - t0);
    }
    console.log(`      guard on 1M rows (700k people, m = 1): ${times.map((t) => t.toFixed(0)).join(' / ')} ms per release; last: ${info.classCells} class-cells, ${info.blocks} blocks`);
    expect(Math.max(...times)).to.be.lessThan(5000);
  });
});
