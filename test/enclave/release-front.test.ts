import { expect } from 'chai';
import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import { approvalStatementFor, signApproval, type ApprovedPrivacyTerms } from '../../contracts/review/approval.js';
import { computationHash, type AggregateComputation, type Computation } from '../../contracts/computation.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import { sm2Fingerprint } from '../../crypto/index.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import { galoisKeysPath } from '../../enclave/keystore/keystore.js';
import { DirectoryBlobReader } from '../../enclave/release/blob-reader.js';
import { AdmitRowsRequest, AggregateReleaseRequest, SqlReleaseRequest, SqlReleaseResponse, VerifyReleaseRequest } from '../../formats/enclave-protocol.js';
import { generateRows, makeParties, testSchema, writeCsv, startTestEnclave, approvedRequest } from './fixtures.js';

/**
 * The enclave reads its own inputs: release and admission messages name the rows by the manifest only, the
 * enclave reads each sealed row chunk from its blob store and re-hashes it; one release front serves every kind
 * and builds a missing row map itself, in the same call. Through a production enclave process (no test mode).
 */
describe('enclave release front: row chunks by reference, one call per release', function () {
  this.timeout(180_000);
  let dir: string;
  let enclave: EnclaveClient;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();
  /** every message this process sends to a child process while a test runs (the IPC log) */
  let sent: unknown[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-front-'));
    writeCsv(join(dir, 'data.csv'), generateRows(240, 5));
    enclave = await startTestEnclave(dir, parties);
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({
      input: join(dir, 'data.csv'),
      schema: testSchema,
      enclave: await enclave.publicInfo(),
      outDir: join(dir, 'bundle'),
      rowsPerChunk: 80,
      evaluator,
    });
    // the IPC log: node sets `send` on the child object itself, so it is wrapped there
    const child = (enclave as unknown as { child: ChildProcess }).child;
    const send = child.send.bind(child);
    child.send = ((message: unknown, ...rest: unknown[]) => {
      sent.push(message);
      return (send as (...a: unknown[]) => boolean)(message, ...rest);
    }) as typeof child.send;
  });
  beforeEach(() => {
    sent = [];
  });
  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rowChunkRefs = () => sealed.manifest.chunks.flatMap((c) => (c.kind === 'rows' ? [c] : []));
  const blobPath = (sm3: string) => bundleBlobPath(join(dir, 'bundle'), sm3);
  const TERMS: ApprovedPrivacyTerms = {
    minGroupSize: 5,
    epsilon: 0,
    delta: 0,
    maxRowsPerPerson: 1,
    epsilonBudgetPerBuyer: 5,
    refusalAllowance: 3,
    epsilonBudgetTotal: 10,
    deltaBudgetTotal: 1e-6,
  };

  /** A release request under a v2 approval of exactly these terms. */
  const request = (computation: Computation, buyerOrgId: string, terms: Partial<ApprovedPrivacyTerms> = {}) => approvedRequest(parties, sealed.manifest, computation, TERMS, { buyerOrgId, terms });
  const count: AggregateComputation = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'qty' }], groupBy: [], filters: [] };
  async function heRelease(buyerOrgId: string) {
    const info = await enclave.publicInfo();
    const encrypted = await evaluator.evaluateAggregate({
      manifest: sealed.manifest,
      computation: count,
      galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'enclave', 'keystore')) },
      blobPath,
    });
    return enclave.releaseAggregate({ ...request(count, buyerOrgId), computation: count, encrypted });
  }
  const outcome = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => 'released',
      (e: unknown) => (isDomainError(e) ? e.type : String(e)),
    );
  const refusals = (buyerOrgId: string): unknown[] => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT type FROM privacy_refusal WHERE buyer_org_id = ?').all(buyerOrgId);
    } finally {
      db.close();
    }
  };
  /** Runs `fn` with row chunk 1's file altered in place (same name and size, one bit flipped). */
  async function withAlteredChunk<T>(fn: () => Promise<T>): Promise<T> {
    const path = blobPath(rowChunkRefs().find((c) => c.index === 1)!.sm3);
    copyFileSync(path, `${path}.orig`);
    const bytes = readFileSync(path);
    bytes[bytes.length - 40]! ^= 0x01;
    writeFileSync(path, bytes);
    try {
      return await fn();
    } finally {
      renameSync(`${path}.orig`, path);
    }
  }
  /** No message sent to the enclave carries any row chunk's bytes (as base64, the JSON channel's only binary form). */
  function expectNoRowBytesSent(): void {
    expect(sent.length, 'messages logged').to.be.greaterThan(0);
    const wire = sent.map((m) => JSON.stringify(m)).join('\n');
    for (const ref of rowChunkRefs()) {
      const b64 = readFileSync(blobPath(ref.sm3)).toString('base64');
      // three alignments of one 96-byte window from the middle of the chunk
      for (const at of [400, 401, 402]) {
        const window = Buffer.from(b64, 'base64').subarray(at, at + 96);
        expect(wire.includes(window.toString('base64').slice(4, 100)), `row chunk ${ref.index} bytes on the wire`).to.equal(false);
      }
    }
  }

  it('no request schema has a field for row bytes; a request carrying row chunks is refused at the boundary', async () => {
    for (const schema of [AdmitRowsRequest, AggregateReleaseRequest, SqlReleaseRequest, VerifyReleaseRequest]) {
      expect(Object.keys(schema.shape)).to.not.include('rowChunks');
    }
    const req = { ...request({ kind: 'sql', query: 'SELECT COUNT(*) AS n FROM dataset' }, 'org-schema'), rowChunks: ['AAAA'] };
    expect(SqlReleaseRequest.safeParse(req).success).to.equal(false);
    expect(await outcome(enclave.call('sql', req, SqlReleaseResponse))).to.equal('enclave-bad-request');
  });

  it('a release whose row chunk was altered on disk is refused with a typed error and nothing is charged or recorded', async () => {
    // an exact HE release before admission (it must build the row map from the chunks) and a DP SQL release
    const dp = { epsilon: 1 };
    const sql = () =>
      enclave.call('sql', request({ kind: 'sql', query: 'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region' }, 'org-altered', dp), SqlReleaseResponse);
    await withAlteredChunk(async () => {
      expect(await outcome(heRelease('org-altered'))).to.equal('row-chunk-invalid');
      expect(await outcome(sql())).to.equal('row-chunk-invalid');
    });
    expect(await enclave.budgetSpent('org-altered', sealed.manifest.commitment)).to.deep.equal({ epsilon: 0, delta: 0, charges: 0 });
    expect(refusals('org-altered')).to.deep.equal([]);
    // the same release on the intact store is charged: the ledger above could have shown a charge
    expect(await outcome(sql())).to.equal('released');
    expect((await enclave.budgetSpent('org-altered', sealed.manifest.commitment)).epsilon).to.equal(1);
    expectNoRowBytesSent();
  });

  it('an exact release on a dataset whose row map was never stored works in one call; no row byte crosses IPC', async () => {
    const fresh = await (async () => {
      // a second sealing of the same rows: a new dataset version the enclave has never seen
      const out = await sealDataset({
        input: join(dir, 'data.csv'),
        schema: testSchema,
        enclave: await enclave.publicInfo(),
        outDir: join(dir, 'bundle-2'),
        rowsPerChunk: 60,
        evaluator,
      });
      cpSync(join(dir, 'bundle-2', 'blobs'), join(dir, 'bundle', 'blobs'), { recursive: true }); // uploaded to the same store
      const old = sealed;
      sealed = out;
      return old;
    })();
    try {
      sent = [];
      const out = await heRelease('org-first');
      expect(out.result.groups[0]!.values.count).to.equal(240);
      const releases = sent.filter((m) => (m as { type?: string }).type === 'releaseAggregate');
      expect(releases, 'one releaseAggregate message').to.have.length(1);
      expectNoRowBytesSent();
      // the map it built is kept: the next release reads no chunk (one is gone from the store)
      const first = blobPath(rowChunkRefs().find((c) => c.index === 0)!.sm3);
      renameSync(first, `${first}.away`);
      try {
        expect(await outcome(heRelease('org-first-again'))).to.equal('released');
      } finally {
        renameSync(`${first}.away`, first);
      }
    } finally {
      sealed = fresh;
    }
  });

  it('the directory reader refuses a name outside the store, a missing blob and one of the wrong size', async () => {
    const reader = new DirectoryBlobReader(join(dir, 'bundle', 'blobs'), 'flat');
    const ref = rowChunkRefs()[0]!;
    const typeOf = (p: Promise<unknown>) => outcome(p);
    expect(await typeOf(reader.read('../../enclave/keystore/keystore.json', 10))).to.equal('blob-name-invalid');
    expect(await typeOf(reader.read(`${'0'.repeat(62)}/x`, 10))).to.equal('blob-name-invalid');
    expect(await typeOf(reader.read('f'.repeat(64), 10))).to.equal('row-chunk-missing');
    expect(await typeOf(reader.read(ref.sm3, ref.size + 1))).to.equal('row-chunk-invalid');
    expect(Buffer.from(await reader.read(ref.sm3, ref.size)).equals(readFileSync(blobPath(ref.sm3)))).to.equal(true);
  });
});
