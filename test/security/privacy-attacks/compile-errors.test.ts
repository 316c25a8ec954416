import { expect } from 'chai';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { runSqlComputation } from '../../../enclave/sql/run.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { makeRows, newKeys, refusedType, schema, sealRows } from '../../enclave/sql/fixture.js';

/**
 * Queries SQLite will not compile. `ROUND(x, 1, 2)`, `COALESCE(x)`, `IFNULL(a, b, c)`, `ABS(x, 1)` and
 * expressions nested past SQLite's depth limit passed the checker (and so the quote), held the buyer's money,
 * and failed only once the rows were open — as `privacy-execution-refused`, recorded, charged the refusal fee
 * and counted against the refusal allowance, for a failure that no row decides. Now the checker refuses them
 * at quote time, and the sandbox compiles every statement against empty tables before it opens a chunk, so a
 * compile error is `sql-refused` — a fact about the query — on every path.
 */
describe('security: queries SQLite does not compile are refused before any row, never charged', function () {
  this.timeout(120_000);
  const keys = newKeys();
  const rows = makeRows(60);
  const chunks = sealRows(rows, keys.publicKey, 20);

  const notCompiled: [SqlMode, string][] = [
    ['dp', 'SELECT SUM(ROUND(amount, 1, 2)) AS s FROM dataset'],
    ['dp', 'SELECT SUM(COALESCE(amount)) AS s FROM dataset'],
    ['dp', 'SELECT AVG(IFNULL(amount, 1, 2)) AS a FROM dataset'],
    ['dp', 'SELECT MAX(ABS(amount, 1)) AS m FROM dataset'],
    ['dp', `SELECT SUM(${'('.repeat(1100)}amount${' + 1)'.repeat(1100)}) AS s FROM dataset`],
    ['dp', `SELECT SUM(${Array(1200).fill('nights').join(' + ')}) AS s FROM dataset`],
    ['exact', 'SELECT ROUND(SUM(amount), 1, 2) AS s FROM dataset'],
    ['exact', 'SELECT ABS(COUNT(*), 1) AS n FROM dataset'],
  ];

  it('the checker (the quote’s and the enclave’s) refuses them, naming the rule', () => {
    for (const [mode, q] of notCompiled) {
      const v = validateSql(q, schema, { mode });
      expect(v.ok, q.slice(0, 80)).to.equal(false);
      if (!v.ok) expect(v.errors.map((e) => e.rule), q.slice(0, 80)).to.satisfy((r: string[]) => r.includes('function-arity') || r.includes('expression-too-deep'));
    }
    // what SQLite does compile still passes: two-argument ROUND, COALESCE of two, moderate nesting
    for (const q of ['SELECT SUM(ROUND(amount, 1)) AS s FROM dataset', 'SELECT SUM(COALESCE(amount, 0)) AS s FROM dataset', `SELECT SUM(${'('.repeat(40)}amount${' + 1)'.repeat(40)}) AS s FROM dataset`]) {
      expect(validateSql(q, schema, { mode: 'dp' }).ok, q.slice(0, 60)).to.equal(true);
    }
  });

  it('a statement that slipped the checker is refused by the sandbox before it opens a chunk (a tampered chunk is never reached)', async () => {
    const v = validateSql('SELECT region, SUM(amount) AS s FROM dataset GROUP BY region', schema, { mode: 'dp' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const tampered = chunks.map((c) => ({ ...c }));
    const box = Uint8Array.from(tampered[0]!.sealed.box);
    box[10]! ^= 1;
    tampered[0] = { sealed: { ...tampered[0]!.sealed, box }, aad: tampered[0]!.aad };
    const broken = (s: string): string => s.replace('SELECT ', 'SELECT ROUND(1, 2, 3) AS "__x", ');
    const plans = [
      { ...v.plan, executed: broken(v.plan.executed) },
      // sliced: the slices' partial query and the merge's final query are compiled too
      ...(v.plan.partition ? [{ ...v.plan, partition: { ...v.plan.partition, partial: broken(v.plan.partition.partial) } }, { ...v.plan, partition: { ...v.plan.partition, final: broken(v.plan.partition.final) } }] : []),
    ];
    expect(plans.length).to.equal(3);
    for (const plan of plans) {
      expect(await refusedType(runSqlInSandbox({ schema, chunks: tampered, unwrapPrivateKey: keys.privateKey, plan, columns: v.columnsUsed, sliceRows: 20 }))).to.equal('sql-refused');
    }
    // the same plan unbroken reaches the tampered chunk and fails there: the order above is what was tested
    expect(await refusedType(runSqlInSandbox({ schema, chunks: tampered, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed }))).to.equal('row-chunk-invalid');
  });

  it('over a DP release: refused as the query’s fault, no refusal recorded, no ε charged', async () => {
    const ledger = await PrivacyBudgetLedger.open(':memory:');
    try {
      const who = { chargeKey: 'trade:t1', tradeId: 't1', buyerOrgId: 'buyer', datasetKey: 'commitment' };
      for (const [mode, q] of notCompiled.filter(([m]) => m === 'dp')) {
        const type = await refusedType(
          ledger.recordingRefusals(who, () =>
            runSqlComputation({
              query: q,
              schema,
              chunks,
              unwrapPrivateKey: keys.privateKey,
              policy: { minGroupSize: 5, dp: { epsilon: 1 }, maxRowsPerPerson: 2 },
              budget: { ledger, buyerOrgId: 'buyer', datasetId: 'ds', datasetKey: 'commitment', limitEpsilon: 10, chargeKey: 'trade:t1' },
            }),
          ),
        );
        expect(type, `${mode}: ${q.slice(0, 60)}`).to.equal('sql-refused');
      }
      expect(await ledger.refusals('buyer', 'commitment')).to.deep.equal([]);
      expect((await ledger.spent('buyer', 'commitment')).epsilon).to.equal(0);
    } finally {
      await ledger.close();
    }
  });
});
