import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Computation } from '../../../contracts/computation.js';
import { newId } from '../../../contracts/ids.js';
import type { ApprovedPrivacyTerms } from '../../../contracts/review/approval.js';
import { sealDataset, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { SqlReleaseResponse } from '../../../formats/enclave-protocol.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { freshSchema, testDatabaseUrl } from '../../store/engines.js';
import { EXACT_TERMS as TERMS, generateRows, makeParties, testSchema, writeCsv } from '../fixtures.js';


/**
 * Two enclave processes of one cluster (one PostgreSQL schema, one blob store, one master secret): the first
 * splits a SQL release into shares (SHUYU_SANDBOX_SHARES=2), the second's executor leases the other share,
 * reads the rows from the blob store itself and stores its sealed partials; the release equals the same
 * query released by the second enclave alone, and nothing of the run stays in the store.
 */
describe('SQL release split across two enclave processes (PostgreSQL)', function () {
  this.timeout(300_000);
  const parties = makeParties();
  let dir = '';
  let a: EnclaveClient;
  let b: EnclaveClient;
  let sealed: SealResult;
  const schema = freshSchema();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-shares-cluster-'));
    const common = {
      masterSecret: 'test-master-secret-0123456789',
      operatorPublicKeyPem: parties.operatorPem,
      blobStore: { kind: 'directory' as const, dir: join(dir, 'bundle', 'blobs'), layout: 'flat' as const },
    };
    const env = { SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl(), SHUYU_ENCLAVE_DATABASE_SCHEMA: schema, SHUYU_SANDBOX_SLICE_ROWS: '400' };
    // a coordinates (and runs no one else's shares); b runs shares; a leaves b time to lease before taking one back
    a = await EnclaveClient.start({ ...common, dataDir: join(dir, 'a'), env: { ...env, SHUYU_SANDBOX_SHARES: '2', SHUYU_SANDBOX_SHARE_MIN_ROWS: '0', SHUYU_SANDBOX_SHARE_WAIT_MS: '20000', SHUYU_SANDBOX_SHARE_EXECUTOR: '0' } });
    b = await EnclaveClient.start({ ...common, dataDir: join(dir, 'b'), env, waitForKeystoreMs: 30_000 });
    const info = await a.publicInfo();
    const evaluator = new HeEvaluator({ threads: 1 });
    try {
      writeCsv(join(dir, 'rows.csv'), generateRows(2_400));
      sealed = await sealDataset({ input: join(dir, 'rows.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 200, evaluator });
    } finally {
      await evaluator.close();
    }
    await a.admitRows(sealed.manifest);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function request(computation: Computation) {
    const trade = { tradeId: newId(), datasetId: 'listing-1', buyerOrgId: 'org-buyer', offerId: 'offer-1', offerVersion: 1 };
    const approval = parties.approve({ ...trade, datasetCommitment: sealed.manifest.commitment }, computation, parties.reviewer.privateKey, TERMS);
    return {
      trade: { ...trade, priceFen: 500 },
      manifest: sealed.manifest,
      computation,
      approval,
      reviewerCertificate: parties.certificate,
      policy: { minGroupSize: TERMS.minGroupSize, mode: 'enforce' as const, maxRowsPerPerson: TERMS.maxRowsPerPerson },
      budget: {
        limitEpsilon: TERMS.epsilonBudgetPerBuyer,
        chargeKey: `trade:${trade.tradeId}`,
        refusalAllowance: TERMS.refusalAllowance,
        datasetLimitEpsilon: TERMS.epsilonBudgetTotal,
        datasetLimitDelta: TERMS.deltaBudgetTotal,
      },
    };
  }

  it("the other enclave runs a share; the release is the one enclave's release", async () => {
    const computation: Computation = { kind: 'sql', query: 'SELECT channel, COUNT(*) AS n, SUM(qty) AS q FROM dataset GROUP BY channel' };
    const db = new pg.Client({ connectionString: testDatabaseUrl() });
    await db.connect();
    const workers = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await db.query(`SELECT worker FROM "${schema}".sandbox_share WHERE worker IS NOT NULL`);
        for (const row of r.rows as { worker: string }[]) workers.add(row.worker);
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    try {
      const split = await a.call('sql', request(computation), SqlReleaseResponse);
      watching = false;
      await watch;
      expect([...workers], 'the enclaves that leased a share').to.deep.equal([`${hostname()}:${b.pid}`]);
      const alone = await b.call('sql', request(computation), SqlReleaseResponse);
      expect(split.result.groups).to.deep.equal(alone.result.groups);
      expect(split.result.groups.length).to.be.greaterThan(1);
      expect((await db.query(`SELECT COUNT(*)::int AS n FROM "${schema}".sandbox_share`)).rows[0].n).to.equal(0);
    } finally {
      watching = false;
      await watch.catch(() => undefined);
      await db.end();
    }
  });
});
