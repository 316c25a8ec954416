import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Computation } from '../../../contracts/computation.js';
import { isDomainError } from '../../../contracts/errors.js';
import { sealDataset, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import type { OutputPolicy } from '../../../formats/enclave-protocol.js';
import { verifyReceipt } from '../../../formats/receipt.js';
import { SqlReleaseResponse, VerifyReleaseResponse } from '../../../formats/enclave-protocol.js';
import { generateRows, makeParties, newTrade, sqliteOf, testSchema, writeCsv, type TestRow, startTestEnclave, testRequest } from '../fixtures.js';

/**
 * SQL and verify over the enclave's message interface, end to end with the real parts: the owner's sealer
 * → the forked enclave process → `sql` / `verify` handlers → signed receipts.
 */
describe('enclave process: sql and verify messages', function () {
  this.timeout(120_000);
  let dir: string;
  let rows: TestRow[];
  let db: Database.Database;
  let enclave: EnclaveClient;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-sqlrel-'));
    rows = generateRows(600);
    db = sqliteOf(rows);
    writeCsv(join(dir, 'data.csv'), rows);
    enclave = await startTestEnclave(dir, parties, { SHUYU_ENCLAVE_TEST_MODE: '1' });
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: await enclave.publicInfo(), outDir: join(dir, 'bundle'), rowsPerChunk: 300, evaluator });
  });

  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (computation: Computation, extra: Record<string, unknown> = {}) => testRequest(parties, sealed.manifest, computation, extra);

  it('sql: the approved query runs in the sandbox; the result equals SQLite and the receipt verifies', async () => {
    const query = "SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM dataset WHERE channel <> 'phone' GROUP BY region ORDER BY region";
    const policy: OutputPolicy = { minGroupSize: 1, mode: 'exact-for-tests' };
    const res = await enclave.call('sql', request({ kind: 'sql', query }, { policy }), SqlReleaseResponse);
    const want = db.prepare("SELECT region, COUNT(*) AS n, SUM(amount_c) AS c FROM t WHERE channel <> 'phone' GROUP BY region ORDER BY region").all() as { region: string; n: number; c: number }[];
    expect(res.result.groups.map((g) => [g.values.region, g.values.n, Math.round((g.values.total as number) * 100)])).to.deep.equal(want.map((w) => [w.region, w.n, w.c]));
    const v = verifyReceipt(res.receipt);
    expect(v.valid).to.equal(true);
    if (!v.valid) return;
    expect((v.payload.result as { queryHash: string }).queryHash).to.equal(res.result.queryHash);
    expect(v.payload.privacy).to.include({ mechanism: 'none (exact-for-tests)' });
  });

  it('sql: refusals cross the message interface as typed errors', async () => {
    const policy: OutputPolicy = { minGroupSize: 5, mode: 'enforce' };
    for (const [query, type] of [
      ['SELECT MIN(customer_id) FROM dataset', 'sql-refused'],
      ['SELECT COUNT(*) FROM dataset; PRAGMA table_info(dataset)', 'sql-refused'],
    ] as const) {
      let err: unknown;
      try {
        await enclave.call('sql', request({ kind: 'sql', query }, { policy }), SqlReleaseResponse);
      } catch (e) {
        err = e;
      }
      expect(isDomainError(err) && err.type, query).to.equal(type);
    }
    // an approval for another query does not run this one
    const req = request({ kind: 'sql', query: 'SELECT COUNT(*) AS n FROM dataset' }, { policy });
    let err: unknown;
    try {
      await enclave.call('sql', { ...req, computation: { kind: 'sql', query: 'SELECT SUM(amount) AS s FROM dataset' } }, SqlReleaseResponse);
    } catch (e) {
      err = e;
    }
    expect(isDomainError(err) && err.type).to.equal('approval-invalid');
  });

  it('verify: yes/no only, with a signed receipt', async () => {
    const r = rows[42]!;
    const yes = await enclave.call('verify', request({ kind: 'verify', match: { customer_id: r.customer_id, region: r.region, note: 'wrong' }, perAttribute: true }), VerifyReleaseResponse);
    expect(yes.result).to.deep.equal({ kind: 'verify', match: false, perAttribute: { region: true, note: false } });
    const no = await enclave.call('verify', request({ kind: 'verify', match: { customer_id: 'nobody' }, perAttribute: false }), VerifyReleaseResponse);
    expect(no.result).to.deep.equal({ kind: 'verify', match: false });
    expect(verifyReceipt(yes.receipt).valid).to.equal(true);
  });
});
