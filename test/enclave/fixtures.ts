import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { AggregateComputation, Computation } from '../../contracts/computation.js';
import { approvalStatementFor, certifyReviewer, signApproval, type ApprovedPrivacyTerms } from '../../contracts/review/approval.js';
import { computationHash } from '../../contracts/computation.js';
import { newId } from '../../contracts/ids.js';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import type { HeEvaluator } from '../../he/evaluate.js';
import { galoisKeysPath } from '../../enclave/keystore/keystore.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import type { AggregateReleaseRequest, EnclavePublicInfo, OutputPolicy } from '../../formats/enclave-protocol.js';

/**
 * Generated test data for the HE/enclave tests: a deterministic (seeded) table with negative numbers,
 * decimals, a dimension value that never occurs (empty group) and one that occurs a few times (below k),
 * a level-3 dimension (not in the HE layout), an identifier and a free-text attribute.
 */

export const REGIONS = ['north', 'south', 'east', 'west', 'rare', 'unused'];
export const CHANNELS = ['web', 'store', 'phone'];
export const SEGMENTS = ['s1', 's2'];

export const testSchema = DatasetSchema.parse({
  sector: 'credit',
  columns: [
    { name: 'customer_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal'] },
    { name: 'region', type: 'category', role: 'dimension', level: 1, values: REGIONS },
    { name: 'channel', type: 'category', role: 'dimension', level: 2, values: CHANNELS },
    { name: 'segment', type: 'category', role: 'dimension', level: 3, values: SEGMENTS },
    { name: 'amount', type: 'decimal(2)', role: 'measure', level: 2, bounds: [-60, 60] },
    { name: 'qty', type: 'int', role: 'measure', level: 2, bounds: [-50, 150] },
    { name: 'big', type: 'decimal(2)', role: 'measure', level: 2, bounds: [-1000000, 1000000] },
    { name: 'note', type: 'text', role: 'attribute', level: 3 },
    { name: 'opened', type: 'date', role: 'attribute', level: 2 },
  ],
});

