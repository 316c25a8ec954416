import { expect } from 'chai';
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregateComputation } from '../../contracts/computation.js';
import { isDomainError } from '../../contracts/errors.js';
import { signApproval } from '../../contracts/review/approval.js';
import { computationHash } from '../../contracts/computation.js';
import { sm2Fingerprint, sm3Hex } from '../../crypto/index.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import { withCommitment, type BundleManifest } from '../../formats/manifest.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import type { AggregateReleaseRequest, EnclavePublicInfo, OutputPolicy } from '../../formats/enclave-protocol.js';
import { generateRows, heReleaser, makeParties, newTrade, testSchema, writeCsv, type TestRow, startTestEnclave } from './fixtures.js';

/**
 * Row admission and k on people for HE releases (the minimum group size counts distinct identifiers
 * where the schema has one). The enclave authenticates every sealed row chunk when an upload is
 * admitted and keeps the row → partition/subject map; an HE group with many rows but few people is withheld.
 * 'south' holds 24 rows of 3 customers and 'west' 12 rows of 2: both withheld at k = 5 although ≥ 5 rows.
 */
const K = 5;
const rows: TestRow[] = generateRows(120, 11).map((r, i) => {
  const region = i < 24 ? 'south' : i < 36 ? 'west' : i % 2 ? 'north' : 'east';
  const customer = i < 24 ? `SOUTH-${i % 3}` : i < 36 ? `WEST-${i % 2}` : r.customer_id;
  return { ...r, region, customer_id: customer };
});

