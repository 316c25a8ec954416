import { expect } from 'chai';
import fc from 'fast-check';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { runSqlInSandbox, threadsOf, type SandboxInput, type SandboxOutput } from '../../../enclave/sandbox/sandbox.js';
import { newKeys, schema, sealRows } from './fixture.js';
import { compareRandomQueries, DP_OUTPUT, EXACT_OUTPUT, sqlRow, type Row } from './random-queries.js';

/**
 * Slices run in two slice threads at once against the same slices one after another in the worker: the
 * same random queries (exact and DP plans the validator accepts) over the same sealed rows, with slice
 * sizes that cut several slices, give identical results — every value to the last bit, because the cap,
 * the subject bound and the slice cuts are decided in dataset order and the partials merged in slice order.
 */
describe('SQL sandbox: parallel slice threads equal one thread (fast-check)', function () {
  this.timeout(300_000);
  const keys = newKeys();

  const data = fc.record({
    rows: fc.array(sqlRow(fc.constantFrom('P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7', 'P8', 'P9')), { minLength: 60, maxLength: 200 }),
    perChunk: fc.integer({ min: 3, max: 25 }),
    sliceRows: fc.integer({ min: 1, max: 40 }),
    maxRowsPerPerson: fc.constantFrom(1, 2, 3),
    minGroupSize: fc.constantFrom(1, 3, 10),
  });

  async function compare(q: string, mode: SqlMode, d: { rows: Row[]; perChunk: number; sliceRows: number; maxRowsPerPerson: number; minGroupSize: number }): Promise<SandboxOutput | undefined> {
    const v = validateSql(q, schema, { mode });
    if (!v.ok) return undefined;
    const input: SandboxInput = {
      schema,
      chunks: sealRows(d.rows, keys.publicKey, d.perChunk),
      unwrapPrivateKey: keys.privateKey,
      plan: v.plan,
      columns: [...v.columnsUsed, 'person_id'],
      maxRowsPerPerson: d.maxRowsPerPerson,
      ...(mode === 'exact' ? { minGroupSize: d.minGroupSize } : {}),
      sliceRows: d.sliceRows,
    };
    const one = await runSqlInSandbox({ ...input, threads: 1 });
    const two = await runSqlInSandbox({ ...input, threads: 2 });
    expect(two.columns, q).to.deep.equal(one.columns);
    expect(two.rows, q).to.deep.equal(one.rows);
    for (const k of ['rowsLoaded', 'rowsCapped', 'slices', 'subjectsCount', 'partitionFallback'] as const) expect(two.stats[k], `${q}: ${k}`).to.deep.equal(one.stats[k]);
    expect(one.stats).to.not.have.property('threads');
    // a second thread starts only for a second slice
    if (v.plan.partition) expect(two.stats.threads).to.equal(Math.min(2, two.stats.slices!));
    return two;
  }

  /** `numRuns` random queries of `outputs` compared; how many were accepted, cut in 3+ slices, and ran in slice threads */
  async function property(mode: SqlMode, outputs: fc.Arbitrary<string>, numRuns: number): Promise<{ ran: number; several: number; parallel: number }> {
    const outs = await compareRandomQueries(outputs, data, (q, d) => compare(q, mode, d), numRuns);
    return { ran: outs.length, several: outs.filter((o) => (o.stats.slices ?? 0) > 2).length, parallel: outs.filter((o) => o.stats.threads === 2).length };
  }

  it('exact plans: GROUP BY, COUNT, SUM, AVG, TOTAL and arithmetic on them, k on people, per-person cap', async () => {
    const n = await property('exact', EXACT_OUTPUT, 30);
    expect(n.ran, 'accepted queries compared').to.be.greaterThan(15);
    expect(n.several, 'runs of three slices or more').to.be.greaterThan(5);
  });

  it('DP plans: clamped SUM, TOTAL, AVG, COUNT, MIN and MAX before noise; COUNT(DISTINCT …) in one database', async () => {
    // one output in five a COUNT(DISTINCT …), which does not decompose (its query runs in one database); about
    // two queries in three have none and run in slice threads, so fewer than five of twenty is a real defect
    const call = fc.oneof({ arbitrary: DP_OUTPUT, weight: 4 }, { arbitrary: fc.constant('COUNT(DISTINCT nights)'), weight: 1 });
    const n = await property('dp', call, 20);
    expect(n.ran, 'accepted queries compared').to.be.greaterThan(15);
    expect(n.parallel, 'runs in slice threads').to.be.greaterThan(4);
  });

  it('SHUYU_SANDBOX_THREADS sets the default; the caller’s value wins; out of range is clamped', () => {
    const saved = process.env.SHUYU_SANDBOX_THREADS;
    try {
      delete process.env.SHUYU_SANDBOX_THREADS;
      expect(threadsOf({})).to.equal(1);
      process.env.SHUYU_SANDBOX_THREADS = '2';
      expect(threadsOf({})).to.equal(2);
      expect(threadsOf({ threads: 1 })).to.equal(1);
      process.env.SHUYU_SANDBOX_THREADS = 'many';
      expect(threadsOf({})).to.equal(1);
      expect(threadsOf({ threads: 0 })).to.equal(1);
      expect(threadsOf({ threads: 99 })).to.equal(16);
    } finally {
      if (saved === undefined) delete process.env.SHUYU_SANDBOX_THREADS;
      else process.env.SHUYU_SANDBOX_THREADS = saved;
    }
  });

  it('a slice thread that fails fails the run with a typed error (SQLite heap limit per thread)', async () => {
    const v = validateSql('SELECT region, channel, COUNT(*) AS n FROM dataset GROUP BY region, channel', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    const rows: Row[] = Array.from({ length: 30_000 }, (_, i) => [`P${i}`, 'north', 'web', 1, 1, `a long name to fill the pages ${'x'.repeat(200)} ${i}`]);
    const chunks = sealRows(rows, keys.publicKey, 2_000);
    const err = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, sliceRows: 10_000, threads: 2, limits: { maxSqliteHeapMb: 2 } }).catch((e: unknown) => e);
    expect(err).to.have.property('type', 'sql-resource-limit');
  });
});
