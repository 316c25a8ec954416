import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runSqlComputation, type SqlRunRequest } from '../../../enclave/sql/run.js';
import { DifferencingGuard, differencingHistory } from '../../../enclave/privacy/differencing.js';
import type { RowMap } from '../../../enclave/privacy/row-map.js';
import { mapRowsInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { makeRows, newKeys, referenceDb, refusedType, schema, sealRows } from '../sql/fixture.js';
import { ENGINES, freshSchema, testDatabaseUrl } from '../../store/engines.js';

/** 400 rows; exactly one person lives in 'west' (row 8, person P000007 / name-8). */
const rows = makeRows(400).map((r, i) => {
  const copy = [...r];
  if (i === 8) copy[1] = 'west';
  else if (copy[1] === 'west') copy[1] = 'north';
  if (i === 8) copy[3] = 777.77;
  return copy;
});


for (const engine of ENGINES) describe(`differencing attack, end to end through the SQL sandbox [${engine}]`, function () {
  this.timeout(90_000);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 400);
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  let guard: DifferencingGuard;
  let map: RowMap;
  let schemaName = '';
  // embedded: the enclave's SQLite file; cluster: its PostgreSQL schema (a restart reopens the same one)
  const openLedger = () => (engine === 'sqlite' ? PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite')) : PrivacyBudgetLedger.open(testDatabaseUrl(), { schema: schemaName }));
  before(async () => {
    map = await mapRowsInSandbox({ schema, layout: { partitionBy: [], partitions: [{ key: [] }] }, chunks, unwrapPrivateKey: keys.privateKey });
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-diff-'));
    schemaName = freshSchema();
    ledger = await openLedger();
    guard = new DifferencingGuard(ledger.store);
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const exact = (query: string, buyer = 'buyer-a'): SqlRunRequest => ({
    query,
    schema,
    chunks,
    unwrapPrivateKey: keys.privateKey,
    policy: { minGroupSize: 5 },
    differencing: { guard, buyerOrgId: buyer, datasetId: 'ds-1', rowMap: map },
  });

  it('exact releases: "total" then "total minus one person" is refused, whichever way the person is removed', async () => {
    const total = await runSqlComputation(exact('SELECT SUM(amount) AS s, COUNT(*) AS n FROM dataset'));
    expect(total.groups).to.have.length(1);
    expect(await refusedType(runSqlComputation(exact("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'")))).to.equal('privacy-differencing-refused');
    expect(await refusedType(runSqlComputation(exact("SELECT SUM(amount) AS s FROM dataset WHERE region IN ('north', 'south', 'east')")))).to.equal('privacy-differencing-refused');
    // a grouped release with a group of one person is refused whole (never released with that group left out)
    expect(await refusedType(runSqlComputation(exact('SELECT region, SUM(amount) AS s FROM dataset GROUP BY region')))).to.equal('privacy-min-group-refused');
    // on a history of its own, a single query whose withheld rows are one person is refused too
    expect(await refusedType(runSqlComputation(exact("SELECT COUNT(*) AS n FROM dataset WHERE region <> 'west'", 'buyer-b')))).to.equal('privacy-differencing-refused');
  });

  it('the joint history: a second organisation cannot complete the first one\'s difference', async () => {
    const joint = differencingHistory('commitment-1');
    const as = (query: string): SqlRunRequest => ({ ...exact(query), differencing: { guard, ...joint, rowMap: map } });
    await runSqlComputation(as('SELECT SUM(amount) AS s FROM dataset')); // organisation A: the total
    // organisation B asks for the rest: with per-buyer histories this was answered, and A − B is one person
    expect(await refusedType(runSqlComputation(as("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'")))).to.equal('privacy-differencing-refused');
  });

  // such histories exist only in embedded files written before declared blocks
  if (engine === 'sqlite') it('histories recorded as per-row labels (before declared blocks) still refine the blocks', async () => {
    // a per-buyer label history of the old shape ('<listing>@<commitment>') that sets row 8 (west) apart
    await ledger.store.run(`CREATE TABLE IF NOT EXISTS privacy_partition (buyer_org_id TEXT NOT NULL, dataset_id TEXT NOT NULL, row_count INTEGER NOT NULL,
      labels BLOB NOT NULL, releases INTEGER NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (buyer_org_id, dataset_id))`);
    const labels = new Int32Array(rows.length);
    labels[8] = 1;
    await ledger.store.run('INSERT INTO privacy_partition VALUES (?, ?, ?, ?, 2, ?)', 'buyer-a', 'ds-1@commitment-1', rows.length, Buffer.from(labels.buffer), new Date().toISOString());
    const joint = differencingHistory('commitment-1');
    const run = (query: string) => runSqlComputation({ ...exact(query), differencing: { guard, ...joint, rowMap: map } });
    expect(await refusedType(run('SELECT COUNT(*) AS n FROM dataset'))).to.equal('privacy-differencing-refused');
    // another version has no such history
    expect(await refusedType(runSqlComputation({ ...exact('SELECT COUNT(*) AS n FROM dataset'), differencing: { guard, ...differencingHistory('commitment-2'), rowMap: map } }))).to.equal('released');
  });

  it('emptiness is no oracle: "all but an empty region" is refused like "all but one person"; a grouped query with an empty declared group is refused', async () => {
    const noWest = rows.map((r) => (r[1] === 'west' ? [r[0], 'north', ...r.slice(2)] : r));
    const sealed = sealRows(noWest, keys.publicKey, 400);
    const emptyMap = await mapRowsInSandbox({ schema, layout: { partitionBy: [], partitions: [{ key: [] }] }, chunks: sealed, unwrapPrivateKey: keys.privateKey });
    const on = (data: 'empty' | 'one', query: string, buyer: string) =>
      runSqlComputation({ ...exact(query, buyer), ...(data === 'empty' ? { chunks: sealed } : {}), differencing: { guard, buyerOrgId: buyer, datasetId: data, rowMap: data === 'empty' ? emptyMap : map } });
    for (const data of ['empty', 'one'] as const) {
      expect(await refusedType(on(data, 'SELECT COUNT(*) AS n FROM dataset', 'x'))).to.equal('released');
      expect(await refusedType(on(data, "SELECT COUNT(CASE WHEN NOT (region = 'west') THEN 1 END) AS n FROM dataset", 'x')), data).to.equal('privacy-differencing-refused');
      // an empty declared group and a group of one person: the same recorded refusal
      expect(await refusedType(on(data, 'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', 'x')), data).to.equal('privacy-min-group-refused');
      expect(await refusedType(on(data, 'SELECT channel, COUNT(*) AS n FROM dataset GROUP BY channel', 'x')), data).to.equal('released');
      // keys the query itself excludes are not planned groups: their emptiness is no refusal
      expect(await refusedType(on(data, "SELECT region, COUNT(*) AS n FROM dataset WHERE region IN ('north', 'south') GROUP BY region", 'y')), data).to.equal('released');
    }
  });

  it("exact releases read each person's first maxRowsPerPerson rows (default 1)", async () => {
    const ref = referenceDb(rows);
    const firstRows = ref.prepare('SELECT COUNT(*) AS n, SUM(amount) AS s FROM dataset WHERE rowid IN (SELECT MIN(rowid) FROM dataset GROUP BY person_id)').get() as { n: number; s: number };
    const every = ref.prepare('SELECT COUNT(*) AS n FROM dataset').get() as { n: number };
    ref.close();
    expect(firstRows.n).to.be.lessThan(every.n);
    const capped = await runSqlComputation(exact('SELECT COUNT(*) AS n, SUM(amount) AS s FROM dataset'));
    expect(capped.groups[0]!.values.n).to.equal(firstRows.n);
    expect(capped.groups[0]!.values.s).to.be.closeTo(firstRows.s, 1e-6);
    const two = await runSqlComputation({ ...exact('SELECT COUNT(*) AS n FROM dataset', 'buyer-c'), policy: { minGroupSize: 5, maxRowsPerPerson: 2 } });
    expect(two.groups[0]!.values.n).to.equal(every.n);
  });

  it('exact releases that only ever split people into blocks of at least k are answered, and the history survives a restart', async () => {
    await runSqlComputation(exact('SELECT SUM(amount) AS s FROM dataset'));
    const byChannel = await runSqlComputation(exact('SELECT channel, COUNT(*) AS n, SUM(amount) AS s FROM dataset GROUP BY channel'));
    expect(byChannel.groups.map((g) => g.key[0])).to.deep.equal(['shop', 'web']);
    await runSqlComputation(exact("SELECT SUM(CASE WHEN channel = 'shop' THEN amount END) AS s FROM dataset"));
    await ledger.close();
    ledger = await openLedger();
    guard = new DifferencingGuard(ledger.store);
    expect(await refusedType(runSqlComputation(exact("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'")))).to.equal('privacy-differencing-refused');
  });

  it('DP releases: the same pair is answered but noised and charged as the composed cost', async () => {
    const ref = referenceDb(rows);
    const person = (ref.prepare("SELECT amount FROM dataset WHERE name = 'name-8'").get() as { amount: number }).amount;
    ref.close();
    const dp = (query: string, key: string): SqlRunRequest => ({
      query,
      schema,
      chunks,
      unwrapPrivateKey: keys.privateKey,
      policy: { minGroupSize: 5, dp: { epsilon: 0.5 } },
      budget: { ledger, buyerOrgId: 'buyer-a', datasetId: 'ds-1', limitEpsilon: 1, chargeKey: key },
      differencing: { guard, buyerOrgId: 'buyer-a', datasetId: 'ds-1', rowMap: map },
    });
    const a = await runSqlComputation(dp('SELECT SUM(amount) AS s FROM dataset', 't-1'));
    const b = await runSqlComputation(dp("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'", 't-2'));
    expect(a.privacy).to.include({ mechanism: 'discrete-laplace', epsilonSpent: 0.5, epsilonRemaining: 0.5 });
    expect(b.privacy.epsilonRemaining).to.equal(0);
    const diff = (a.groups[0]!.values.s as number) - (b.groups[0]!.values.s as number);
    expect(Math.abs(diff - person)).to.be.greaterThan(0.005); // noise of scale Δ/ε = 2000 on each answer
    expect(await refusedType(runSqlComputation(dp('SELECT SUM(amount) AS s FROM dataset', 't-3')))).to.equal('privacy-budget-exhausted');
  });
});
