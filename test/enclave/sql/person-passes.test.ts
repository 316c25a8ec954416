import { expect } from 'chai';
import fc from 'fast-check';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { peoplePerPassOf, runSqlInSandbox, type SandboxInput, type SandboxOutput } from '../../../enclave/sandbox/sandbox.js';
import { newKeys, schema, sealRows } from './fixture.js';
import { compareRandomQueries, DP_OUTPUT, EXACT_OUTPUT, expectSameRows, sqlRow, type Row } from './random-queries.js';

/**
 * A partitioned run split by person (more rows than one pass holds people for): every pass reads all the
 * chunks and keeps only its own people, so the row cap and k's identifier sets hold a share of them. The
 * same random queries over the same sealed rows give the one-database answer (floating sums within 1e-12
 * relative, everything else identical: the same rows capped, the same people counted), and one thread and
 * two slice threads give the same bits.
 */
describe('SQL sandbox split by person: passes equal one database (fast-check)', function () {
  this.timeout(300_000);
  const keys = newKeys();

  const data = fc.record({
    rows: fc.array(sqlRow(fc.integer({ min: 1, max: 40 }).map((i) => `P${i}`)), { minLength: 60, maxLength: 200 }),
    perChunk: fc.integer({ min: 3, max: 25 }),
    sliceRows: fc.integer({ min: 1, max: 60 }),
    peoplePerPass: fc.integer({ min: 20, max: 70 }),
    maxRowsPerPerson: fc.constantFrom(1, 2, 3),
    minGroupSize: fc.constantFrom(1, 3, 10),
  });

  async function compare(q: string, mode: SqlMode, d: { rows: Row[]; perChunk: number; sliceRows: number; peoplePerPass: number; maxRowsPerPerson: number; minGroupSize: number }): Promise<SandboxOutput | undefined> {
    const v = validateSql(q, schema, { mode });
    if (!v.ok) return undefined;
    const input: SandboxInput = {
      schema,
      chunks: sealRows(d.rows, keys.publicKey, d.perChunk),
      rows: d.rows.length,
      unwrapPrivateKey: keys.privateKey,
      plan: v.plan,
      columns: [...v.columnsUsed, 'person_id'],
      maxRowsPerPerson: d.maxRowsPerPerson,
      ...(mode === 'exact' ? { minGroupSize: d.minGroupSize } : {}),
      peoplePerPass: d.peoplePerPass,
    };
    const single = await runSqlInSandbox({ ...input, sliceRows: 0 });
    const one = await runSqlInSandbox({ ...input, sliceRows: d.sliceRows, threads: 1 });
    const two = await runSqlInSandbox({ ...input, sliceRows: d.sliceRows, threads: 2 });
    expectSameRows(q, one, single);
    expect(two.rows, q).to.deep.equal(one.rows);
    for (const k of ['rowsLoaded', 'rowsCapped', 'subjectsCount'] as const) expect(one.stats[k], `${q}: ${k}`).to.deep.equal(single.stats[k]);
    for (const k of ['rowsLoaded', 'rowsCapped', 'slices', 'personPasses', 'subjectsCount', 'partitionFallback'] as const) expect(two.stats[k], `${q}: ${k}`).to.deep.equal(one.stats[k]);
    const passes = Math.ceil(d.rows.length / d.peoplePerPass);
    if (v.plan.partition && passes > 1) expect(one.stats.personPasses, q).to.equal(passes);
    else expect(one.stats, q).to.not.have.property('personPasses');
    return one;
  }

  /** `numRuns` random queries of `outputs` compared; how many were accepted, and ran in two passes or more */
  async function property(mode: SqlMode, outputs: fc.Arbitrary<string>, numRuns: number): Promise<{ ran: number; passes: number }> {
    const outs = await compareRandomQueries(outputs, data, (q, d) => compare(q, mode, d), numRuns);
    return { ran: outs.length, passes: outs.filter((o) => (o.stats.personPasses ?? 1) > 1).length };
  }

  it('exact plans: k on people counted pass by pass, the per-person cap, arithmetic on aggregates', async () => {
    const n = await property('exact', EXACT_OUTPUT, 10);
    expect(n.ran, 'accepted queries compared').to.be.greaterThan(5);
    expect(n.passes, 'runs in two passes or more').to.be.greaterThan(3);
  });

  it('DP plans: clamped sums, means, MIN and MAX before noise', async () => {
    const n = await property('dp', DP_OUTPUT, 7);
    expect(n.ran, 'accepted queries compared').to.be.greaterThan(4);
    expect(n.passes, 'runs in two passes or more').to.be.greaterThan(2);
  });

  it('identifiers SQLite may store as one text though the passes tell them apart: one database again', async () => {
    const rows: Row[] = Array.from({ length: 400 }, (_, i) => [i % 4 === 0 ? 0.1 + 0.2 : i + 0.5, 'north', 'web', 1, 1, 'n']);
    const more: Row[] = Array.from({ length: 400 }, (_, i) => [i % 4 === 0 ? '0.3' : `P${i}`, 'south', 'web', 1, 1, 'n']);
    const v = validateSql('SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    // a chunk's column is all numbers or all text: the two kinds in chunks of their own
    const chunks = [...sealRows(rows, keys.publicKey, 100), ...sealRows(more, keys.publicKey, 100)];
    const input: SandboxInput = { schema, chunks, rows: 800, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: ['region', 'person_id'], maxRowsPerPerson: 2, minGroupSize: 1 };
    const single = await runSqlInSandbox({ ...input, sliceRows: 0 });
    const passes = await runSqlInSandbox({ ...input, sliceRows: 150, peoplePerPass: 300 });
    expect(passes.stats.partitionFallback).to.match(/identifier/);
    expect(passes.rows).to.deep.equal(single.rows);
  });

  it("the row cap's table follows the people per pass, not the dataset's people", async () => {
    const v = validateSql('SELECT region, COUNT(*) AS n, SUM(nights) AS s FROM dataset GROUP BY region', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    const rows: Row[] = Array.from({ length: 40_000 }, (_, i) => [`person-${String(i % 36_000).padStart(9, '0')}`, ['north', 'south', 'east'][i % 3]!, 'web', 1, i % 31, 'n']);
    const input: SandboxInput = { schema, chunks: sealRows(rows, keys.publicKey, 2_000), rows: rows.length, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: ['region', 'nights', 'person_id'], maxRowsPerPerson: 1, minGroupSize: 5, sliceRows: 10_000 };
    const one = await runSqlInSandbox(input);
    const four = await runSqlInSandbox({ ...input, peoplePerPass: 10_000 });
    expect(one.stats).to.not.have.property('personPasses');
    expect(four.stats.personPasses).to.equal(4);
    expect(four.rows).to.deep.equal(one.rows);
    expect(four.stats.rowsCapped).to.equal(4_000);
    expect(four.stats.personTableBytes!, `${four.stats.personTableBytes} bytes in 4 passes, ${one.stats.personTableBytes} in one`).to.be.below(one.stats.personTableBytes! * 0.4);
  });

  it('the people per pass: the caller’s, else SHUYU_SANDBOX_PEOPLE_PER_PASS (not below 100,000), else the default', () => {
    const saved = process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS;
    try {
      delete process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS;
      const def = peoplePerPassOf({});
      expect(def).to.be.greaterThan(1_000_000);
      process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS = '5000000';
      expect(peoplePerPassOf({})).to.equal(5_000_000);
      process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS = '10';
      expect(peoplePerPassOf({})).to.equal(100_000);
      process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS = 'lots';
      expect(peoplePerPassOf({})).to.equal(def);
      expect(peoplePerPassOf({ peoplePerPass: 50 })).to.equal(50);
    } finally {
      if (saved === undefined) delete process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS;
      else process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS = saved;
    }
  });
});
