import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Computation } from '../../../contracts/computation.js';
import { isDomainError } from '../../../contracts/errors.js';
import { sealDataset, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { VerifyReleaseResponse } from '../../../formats/enclave-protocol.js';
import { generateRows, makeParties, newTrade, testSchema, writeCsv, type TestRow, startTestEnclave, testRequest } from '../fixtures.js';

/**
 * 核验 limits follow the data, not the listing: one bundle published under two dataset ids (by its owner twice,
 * or by another organisation that sent the same bytes) shares one call window per buyer, because the enclave
 * keys the window by the bundle's content commitment. The forked enclave process, real sealed rows.
 */
describe('enclave process: a verify rate limit is kept per sealed bundle, across its listings', function () {
  this.timeout(120_000);
  let dir: string;
  let rows: TestRow[];
  let enclave: EnclaveClient;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();
  const limit = { maxCalls: 2, windowMs: 60 * 60 * 1000 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-verify-listings-'));
    rows = generateRows(200);
    writeCsv(join(dir, 'data.csv'), rows);
    enclave = await startTestEnclave(dir, parties, { SHUYU_ENCLAVE_TEST_MODE: '1' });
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: await enclave.publicInfo(), outDir: join(dir, 'bundle'), rowsPerChunk: 100, evaluator });
  });

  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One verify call of the same buyer on the listing `datasetId` of the one sealed bundle: its answer or refusal type. */
  async function verifyOn(datasetId: string, row: TestRow): Promise<string> {
    const computation: Computation = { kind: 'verify', match: { customer_id: row.customer_id }, perAttribute: false };
    const req = testRequest(parties, sealed.manifest, computation, { rateLimit: limit }, datasetId);
    try {
      const res = await enclave.call('verify', req, VerifyReleaseResponse);
      return res.result.match ? 'yes' : 'no';
    } catch (e) {
      return isDomainError(e) ? e.type : String(e);
    }
  }

  it('two calls on the first listing use the window up; the same bundle under a second listing is refused', async () => {
    const answers = [await verifyOn('listing-a', rows[1]!), await verifyOn('listing-a', rows[2]!), await verifyOn('listing-b', rows[3]!)];
    console.log(`      verify limit ${limit.maxCalls} per window; listing a, a, then b of one bundle: ${answers.join(', ')}`);
    expect(answers).to.deep.equal(['yes', 'yes', 'verify-rate-limited']);
  });
});