describe('enclave: row admission at upload, and HE k-suppression on distinct people', function () {
  this.timeout(120_000);
  let dir: string;
  let enclave: EnclaveClient;
  let info: EnclavePublicInfo;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();
  const blobPath = (h: string) => bundleBlobPath(join(dir, 'bundle'), h);
  const rowChunkRef = (index: number) => sealed.manifest.chunks.find((c) => c.kind === 'rows' && c.index === index)!;
  /** Puts `bytes` into the enclave's blob store under their own SM3 name (as a tampering owner could upload them). */
  const store = (bytes: Uint8Array): void => writeFileSync(blobPath(sm3Hex(bytes)), bytes);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-admit-'));
    writeCsv(join(dir, 'data.csv'), rows);
    enclave = await startTestEnclave(dir, parties);
    info = await enclave.publicInfo();
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 25, evaluator });
  });
  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // the refusal allowance is joint across the bundle's buyers: each test starts with none used on it
  afterEach(() => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { fileMustExist: true });
    try {
      db.prepare('DELETE FROM privacy_refusal').run();
    } finally {
      db.close();
    }
  });

  const he = heReleaser(() => ({ dir, enclave, evaluator, info, sealed, parties }));
  /**
   * A release under a v2 approval (this enclave is a production one): the reviewer signs the privacy terms —
   * k, ε, the per-person row cap, the budgets — that the release's policy and budget then carry.
   */
  const release = (c: unknown, policy: OutputPolicy, extra: Partial<AggregateReleaseRequest> = {}, buyerOrgId = 'org-buyer') => {
    const computation = AggregateComputation.parse(c);
    const t = { ...newTrade(sealed.manifest.commitment), buyerOrgId };
    const terms = {
      minGroupSize: policy.minGroupSize,
      epsilon: policy.dp?.epsilon ?? 0,
      delta: policy.dp?.delta ?? 0,
      maxRowsPerPerson: policy.maxRowsPerPerson ?? 1,
      epsilonBudgetPerBuyer: 10,
      refusalAllowance: 3,
      epsilonBudgetTotal: 100,
      deltaBudgetTotal: 1e-6,
    };
    const now = Date.now();
    const approval = signApproval(
      {
        type: 'shuyu.approval.v2',
        ...t,
        buyerUserId: 'buyer-user-1',
        computationHash: computationHash(computation),
        reviewerId: 'reviewer-1',
        reviewerKeyFingerprint: sm2Fingerprint(parties.reviewer.publicKey),
        decidedAt: new Date(now - 1000).toISOString(),
        expiresAt: new Date(now + 3600_000).toISOString(),
        privacy: terms,
      },
      parties.reviewer.privateKey,
    );
    return he.releaseOf(computation, policy, {
      trade: { tradeId: t.tradeId, datasetId: t.datasetId, buyerOrgId: t.buyerOrgId, offerId: t.offerId, offerVersion: 1, priceFen: 12_345 },
      approval,
      budget: { limitEpsilon: 10, chargeKey: `trade:${t.tradeId}`, refusalAllowance: 3, datasetLimitEpsilon: 100, datasetLimitDelta: 1e-6 },
      ...extra,
    });
  };
  const errorType = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
      return 'accepted';
    } catch (e) {
      return isDomainError(e) ? e.type : String(e);
    }
  };
  /** The manifest with one row-chunk entry replaced by `bytes` (its own SM3 and size), re-committed as an owner could. */
  function withRowChunk(index: number, bytes: Uint8Array): BundleManifest {
    const body = structuredClone(sealed.manifest) as Partial<BundleManifest>;
    delete body.commitment;
    const at = body.chunks!.findIndex((c) => c.kind === 'rows' && c.index === index);
    body.chunks![at] = { ...body.chunks![at]!, sm3: sm3Hex(bytes), size: bytes.length };
    return withCommitment(body as Parameters<typeof withCommitment>[0]);
  }

  // a customer of 'south' has 8 rows: the most any one person has
  const mostRows = Math.max(...Object.values(rows.reduce<Record<string, number>>((a, r) => ((a[r.customer_id] = (a[r.customer_id] ?? 0) + 1), a), {})));
  it('admission reads and authenticates every chunk from the blob store and stores the map; releases then read no chunk', async () => {
    const total = { kind: 'aggregate', metrics: [{ op: 'count' }] };
    expect(await enclave.admitRows(sealed.manifest)).to.equal(rows.length);
    // with a chunk gone from the store, the release still answers: it used the map admission stored
    const first = blobPath(rowChunkRef(0).sm3);
    renameSync(first, `${first}.away`);
    try {
      const out = await release(total, { minGroupSize: K, mode: 'enforce', maxRowsPerPerson: mostRows });
      expect(out.result.groups[0]!.values.count).to.equal(rows.length);
    } finally {
      renameSync(`${first}.away`, first);
    }
  });

  it('refuses a row chunk tampered under a valid commitment, a swapped, a missing and an altered-on-disk chunk', async () => {
    const chunk2 = readFileSync(blobPath(rowChunkRef(2).sm3));
    const flipped = Buffer.from(chunk2);
    flipped[flipped.length - 40]! ^= 0x01; // inside the SM4-CTR ciphertext: the HMAC-SM3 tag no longer matches
    store(flipped);
    expect(await errorType(enclave.admitRows(withRowChunk(2, flipped)))).to.equal('row-chunk-invalid');
    // chunk 3's (authentic) bytes in position 2: its aad binds it to position 3
    expect(await errorType(enclave.admitRows(withRowChunk(2, readFileSync(blobPath(rowChunkRef(3).sm3)))))).to.equal('row-chunk-invalid');
    // a manifest naming bytes the store does not hold
    expect(await errorType(enclave.admitRows(withRowChunk(2, Buffer.from('never uploaded'))))).to.equal('row-chunk-missing');
    // the store's file changed under its name: re-hashed against the manifest, refused
    const path = blobPath(rowChunkRef(2).sm3);
    copyFileSync(path, `${path}.orig`);
    try {
      writeFileSync(path, flipped);
      expect(await errorType(enclave.admitRows(sealed.manifest))).to.equal('row-chunk-invalid');
    } finally {
      renameSync(`${path}.orig`, path);
    }
  });

  // an exact HE release cannot drop rows either: the offer's cap must cover every person's rows
  it('an exact HE release is refused when a person has more rows than the offer caps', async () => {
    const err = await release({ kind: 'aggregate', metrics: [{ op: 'count' }] }, { minGroupSize: K, mode: 'enforce', maxRowsPerPerson: mostRows - 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDomainError(err) && err.type, String(err)).to.equal('privacy-contribution-unbounded');
  });

  // whether some person has more rows than the cap is a fact about the data: recorded against the allowance
  it('the over-cap refusal is recorded: after the allowance, the next exact release is refused from the count', async () => {
    const total = { kind: 'aggregate', metrics: [{ op: 'count' }] };
    const overCap = { minGroupSize: K, mode: 'enforce' as const, maxRowsPerPerson: mostRows - 1 };
    for (let i = 0; i < 3; i++) expect(await errorType(release(total, overCap, {}, 'org-over-cap'))).to.equal('privacy-contribution-unbounded');
    expect(await errorType(release(total, overCap, {}, 'org-over-cap'))).to.equal('privacy-refusal-allowance-exhausted');
    expect(await errorType(release(total, { ...overCap, maxRowsPerPerson: mostRows }, {}, 'org-over-cap'))).to.equal('privacy-refusal-allowance-exhausted');
  });

  it('an exact HE release with groups of ≥ k rows but < k distinct customers is refused whole, never released short', async () => {
    const byRegion = { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['region'] };
    // south and west hold ≥ k rows but fewer than k people: leaving them out would answer "are they below k?" for free
    expect(await errorType(release(byRegion, { minGroupSize: K, mode: 'enforce', maxRowsPerPerson: mostRows }, {}, 'org-by-region'))).to.equal('privacy-min-group-refused');
    // the regions that do hold k people, alone: what is left (south and west) is mostly one customer's rows, and
    // totals are public elsewhere, so the rest would be nearly that customer's own sum
    const northEast = { ...byRegion, filters: [{ column: 'region', in: ['north', 'east'] }] };
    expect(await errorType(release(northEast, { minGroupSize: K, mode: 'enforce', maxRowsPerPerson: mostRows }, {}, 'org-by-region'))).to.equal('privacy-differencing-refused');
    // the total is released, k counted in people
    const out = await release({ kind: 'aggregate', metrics: [{ op: 'count' }] }, { minGroupSize: K, mode: 'enforce', maxRowsPerPerson: mostRows }, {}, 'org-by-region');
    expect(out.result.groups[0]!.values.count).to.equal(rows.length);
    expect(JSON.parse(out.receipt.payload).privacy).to.include({ absentGroups: 'empty-or-withheld' }).and.not.have.property('suppressedGroups');
    const steps = JSON.stringify(out.privacy);
    expect(steps).to.match(/distinct identifiers/);
  });

  const dpSum = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'qty' }], groupBy: ['region'] };

  it('a DP HE release is refused when a person has more rows than the offer caps (it cannot drop rows)', async () => {
    expect(mostRows).to.equal(8);
    for (const cap of [1, mostRows - 1]) {
      const err = await release(dpSum, { minGroupSize: K, mode: 'enforce', dp: { epsilon: 1 }, maxRowsPerPerson: cap }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDomainError(err) && err.type, String(err)).to.equal('privacy-contribution-unbounded');
      expect((err as Error).message).to.match(/maxRowsPerPerson/).and.match(/SQL/);
      expect(JSON.stringify(err)).to.not.include(String(mostRows)); // the dataset's maximum is not told
    }
  });

  it('DP HE refusals count against the refusal allowance: past it, the release is refused before any decryption', async () => {
    // a buyer of its own, allowance 3: three recorded refusals, then the allowance answers whatever the cap
    const probe = (cap: number) =>
      release(dpSum, { minGroupSize: K, mode: 'enforce', dp: { epsilon: 1 }, maxRowsPerPerson: cap }, {}, 'org-dp-prober').then(
        () => 'released',
        (e: unknown) => (isDomainError(e) ? e.type : String(e)),
      );
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await probe(1));
    seen.push(await probe(1), await probe(mostRows));
    expect(seen).to.deep.equal([...Array(3).fill('privacy-contribution-unbounded'), 'privacy-refusal-allowance-exhausted', 'privacy-refusal-allowance-exhausted']);
  });

  it('a DP HE release with the cap covering every person answers every region, noised with Δ = m per person, no k', async () => {
    // another buyer: the refusals above used this one's allowance, which DP releases respect too
    const out = await release(dpSum, { minGroupSize: K, mode: 'enforce', dp: { epsilon: 1 }, maxRowsPerPerson: mostRows }, {}, 'org-dp-buyer');
    expect(out.result.groups.map((g) => g.key)).to.deep.equal(testSchema.columns.find((c) => c.name === 'region')!.values!.map((v) => [v]));
    for (const g of out.result.groups) for (const o of out.result.outputs) expect(g.values[o], `${g.key[0]} ${o}`).to.be.a('number');
    const privacy = JSON.parse(out.receipt.payload).privacy;
    expect(privacy).to.include({ absentGroups: 'none', maxRowsPerPerson: mostRows, measurements: 2 });
    expect(privacy.accuracy.count).to.include({ sensitivity: mostRows, mechanism: 'discrete-laplace' });
    expect(privacy.accuracy['sum(qty)']).to.include({ sensitivity: mostRows * 150 + mostRows }); // m · max(|lo|, |hi|) + m grid units of rounding
  });
});