/** Small seeded PRNG (mulberry32) so every run sees the same table. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestRow {
  customer_id: string;
  region: string;
  channel: string;
  segment: string;
  amount: string;
  qty: string;
  big: string;
  note: string;
  opened: string;
}

export function generateRows(n: number, seed = 7): TestRow[] {
  const r = rng(seed);
  const rows: TestRow[] = [];
  for (let i = 0; i < n; i++) {
    const region = i % 500 === 3 ? 'rare' : REGIONS[Math.floor(r() * 4)]!; // 'rare' few times, 'unused' never
    const cents = Math.floor(r() * 12001) - 6000;
    rows.push({
      customer_id: `CUST-${(100000 + i * 7).toString(36).toUpperCase()}-${i}`,
      region,
      channel: CHANNELS[Math.floor(r() * 3)]!,
      segment: SEGMENTS[Math.floor(r() * 2)]!,
      amount: (cents / 100).toFixed(2),
      qty: String(Math.floor(r() * 201) - 50),
      big: ((Math.floor(r() * 2e8) - 1e8) / 100).toFixed(2),
      note: `note ${i} zq${Math.floor(r() * 1e9).toString(36)}`,
      opened: `2024-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`,
    });
  }
  return rows;
}

export function writeCsv(path: string, rows: TestRow[]): void {
  const cols = testSchema.columns.map((c) => c.name) as (keyof TestRow)[];
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  writeFileSync(path, [cols.join(','), ...rows.map((r) => cols.map((c) => q(r[c])).join(','))].join('\n') + '\n');
}

/** The same rows in SQLite (the independent plaintext answer). Measures stored as exact integers too. */
export function sqliteOf(rows: TestRow[]): Database.Database {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE t (customer_id TEXT, region TEXT, channel TEXT, segment TEXT, amount REAL, amount_c INTEGER, qty INTEGER, big REAL, big_c INTEGER, note TEXT, opened TEXT)`);
  const ins = db.prepare('INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?)');
  const cents = (s: string) => Math.round(Number(s) * 100);
  db.transaction(() => {
    for (const r of rows) ins.run(r.customer_id, r.region, r.channel, r.segment, Number(r.amount), cents(r.amount), Number(r.qty), Number(r.big), cents(r.big), r.note, r.opened);
  })();
  return db;
}

/** Exact release terms a v2 approval states (k 5, one row per person, the default allowances and dataset budget). */
export const EXACT_TERMS: ApprovedPrivacyTerms = {
  minGroupSize: 5,
  epsilon: 0,
  delta: 0,
  maxRowsPerPerson: 1,
  epsilonBudgetPerBuyer: 1,
  refusalAllowance: 3,
  epsilonBudgetTotal: 10,
  deltaBudgetTotal: 1e-6,
};

/** Operator, a certified reviewer (of another organisation than the buyer) and a way to approve trades. */
export function makeParties() {
  const operator = sm2KeyPair();
  const reviewer = sm2KeyPair();
  const now = Date.now();
  const certificate = certifyReviewer(
    {
      type: 'shuyu.reviewer-cert.v1',
      reviewerId: 'reviewer-1',
      orgId: 'org-platform',
      publicKeyPem: sm2PublicKeyToPem(reviewer.publicKey),
      fingerprint: sm2Fingerprint(reviewer.publicKey),
      issuedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + 3600_000).toISOString(),
    },
    operator.privateKey,
  );
  const approve = (
    t: { tradeId: string; datasetId: string; datasetCommitment: string; buyerOrgId: string; offerId: string; offerVersion: number },
    computation: Computation,
    key = reviewer.privateKey,
    privacy: ApprovedPrivacyTerms | null = null,
  ) =>
    signApproval(
      // v1 (no privacy terms) by default: accepted by the test enclaves these tests start, which then skip the terms check
      approvalStatementFor(
        {
          trade: { ...t, id: t.tradeId, buyerUserId: 'buyer-user-1', computationHash: computationHash(computation) },
          privacy,
          reviewerId: 'reviewer-1',
          reviewerKeyFingerprint: sm2Fingerprint(reviewer.publicKey),
        },
        { decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() },
      ),
      key,
    );
  return { operator, operatorPem: sm2PublicKeyToPem(operator.publicKey), reviewer, certificate, approve };
}

export const newTrade = (datasetCommitment: string) => ({
  tradeId: newId(),
  datasetId: 'dataset-1',
  datasetCommitment,
  buyerOrgId: 'org-buyer',
  offerId: 'offer-1',
  offerVersion: 1,
});

/** What an HE release test sets up in before(): the bundle sealed into `dir`/bundle, the enclave's data in `dir`/enclave. */
export interface HeSetup {
  dir: string;
  enclave: EnclaveClient;
  evaluator: HeEvaluator;
  info: EnclavePublicInfo;
  sealed: SealResult;
  parties: ReturnType<typeof makeParties>;
}

/**
 * `evaluate`: the server's HE evaluation of a computation over the sealed bundle (public keys only);
 * `releaseOf`: that evaluation released by the enclave for a fresh trade the reviewer approved.
 */
export function heReleaser(setup: () => HeSetup) {
  const evaluate = (computation: AggregateComputation) => {
    const s = setup();
    return s.evaluator.evaluateAggregate({
      manifest: s.sealed.manifest,
      computation,
      galoisKeys: { fingerprint: s.info.he.galoisKeysFingerprint, path: galoisKeysPath(join(s.dir, 'enclave', 'keystore')) },
      blobPath: (h) => bundleBlobPath(join(s.dir, 'bundle'), h),
    });
  };
  async function releaseOf(computation: AggregateComputation, policy: OutputPolicy, patch: Partial<AggregateReleaseRequest> = {}) {
    const s = setup();
    const encrypted = await evaluate(computation);
    const request = testRequest(s.parties, s.sealed.manifest, computation);
    return s.enclave.releaseAggregate({
      ...request,
      trade: { ...request.trade, priceFen: 12_345 },
      policy,
      encrypted,
      ...patch,
    });
  }
  return { evaluate, releaseOf };
}

/** Starts a test enclave process in `dir`/enclave that reads sealed chunks from the bundle sealed into `dir`/bundle. */
export function startTestEnclave(dir: string, parties: ReturnType<typeof makeParties>, env?: Record<string, string>): Promise<EnclaveClient> {
  return EnclaveClient.start({
    dataDir: join(dir, 'enclave'),
    masterSecret: 'test-master-secret-0123456789',
    operatorPublicKeyPem: parties.operatorPem,
    ...(env ? { env } : {}),
    blobStore: { kind: 'directory', dir: join(dir, 'bundle', 'blobs'), layout: 'flat' },
  });
}

export interface ApprovedOpts {
  terms?: Partial<ApprovedPrivacyTerms>;
  buyerOrgId?: string;
  datasetId?: string;
  tradeId?: string;
  /** the server's charge key (default: the trade's own) */
  chargeKey?: string;
  /** replaces parts of the policy the server derives from the terms */
  policy?: Record<string, unknown>;
  /** replaces parts of the budget; null sends none */
  budget?: Record<string, unknown> | null;
  /** a v1 approval (no privacy terms) */
  v1?: boolean;
}

/**
 * A release request for its own fresh trade under a v2 approval of `base` with `o.terms` over it, with the policy
 * and budget a server derives from those terms.
 */
export function approvedRequest(parties: ReturnType<typeof makeParties>, manifest: SealResult['manifest'], computation: Computation, base: ApprovedPrivacyTerms, o: ApprovedOpts = {}) {
  const terms = { ...base, ...o.terms };
  const trade = { tradeId: o.tradeId ?? newId(), datasetId: o.datasetId ?? 'dataset-1', buyerOrgId: o.buyerOrgId ?? 'org-buyer', offerId: 'offer-1', offerVersion: 1 };
  const now = Date.now();
  const statement = approvalStatementFor(
    {
      trade: { ...trade, id: trade.tradeId, datasetCommitment: manifest.commitment, buyerUserId: 'buyer-user-1', computationHash: computationHash(computation) },
      privacy: o.v1 ? null : terms,
      reviewerId: 'reviewer-1',
      reviewerKeyFingerprint: sm2Fingerprint(parties.reviewer.publicKey),
    },
    { decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() },
  );
  const policy = { minGroupSize: terms.minGroupSize, mode: 'enforce' as const, maxRowsPerPerson: terms.maxRowsPerPerson, ...(terms.epsilon > 0 ? { dp: { epsilon: terms.epsilon } } : {}), ...o.policy };
  const budget = {
    limitEpsilon: terms.epsilonBudgetPerBuyer,
    chargeKey: o.chargeKey ?? `trade:${trade.tradeId}`,
    refusalAllowance: terms.refusalAllowance,
    datasetLimitEpsilon: terms.epsilonBudgetTotal,
    datasetLimitDelta: terms.deltaBudgetTotal,
    ...o.budget,
  };
  return {
    trade: { ...trade, priceFen: 500 },
    manifest,
    computation,
    approval: signApproval(statement, parties.reviewer.privateKey),
    reviewerCertificate: parties.certificate,
    policy,
    ...(o.budget === null ? {} : { budget }),
  };
}

/** A request under the parties' v1 approval (test enclaves skip the terms check) for a fresh trade. */
export function testRequest<C extends Computation>(parties: ReturnType<typeof makeParties>, manifest: SealResult['manifest'], computation: C, extra: Record<string, unknown> = {}, datasetId?: string) {
  const trade = { ...newTrade(manifest.commitment), ...(datasetId ? { datasetId } : {}) };
  return {
    trade: { tradeId: trade.tradeId, datasetId: trade.datasetId, buyerOrgId: trade.buyerOrgId, offerId: trade.offerId, offerVersion: 1, priceFen: 500 },
    manifest,
    computation,
    approval: parties.approve(trade, computation),
    reviewerCertificate: parties.certificate,
    ...extra,
  };
}
