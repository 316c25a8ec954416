import { expect } from 'chai';
import type Database from 'better-sqlite3';
import { validateSql } from '../../../query/validate.js';
import { runSqlInSandbox, type SandboxInput } from '../../../enclave/sandbox/sandbox.js';
import { makeRows, newKeys, referenceDb, schema, sealRows } from './fixture.js';

/**
 * The sandbox lays a grouped query's table out on its GROUP BY columns (WITHOUT ROWID, keyed (dims…, __row)):
 * everything it answers must be exactly what the rowid table answers — the same doubles, the same k
 * decisions, the same membership (in dataset row order) — and a NULL in a key column must still load.
 */
describe('SQL sandbox: the table laid out on the GROUP BY columns answers exactly as the rowid table', function () {
  this.timeout(60_000);
  const rows = makeRows(3_000, 11);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 700);
  let ref: Database.Database;
  before(() => {
    ref = referenceDb(rows);
  });
  after(() => ref.close());

  const run = (query: string, extra: Partial<SandboxInput>) => {
    // the exact language where the query is in it, else the DP one (a DP plan clamps; these rows are in bounds)
    const exact = validateSql(query, schema, { mode: 'exact' });
    const v = exact.ok ? exact : validateSql(query, schema, { mode: 'dp' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    return runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], ...extra });
  };

  const GROUPED = [
    'SELECT region, channel, COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights FROM dataset GROUP BY region, channel',
    "SELECT channel, region, SUM(amount) AS total, TOTAL(amount * 1.1) AS t, SUM(CASE WHEN nights > 3 THEN amount END) AS long_stay FROM dataset WHERE region <> 'west' OR channel = 'shop' GROUP BY channel, region ORDER BY channel",
    "SELECT region, SUM(CASE WHEN channel = 'web' THEN amount END) AS web, AVG(amount) AS a, COUNT(DISTINCT nights) AS d FROM dataset GROUP BY region",
  ];

  for (const q of GROUPED) {
    it(`same rows, same doubles: ${q}`, async () => {
      const rowid = await run(q, { tableLayout: 'rowid' });
      const keyed = await run(q, {});
      expect(rowid.stats.tableLayout).to.equal('rowid');
      expect(keyed.stats.tableLayout).to.equal('clustered');
      expect(keyed.columns).to.deep.equal(rowid.columns);
      expect(keyed.rows).to.deep.equal(rowid.rows); // deep.equal on numbers: the exact same doubles
    });
  }

  it('the SUMs equal SQLite on the plaintext to the last bit', async () => {
    const q = 'SELECT region, channel, SUM(amount) AS total, AVG(amount) AS a FROM dataset GROUP BY region, channel';
    const keyed = await run(q, {});
    const want = ref.prepare(q.replace('GROUP BY region, channel', 'GROUP BY region, channel ORDER BY region, channel')).raw().all();
    expect(keyed.rows.map((r) => r.slice(0, 4))).to.deep.equal(want);
  });

  it('decides k the same on both layouts, by bounds and exactly', async () => {
    const q = 'SELECT region, channel, COUNT(*) AS n FROM dataset GROUP BY region, channel';
    for (const k of [1, 50, 400, 10_000]) {
      const rowid = await run(q, { tableLayout: 'rowid', minGroupSize: k });
      const keyed = await run(q, { minGroupSize: k });
      expect(keyed.stats.subjectsCount, `k=${k}`).to.equal(rowid.stats.subjectsCount);
      expect(keyed.rows, `k=${k}`).to.deep.equal(rowid.rows);
    }
    const exact = await run(q, {});
    const want = ref.prepare('SELECT COUNT(DISTINCT person_id) FROM dataset GROUP BY region, channel ORDER BY region, channel').raw().all().flat();
    expect(exact.rows.map((r) => r[exact.columns.indexOf('__subjects')])).to.deep.equal(want);
  });

  it('a NULL in a GROUP BY column after rows were loaded keyed: moved to a rowid table, same answers', async () => {
    const withNull = rows.map((r, i) => (i === 2_200 || i === 2_950 ? [r[0]!, null, ...r.slice(2)] : r));
    const nullChunks = sealRows(withNull, keys.publicKey, 700); // the NULLs are in the 4th and 5th chunks
    const q = "SELECT region, channel, COUNT(*) AS n, SUM(amount) AS total FROM dataset WHERE region IS NULL OR channel = 'web' GROUP BY region, channel";
    const v = validateSql(q, schema, { mode: 'dp' }); // IS NULL is in the DP language only
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const input = { schema, chunks: nullChunks, unwrapPrivateKey: keys.privateKey, plan: v.plan };
    const keyed = await runSqlInSandbox(input);
    const rowid = await runSqlInSandbox({ ...input, tableLayout: 'rowid' });
    expect(keyed.stats.tableLayout).to.equal('rowid');
    expect(keyed.stats.rowsLoaded).to.equal(rows.length);
    expect(keyed.rows).to.deep.equal(rowid.rows);
    const nullRef = referenceDb(withNull);
    try {
      const want = nullRef.prepare(`${q} ORDER BY region, channel`).raw().all();
      expect(keyed.rows.map((r) => r.slice(0, 4))).to.deep.equal(want);
    } finally {
      nullRef.close();
    }
  });

  it('an ungrouped query keeps the rowid table', async () => {
    const out = await run('SELECT COUNT(*) AS n, SUM(amount) AS s FROM dataset', {});
    expect(out.stats.tableLayout).to.equal('rowid');
  });
});
