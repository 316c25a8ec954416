/**
 * Server-side HE aggregation and enclave release, on the shared 1M-row table (bench/he-data.ts),
 * each beside its plaintext baseline measured in the same run:
 *   HE SUM (evaluation on 2 worker threads, warm keys) vs SQLite `SELECT SUM(m1)` on a file database;
 *   HE GROUP BY of the 20-value dimension vs SQLite `GROUP BY` without an index;
 *   enclave release (approval check, decrypt one value per group, gate, SM2 receipt) vs bare SM2 signing.
 * HE figures include the `_count` column the enclave always decrypts for k-suppression.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AggregateComputation } from '../contracts/computation.js';
import { approvalStatementFor, certifyReviewer, signApproval } from '../contracts/review/approval.js';
import { computationHash } from '../contracts/computation.js';
import { newId } from '../contracts/ids.js';
import { bundleBlobPath } from '../client-sdk/dataset/seal.js';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem, sm2Sign } from '../crypto/index.js';
import { galoisKeysPath } from '../enclave/keystore/keystore.js';
import { EnclaveClient } from '../server/enclave/client.js';
import { ping } from '../enclave/process/handlers/ping.js';
import { emit, note } from './lib.js';
import { benchData, doneWithBenchData } from './he-data.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function timeMs(fn: () => unknown, runs: number): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  return median(t);
}

export default async function (): Promise<void> {
  try {
    await heFigures();
  } finally {
    await doneWithBenchData('he.bench.ts');
  }
}

async function heFigures(): Promise<void> {
  const d = await benchData();
  const db = new Database(d.sqlitePath, { readonly: true });
  const sqlSum = db.prepare('SELECT SUM(m1) FROM t');
  const sqlGroup = db.prepare('SELECT dim, SUM(m1) FROM t GROUP BY dim');
  sqlSum.get();
  sqlGroup.all();
  const sumBase = await timeMs(() => sqlSum.get(), 5);
  const groupBase = await timeMs(() => sqlGroup.all(), 5);
  db.close();

  const sum = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'm1' }] });
  const group = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'm1' }], groupBy: ['dim'] });
  const input = (computation: AggregateComputation) => ({
    manifest: d.sealed.manifest,
    computation,
    galoisKeys: { fingerprint: d.info.he.galoisKeysFingerprint, path: galoisKeysPath(join(d.dir, 'enclave', 'keystore')) },
    blobPath: (h: string) => bundleBlobPath(join(d.dir, 'bundle'), h),
  });
  await d.evaluator.evaluateAggregate(input(sum)); // warm: Galois keys into each worker
  await d.evaluator.evaluateAggregate(input(group));
  const sumOps: number[] = [];
  const heSum = await timeMs(async () => {
    await d.evaluator.evaluateAggregate(input(sum));
    sumOps.push(d.evaluator.lastStats!.opsMs);
  }, 3);
  const groupOps: number[] = [];
  const heGroup = await timeMs(async () => {
    await d.evaluator.evaluateAggregate(input(group));
    groupOps.push(d.evaluator.lastStats!.opsMs);
  }, 3);
  emit({ name: 'HE SUM, 1M rows (evaluation incl. ciphertext load; target ≤ 3×) vs SQLite SELECT SUM', value: heSum, unit: 'ms', baseline: sumBase });
  emit({ name: 'HE GROUP BY 20-value dimension, 1M rows (target ≤ 2×) vs SQLite GROUP BY, no index', value: heGroup, unit: 'ms', baseline: groupBase });
  emit({ name: 'HE SUM, homomorphic operations only (adds + rotate-and-sum, slowest thread) vs SQLite SELECT SUM', value: median(sumOps), unit: 'ms', baseline: sumBase });
  emit({ name: 'HE GROUP BY, homomorphic operations only (slowest thread) vs SQLite GROUP BY', value: median(groupOps), unit: 'ms', baseline: groupBase });

  // enclave release + signing
  // the enclave reads the sealed row chunks itself, from the sealer's bundle directory
  const enclave = await EnclaveClient.start({
    dataDir: join(d.dir, 'enclave'),
    masterSecret: d.masterSecret,
    operatorPublicKeyPem: d.operatorPem,
    blobStore: { kind: 'directory', dir: join(d.dir, 'bundle', 'blobs'), layout: 'flat' },
  });
  try {
    const reviewer = sm2KeyPair();
    const now = Date.now();
    const certificate = certifyReviewer(
      { type: 'shuyu.reviewer-cert.v1', reviewerId: 'r1', orgId: 'org-platform', publicKeyPem: sm2PublicKeyToPem(reviewer.publicKey), fingerprint: sm2Fingerprint(reviewer.publicKey), issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() },
      d.operator.privateKey,
    );
    const releaseOnce = async (computation: AggregateComputation, encrypted: Awaited<ReturnType<typeof d.evaluator.evaluateAggregate>>) => {
      const trade = { tradeId: newId(), datasetId: 'bench', buyerOrgId: 'org-buyer', offerId: 'offer', offerVersion: 1 };
      // an exact release under the terms the reviewer approved (approval v2)
      const privacy = { minGroupSize: 10, epsilon: 0, delta: 0, maxRowsPerPerson: 1, epsilonBudgetPerBuyer: 0, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 };
      const approval = signApproval(
        approvalStatementFor(
          {
            trade: { ...trade, id: trade.tradeId, datasetCommitment: d.sealed.manifest.commitment, buyerUserId: 'u', computationHash: computationHash(computation) },
            privacy,
            reviewerId: 'r1',
            reviewerKeyFingerprint: sm2Fingerprint(reviewer.publicKey),
          },
          { decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() },
        ),
        reviewer.privateKey,
      );
      const budget = { limitEpsilon: 0, chargeKey: `trade:${trade.tradeId}`, refusalAllowance: 3, datasetLimitEpsilon: 10, datasetLimitDelta: 1e-6 };
      const t = performance.now();
      await enclave.releaseAggregate({
        trade: { ...trade, priceFen: 100 },
        manifest: d.sealed.manifest,
        computation,
        approval,
        reviewerCertificate: certificate,
        policy: { minGroupSize: 10, maxRowsPerPerson: 1 },
        budget,
        encrypted,
      });
      return performance.now() - t;
    };
    const encSum = await d.evaluator.evaluateAggregate(input(sum));
    const encGroup = await d.evaluator.evaluateAggregate(input(group));
    // admission (when an upload completes) reads every sealed row chunk and keeps the row map the releases use
    const admit = performance.now();
    await enclave.admitRows(d.sealed.manifest);
    note(`admission (row map from ${d.sealed.stats.rowChunks} sealed row chunks, once per dataset version): ${(performance.now() - admit).toFixed(0)} ms`);
    const firstRelease = await releaseOnce(sum, encSum);
    const relSum = median([await releaseOnce(sum, encSum), await releaseOnce(sum, encSum), await releaseOnce(sum, encSum)]);
    const relGroup = median([await releaseOnce(group, encGroup), await releaseOnce(group, encGroup), await releaseOnce(group, encGroup)]);
    const signMs = await timeMs(() => sm2Sign(reviewer.privateKey, 'x'.repeat(2000)), 20);
    emit({ name: 'enclave release + SM2 receipt, ungrouped SUM (IPC, approval check, decryption, gate) vs bare SM2 sign', value: relSum, unit: 'ms', baseline: signMs });
    emit({ name: 'enclave release + SM2 receipt, 20 groups vs bare SM2 sign', value: relGroup, unit: 'ms', baseline: signMs });
    emit({ name: 'first release on a new dataset version (after admission) vs a later ungrouped release', value: firstRelease, unit: 'ms', baseline: relSum });
    const before = await enclave.call('ping', { gc: true }, ping.response);
    for (let i = 0; i < 10; i++) await releaseOnce(group, encGroup);
    const after = await enclave.call('ping', { gc: true }, ping.response);
    emit({ name: 'enclave RSS growth (after full GC) over 10 more 20-group releases', value: (after.rssBytes - before.rssBytes) / 1e6, unit: 'MB', baseline: null });
    emit({ name: 'enclave V8 heap growth (after full GC) over the same releases', value: (after.heapUsedBytes - before.heapUsedBytes) / 1e6, unit: 'MB', baseline: null });
    note(`HE: ${d.sealed.manifest.layout.partitions.length} partitions, ${d.sealed.stats.ciphertexts} ciphertexts`);
  } finally {
    await enclave.stop();
  }
}
