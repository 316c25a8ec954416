import { expect } from 'chai';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { runSqlInSandbox, type SandboxInput } from '../../../enclave/sandbox/sandbox.js';
import { makeRows, newKeys, schema, sealRows } from './fixture.js';
import { expectSameRows } from './random-queries.js';

/**
 * The sandbox end to end over more rows than one slice: each slice in a fresh database, partials merged,
 * against the same query in one database (slicing off). Per-person row caps and k on people stay exact
 * across slices. Amounts are cents, so a merged floating sum may differ from the one-database sum in its
 * last bits: those compare within 1e-12 relative; everything else is identical.
 */
describe('SQL sandbox partitioned: slices merged equal one database', function () {
  this.timeout(120_000);
  const rows = makeRows(3_000);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 250);

  async function both(q: string, mode: SqlMode, extra: Partial<SandboxInput> = {}) {
    const v = validateSql(q, schema, { mode });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const input: SandboxInput = { schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, ...extra };
    const single = await runSqlInSandbox({ ...input, sliceRows: 0 });
    const sliced = await runSqlInSandbox({ ...input, sliceRows: 700 });
    expectSameRows(q, sliced, single);
    expect(sliced.stats.rowsLoaded).to.equal(single.stats.rowsLoaded);
    expect(sliced.stats.rowsCapped).to.equal(single.stats.rowsCapped);
    expect(sliced.stats.subjectsCount).to.equal(single.stats.subjectsCount);
    return { single, sliced, plan: v.plan };
  }

  it('exact: grouped outputs, arithmetic on aggregates, one row per person, k on people counted exactly', async () => {
    const { sliced, single } = await both(
      "SELECT region, channel, COUNT(*) AS n, SUM(nights) AS s, AVG(amount) AS a, SUM(nights) / COUNT(*) AS per, ROUND(AVG(nights) * 2, 1) AS r FROM dataset WHERE NOT region = 'west' GROUP BY region, channel",
      'exact',
      { maxRowsPerPerson: 1 },
    );
    expect(sliced.stats.slices).to.be.greaterThan(3);
    expect(single.stats).to.not.have.property('slices');
    expect(sliced.stats.rowsCapped).to.be.greaterThan(0); // people's second rows fall in other slices too
    expect(sliced.stats.subjectsCount).to.equal('exact');
  });

  it('exact: k decided by row bounds as in one database, and exactly where bounds do not decide', async () => {
    for (const k of [5, 700]) {
      const { sliced } = await both('SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', 'exact', { maxRowsPerPerson: 2, minGroupSize: k });
      expect(sliced.stats.slices).to.be.greaterThan(3);
    }
  });

  it('exact: an ungrouped query and one whose WHERE keeps no row', async () => {
    await both('SELECT COUNT(*) AS n, SUM(amount) AS s, AVG(nights) AS a FROM dataset', 'exact', { maxRowsPerPerson: 3 });
    await both("SELECT channel, COUNT(*) AS n, SUM(amount) AS s FROM dataset WHERE region = 'north' AND region = 'south' GROUP BY channel", 'exact');
    await both("SELECT COUNT(*) AS n, SUM(amount) AS s FROM dataset WHERE region = 'north' AND region = 'south'", 'exact');
  });

  it('DP: clamped sums, means (their parts), MIN and MAX before noise', async () => {
    const { sliced } = await both(
      "SELECT region, SUM(amount) AS s, AVG(nights) AS a, MIN(amount) AS lo, MAX(CASE WHEN channel = 'web' THEN nights END) AS hi, COUNT(*) AS n FROM dataset GROUP BY region",
      'dp',
      { maxRowsPerPerson: 1 },
    );
    expect(sliced.stats.slices).to.be.greaterThan(3);
  });

  it('DP COUNT(DISTINCT …) does not decompose: one database, and the stats say so', async () => {
    const { sliced } = await both('SELECT region, COUNT(DISTINCT nights) AS d FROM dataset GROUP BY region', 'dp');
    expect(sliced.stats).to.not.have.property('slices');
    expect(sliced.stats.partitionFallback).to.be.a('string');
  });

  it('identifiers that SQLite may store as one text though the row cap tells them apart: one database again', async () => {
    // 0.1 + 0.2 is 0.30000000000000004 to the cap, and '0.3' in SQLite's TEXT column, like the string '0.3'
    // (a chunk's column is all numbers or all text: chunks alternate)
    const odd = makeRows(1_500).map((r, i) => [Math.floor(i / 250) % 2 === 0 ? (i % 3 === 0 ? 0.1 + 0.2 : i + 0.5) : i % 3 === 0 ? '0.3' : r[0]!, ...r.slice(1)]);
    const oddChunks = sealRows(odd, keys.publicKey, 250);
    const v = validateSql('SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    const input: SandboxInput = { schema, chunks: oddChunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: 1 };
    const single = await runSqlInSandbox({ ...input, sliceRows: 0 });
    const sliced = await runSqlInSandbox({ ...input, sliceRows: 400 });
    expect(sliced.stats.partitionFallback).to.match(/identifier/);
    expect(sliced.stats).to.not.have.property('slices');
    expect(sliced.rows).to.deep.equal(single.rows);
  });

  it("the worker's SQLite memory follows the slice size, not the dataset's", async () => {
    const many = makeRows(400_000);
    const manyChunks = sealRows(many, keys.publicKey, 10_000);
    const v = validateSql('SELECT region, channel, COUNT(*) AS n, SUM(nights) AS s FROM dataset GROUP BY region, channel', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    // every column loaded (no `columns`): the table is as wide as the schema
    const input: SandboxInput = { schema, chunks: manyChunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, maxRowsPerPerson: 1 };
    const single = await runSqlInSandbox({ ...input, sliceRows: 0 });
    const sliced = await runSqlInSandbox({ ...input, sliceRows: 20_000 });
    expect(sliced.stats.slices).to.equal(20);
    expect([...sliced.rows].sort()).to.deep.equal([...single.rows].sort());
    // wasm memory only grows: its final size is the worker's SQLite peak (pages and heap)
    expect(sliced.stats.wasmMemoryBytes!).to.be.lessThan(single.stats.wasmMemoryBytes! * 0.7);
  });

  it('a dataset within one slice runs the single path', async () => {
    const v = validateSql('SELECT COUNT(*) AS n FROM dataset', schema, { mode: 'exact' });
    if (!v.ok) throw new Error('refused');
    const out = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, sliceRows: 10_000 });
    expect(out.stats.slices).to.equal(1);
    expect(out.rows[0]![0]).to.equal(rows.length);
  });
});
