import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runSqlComputation, type SqlRunRequest } from '../../../enclave/sql/run.js';
import { ALL_BUYERS, DifferencingGuard, differencingHistory } from '../../../enclave/privacy/differencing.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { makeRows, newKeys, referenceDb, refusedType, schema, sealRows } from '../sql/fixture.js';

/** 400 rows; exactly one person lives in 'west' (row 8, person P000007 / name-8). */
const rows = makeRows(400).map((r, i) => {
  const copy = [...r];
  if (i === 8) copy[1] = 'west';
  else if (copy[1] === 'west') copy[1] = 'north';
  if (i === 8) copy[3] = 777.77;
  return copy;
});


describe('differencing attack, end to end through the SQL sandbox', function () {
  this.timeout(90_000);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 400);
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  let guard: DifferencingGuard;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-diff-'));
    ledger = PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
    guard = new DifferencingGuard(ledger.database);
  });
  afterEach(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const exact = (query: string, buyer = 'buyer-a'): SqlRunRequest => ({
    query,
    schema,
    chunks,
    unwrapPrivateKey: keys.privateKey,
    policy: { minGroupSize: 5 },
    differencing: { guard, buyerOrgId: buyer, datasetId: 'ds-1', rowCount: rows.length },
  });

  it('exact releases: "total" then "total minus one person" is refused, whichever way the person is removed', async () => {
    const total = await runSqlComputation(exact('SELECT SUM(amount) AS s, COUNT(*) AS n FROM dataset'));
    expect(total.groups).to.have.length(1);
    expect(await refusedType(runSqlComputation(exact("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'")))).to.equal('privacy-differencing-refused');
    expect(await refusedType(runSqlComputation(exact("SELECT SUM(amount) AS s FROM dataset WHERE region IN ('north', 'south', 'east')")))).to.equal('privacy-differencing-refused');
    // a grouped release whose withheld (suppressed) group is one person is the same attack
    expect(await refusedType(runSqlComputation(exact('SELECT region, SUM(amount) AS s FROM dataset GROUP BY region')))).to.equal('privacy-differencing-refused');
    // on a history of its own, a single query whose withheld rows are one person is refused too
    expect(await refusedType(runSqlComputation(exact("SELECT COUNT(*) AS n FROM dataset WHERE region <> 'west'", 'buyer-b')))).to.equal('privacy-differencing-refused');
  });

  it('the joint history: a second organisation cannot complete the first one\'s difference', async () => {
    const joint = differencingHistory('commitment-1');
    const as = (query: string): SqlRunRequest => ({ ...exact(query), differencing: { guard, ...joint, rowCount: rows.length } });
    await runSqlComputation(as('SELECT SUM(amount) AS s FROM dataset')); // organisation A: the total
    // organisation B asks for the rest: with per-buyer histories this was answered, and A − B is one person
    expect(await refusedType(runSqlComputation(as("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'")))).to.equal('privacy-differencing-refused');
  });

  it('per-buyer histories recorded before histories were joint are merged into their commitment\'s', async () => {
    await runSqlComputation(exact("SELECT channel, SUM(amount) AS s FROM dataset GROUP BY channel", 'buyer-a'));
    await runSqlComputation(exact('SELECT SUM(amount) AS s FROM dataset', 'buyer-b'));
    // the shape of that state: (buyer, '<listing>@<commitment>')
    ledger.database.prepare(`UPDATE privacy_partition SET dataset_id = 'ds-1@commitment-1'`).run();
    const merged = new DifferencingGuard(ledger.database);
    const rowsLeft = ledger.database.prepare('SELECT buyer_org_id AS b, dataset_id AS d, releases AS n FROM privacy_partition').all();
    expect(rowsLeft).to.deep.equal([{ b: ALL_BUYERS, d: 'commitment-1', n: 2 }]);
    const joint = differencingHistory('commitment-1');
    const run = (query: string) => runSqlComputation({ ...exact(query), differencing: { guard: merged, ...joint, rowCount: rows.length } });
    // A's split by channel is in the joint history: the same split again adds nothing and is answered
    expect((await run("SELECT channel, COUNT(*) AS n FROM dataset GROUP BY channel")).groups).to.have.length(2);
    expect(await refusedType(run("SELECT SUM(amount) AS s FROM dataset WHERE region <> 'west'"))).to.equal('privacy-differencing-refused');
  });

  it('exact releases that only ever split people into blocks of at least k are answered, and the history survives a restart', async () => {
    await runSqlComputation(exact('SELECT SUM(amount) AS s FROM dataset'));
    const byChannel = await runSqlComputation(exact('SELECT channel, COUNT(*) AS n, SUM(amount) AS s FROM dataset GROUP BY channel'));
    expect(byChannel.groups.map((g) => g.key[0])).to.deep.equal(['shop', 'web']);
    await runSqlComputation(exact("SELECT SUM(CASE WHEN channel = 'shop' THEN amount END) AS s FROM dataset"));
    ledger.close();
    ledger = PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
    guard = new DifferencingGuard(ledger.database);
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
      differencing: { guard, buyerOrgId: 'buyer-a', datasetId: 'ds-1', rowCount: rows.length },
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
