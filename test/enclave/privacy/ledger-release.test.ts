import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../../contracts/errors.js';
import { newId } from '../../../contracts/ids.js';
import { approvalStatementFor, signApproval, type ApprovedPrivacyTerms } from '../../../contracts/review/approval.js';
import { computationHash } from '../../../contracts/computation.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { sm2Fingerprint } from '../../../crypto/index.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { galoisKeysPath } from '../../../enclave/keystore/keystore.js';
import type { AggregateComputation } from '../../../contracts/computation.js';
import { SqlReleaseResponse } from '../../../formats/enclave-protocol.js';
import { RECORDED_REFUSALS } from '../../../enclave/privacy/ledger.js';
import { isChargedPrivacyRefusal } from '../../../contracts/trade/trade.js';
import { generateRows, makeParties, testSchema, writeCsv, startTestEnclave, approvedRequest, type ApprovedOpts } from '../fixtures.js';

/**
 * No free oracles, through a PRODUCTION enclave process (no test mode): releases run only under the privacy
 * terms the reviewer signed (approval v2); data-dependent refusals are recorded per buyer × dataset commitment
 * and, once the offer's allowance is used, refused before any row is opened; budgets and the differencing
 * history are kept on the sealed content, whatever listing it is sold under.
 */
describe('enclave: approved privacy terms, recorded refusals and budgets on the commitment', function () {
  this.timeout(180_000);
  let dir: string;
  let enclave: EnclaveClient;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-noracle-'));
    // 600 rows; region 'rare' holds 2 people
    writeCsv(join(dir, 'data.csv'), generateRows(600));
    enclave = await startTestEnclave(dir, parties);
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: await enclave.publicInfo(), outDir: join(dir, 'bundle'), rowsPerChunk: 300, evaluator });
  });
  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `fn` with the first row chunk moved out of the enclave's blob store: any release that opens rows fails. */
  async function rowsAway<T>(fn: () => Promise<T>): Promise<T> {
    const first = sealed.manifest.chunks.find((c) => c.kind === 'rows' && c.index === 0)!;
    const path = bundleBlobPath(join(dir, 'bundle'), first.sm3);
    renameSync(path, `${path}.away`);
    try {
      return await fn();
    } finally {
      renameSync(`${path}.away`, path);
    }
  }

  const TERMS: ApprovedPrivacyTerms = {
    minGroupSize: 5,
    epsilon: 0,
    delta: 0,
    maxRowsPerPerson: 1,
    epsilonBudgetPerBuyer: 0,
    refusalAllowance: 3,
    epsilonBudgetTotal: 10,
    deltaBudgetTotal: 1e-6,
  };
  function request(query: string | AggregateComputation, o: ApprovedOpts = {}) {
    return approvedRequest(parties, sealed.manifest, typeof query === 'string' ? { kind: 'sql' as const, query } : query, TERMS, o);
  }
  const outcome = async (req: unknown): Promise<{ type: string; message: string; detail: Record<string, unknown> }> => {
    try {
      await enclave.call('sql', req, SqlReleaseResponse);
      return { type: 'released', message: '', detail: {} };
    } catch (e) {
      if (isDomainError(e)) return { type: e.type, message: e.message, detail: e.detail };
      throw e;
    }
  };
  /** as many 'row chunks' as the manifest names, none of them its chunks */
  const refusals = (buyerOrgId: string): { trade_id: string; type: string; dataset_key: string }[] => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT trade_id, type, dataset_key FROM privacy_refusal WHERE buyer_org_id = ? ORDER BY rowid').all(buyerOrgId) as never;
    } finally {
      db.close();
    }
  };

  it('releases only under the signed terms: another k, ε, per-person cap, allowance or dataset budget is refused; so is a v1 approval', async () => {
    const q = 'SELECT channel, COUNT(*) AS n FROM dataset GROUP BY channel';
    const tampered: [string, ApprovedOpts][] = [
      ['minGroupSize', { policy: { minGroupSize: 2 } }],
      ['epsilon', { policy: { dp: { epsilon: 5 } }, terms: { epsilonBudgetPerBuyer: 10 } }],
      ['maxRowsPerPerson', { policy: { maxRowsPerPerson: 50 } }],
      ['refusalAllowance', { budget: { refusalAllowance: 100 } }],
      ['epsilonBudgetTotal', { budget: { datasetLimitEpsilon: 1000 } }],
      ['epsilonBudgetPerBuyer', { budget: { limitEpsilon: 99 } }],
    ];
    for (const [term, o] of tampered) {
      const r = await outcome(request(q, o));
      expect(r.type, term).to.equal('approval-invalid');
      expect(r.message, term).to.include(term);
    }
    expect((await outcome(request(q, { budget: null }))).type).to.equal('release-refused');
    const v1 = await outcome(request(q, { v1: true }));
    expect(v1.type).to.equal('approval-invalid');
    expect(v1.message).to.match(/v1/);
    expect((await outcome(request(q))).type).to.equal('released');
  });

  it('a differencing refusal is recorded once per trade; with the allowance used, exact releases are refused before any row is opened', async () => {
    const buyer = 'org-prober';
    const o = (extra: ApprovedOpts = {}): ApprovedOpts => ({ buyerOrgId: buyer, terms: { refusalAllowance: 1 }, ...extra });
    expect((await outcome(request('SELECT COUNT(*) AS n FROM dataset', o()))).type).to.equal('released');
    const probeId = newId();
    const probe = request("SELECT COUNT(*) AS n FROM dataset WHERE region <> 'rare'", o({ tradeId: probeId }));
    expect((await outcome(probe)).type).to.equal('privacy-differencing-refused');
    expect((await outcome(probe)).type, 'the same job retried').to.equal('privacy-differencing-refused');
    expect(refusals(buyer)).to.deep.equal([{ trade_id: probeId, type: 'privacy-differencing-refused', dataset_key: sealed.manifest.commitment }]);
    // the allowance (1) is used: the next exact release is refused from the count alone — the sealed rows are
    // not even looked at (a chunk is missing from the blob store here; opening the rows would be row-chunk-missing)
    await rowsAway(async () => {
      const next = await outcome(request('SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', o()));
      expect(next.type).to.equal('privacy-refusal-allowance-exhausted');
      expect(next.detail).to.include({ refusalsUsed: 1, refusalAllowance: 1 });
      // under another listing of the same bundle too; another buyer has its own allowance
      expect((await outcome(request('SELECT COUNT(*) AS n FROM dataset', o({ datasetId: 'dataset-relisted' })))).type).to.equal('privacy-refusal-allowance-exhausted');
      expect((await outcome(request('SELECT COUNT(*) AS n FROM dataset', { buyerOrgId: 'org-other' }))).type).to.equal('row-chunk-missing');
    });
    expect(refusals(buyer)).to.have.length(1);
  });

  it('two enclave processes on one state file: probes at once at allowance 1 deliver one refusal, the other is refused from the counts', async () => {
    // a host's enclave workers share the state file; each refusal is a bit about the data, so only one may be delivered
    const second = await EnclaveClient.start({
      dataDir: join(dir, 'enclave'),
      masterSecret: 'test-master-secret-0123456789',
      operatorPublicKeyPem: parties.operatorPem,
      blobStore: { kind: 'directory', dir: join(dir, 'bundle', 'blobs'), layout: 'flat' },
      waitForKeystoreMs: 10_000,
    });
    try {
      const buyer = 'org-racer';
      const o: ApprovedOpts = { buyerOrgId: buyer, terms: { refusalAllowance: 1 } };
      expect((await outcome(request('SELECT COUNT(*) AS n FROM dataset', o))).type).to.equal('released');
      const probe = (on: EnclaveClient): Promise<string> =>
        on.call('sql', request("SELECT COUNT(*) AS n FROM dataset WHERE region <> 'rare'", o), SqlReleaseResponse).then(
          () => 'released',
          (e: unknown) => (isDomainError(e) ? e.type : String(e)),
        );
      const out = await Promise.all([probe(enclave), probe(second)]);
      expect(out.sort()).to.deep.equal(['privacy-differencing-refused', 'privacy-refusal-allowance-exhausted']);
      expect(refusals(buyer)).to.have.length(1);
    } finally {
      await second.stop();
    }
  });

  it('the differencing history is one per sealed content across listings and buyers: a colluding organisation cannot complete the difference', async () => {
    // each of these two sets is large and so is its complement; together they isolate region 'rare' (2 people)
    const a = await outcome(request("SELECT COUNT(*) AS n FROM dataset WHERE region IN ('north', 'south')", { buyerOrgId: 'org-colluder-a', datasetId: 'dataset-1' }));
    expect(a.type).to.equal('released');
    const b = await outcome(request("SELECT COUNT(*) AS n FROM dataset WHERE region IN ('north', 'south', 'rare')", { buyerOrgId: 'org-colluder-b', datasetId: 'dataset-relisted' }));
    expect(b.type).to.equal('privacy-differencing-refused');
    expect(refusals('org-colluder-b').map((x) => x.type)).to.deep.equal(['privacy-differencing-refused']);
  });

  it('the HE path records its differencing refusals in the same record and honours the same allowance', async () => {
    const info = await enclave.publicInfo();
    const computation: AggregateComputation = { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [{ column: 'region', in: ['north', 'south', 'east', 'west'] }] };
    const encrypted = await evaluator.evaluateAggregate({
      manifest: sealed.manifest,
      computation,
      galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'enclave', 'keystore')) },
      blobPath: (h) => bundleBlobPath(join(dir, 'bundle'), h),
    });
    const he = async (o: ApprovedOpts) => {
      const { computation: _c, ...req } = request(computation, o);
      try {
        await enclave.releaseAggregate({ ...req, computation, encrypted });
        return 'released';
      } catch (e) {
        return isDomainError(e) ? e.type : String(e);
      }
    };
    const buyer = 'org-he-prober';
    // everything but region 'rare' (2 people): refused, and recorded although the gate's transaction rolled back
    expect(await he({ buyerOrgId: buyer, terms: { refusalAllowance: 1 } })).to.equal('privacy-differencing-refused');
    expect(refusals(buyer).map((x) => x.type)).to.deep.equal(['privacy-differencing-refused']);
    expect(await he({ buyerOrgId: buyer, terms: { refusalAllowance: 1 } })).to.equal('privacy-refusal-allowance-exhausted');
  });

  it('with the allowance used, DP releases are refused before any row is opened too; an execution failure is a recorded refusal', async () => {
    expect(RECORDED_REFUSALS.has('privacy-execution-refused')).to.equal(true);
    expect(isChargedPrivacyRefusal('privacy-execution-refused'), 'the server charges it').to.equal(true);
    const buyer = 'org-dp-prober';
    // a buyer budget below one query's ε (nothing is spent on this bundle, whose dataset budget other tests use)
    const o = (extra: ApprovedOpts = {}): ApprovedOpts => ({ buyerOrgId: buyer, terms: { epsilon: 1, epsilonBudgetPerBuyer: 0.5, refusalAllowance: 1 }, ...extra });
    // the budget refuses: a recorded refusal (the first of the allowance of 1)
    expect((await outcome(request('SELECT COUNT(*) AS n FROM dataset', o()))).type).to.equal('privacy-budget-exhausted');
    // the next DP release is refused from the count alone: the rows are not even looked at (one is missing)
    const next = await rowsAway(() => outcome(request('SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', o())));
    expect(next.type).to.equal('privacy-refusal-allowance-exhausted');
    expect(next.detail).to.include({ refusalsUsed: 1, refusalAllowance: 1 });
    expect(refusals(buyer).map((x) => x.type)).to.deep.equal(['privacy-budget-exhausted']);
  });

  it('DP budgets are kept on the sealed content: per buyer across relistings, and dataset-wide across buyers', async () => {
    const dp = (buyerOrgId: string, datasetId: string) =>
      outcome(request('SELECT COUNT(*) AS n FROM dataset', { buyerOrgId, datasetId, terms: { epsilon: 1, epsilonBudgetPerBuyer: 1.5, epsilonBudgetTotal: 2.5 } }));
    expect((await dp('org-dp-a', 'listing-a')).type).to.equal('released');
    const again = await dp('org-dp-a', 'listing-b'); // the same bundle relisted: the same buyer budget
    expect(again.type).to.equal('privacy-budget-exhausted');
    expect(again.detail).to.include({ limit: 'buyer', epsilonSpent: 1 });
    expect((await dp('org-dp-b', 'listing-b')).type).to.equal('released');
    const third = await dp('org-dp-c', 'listing-c'); // 2 of the dataset's 2.5 spent by two buyers
    expect(third.type).to.equal('privacy-budget-exhausted');
    expect(third.detail).to.include({ limit: 'dataset', epsilonSpent: 2, epsilonLimit: 2.5 });
    expect(refusals('org-dp-c').map((x) => x.type)).to.deep.equal(['privacy-budget-exhausted']);
  });
});
