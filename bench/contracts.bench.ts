/**
 * contracts/ figures on the store, on both engines: the SQLite file in WAL mode, then PostgreSQL (a schema in
 * SHUYU_BENCH_DATABASE_URL when set, else a throw-away database of its own on the local server, bench/pg.ts):
 * - ledger top-ups per second (domain checks + idempotency + audit event in one transaction), beside the
 *   same rows written by bare INSERTs in one transaction each (baseline: what the bookkeeping costs);
 * - whole trades per second (quote → submit with hold and screening → signed approval → execute → deliver
 *   with capture), no baseline;
 * - audit chain verification, events per second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem, sm2Sign } from '../crypto/index.js';
import { createContracts } from '../contracts/index.js';
import { approvalStatementFor, certifyReviewer, signApproval } from '../contracts/review/approval.js';
import { DatasetSchema } from '../contracts/dataset/schema.js';
import { openDatabase, type Db } from '../server/store/db.js';
import { contractsStore } from '../server/store/tables/contracts-store.js';
import { emit, note } from './lib.js';
import { postgresAvailable, withThrowawayDatabase } from './pg.js';

export default async function (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-bench-contracts-'));
  try {
    await run(await openDatabase(join(dir, 'bench.sqlite')), 'sqlite');
    const pgUrl = process.env.SHUYU_BENCH_DATABASE_URL;
    if (pgUrl) {
      const schema = `bench_${Date.now().toString(36)}`;
      await run(await openDatabase(pgUrl, { schema }), 'postgres', async (db) => void (await db.run(`DROP SCHEMA ${schema} CASCADE`)));
    } else {
      // no database given: one of its own on the local PostgreSQL, when there is one
      if (await postgresAvailable()) await withThrowawayDatabase('contracts', async (url) => run(await openDatabase(url), 'postgres'));
      else note('contracts on PostgreSQL skipped: no server at SHUYU_BENCH_PG_ADMIN_URL; set it or SHUYU_BENCH_DATABASE_URL=postgres://…');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let sqliteStepMs: number | null = null;

async function run(db: Db, engine: string, cleanUp?: (db: Db) => Promise<void>): Promise<void> {
  const tag = engine === 'sqlite' ? '' : `.${engine}`;
  {
    const platformKey = sm2KeyPair();
    const signer = { publicKeyPem: sm2PublicKeyToPem(platformKey.publicKey), sign: (m: Uint8Array) => sm2Sign(platformKey.privateKey, m) };
    const operator = sm2KeyPair();
    const c = createContracts({ store: contractsStore(db), signer, operatorPublicKeyPem: sm2PublicKeyToPem(operator.publicKey) });

    // ledger vs bare inserts
    const N = engine === 'sqlite' ? 3000 : 500;
    let t0 = performance.now();
    for (let i = 0; i < N; i++) await c.topUp({ orgId: `org-${i % 10}`, amountFen: 100, idempotencyKey: `b-${i}`, actor: 'bench' });
    const ledgerRate = N / ((performance.now() - t0) / 1000);
    await db.run('CREATE TABLE bare_txn (id TEXT PRIMARY KEY, k TEXT UNIQUE)');
    await db.run('CREATE TABLE bare_entry (t TEXT, a TEXT, amount INTEGER)');
    t0 = performance.now();
    for (let i = 0; i < N; i++) {
      await db.transaction(async () => {
        await db.run('INSERT INTO bare_txn VALUES (?, ?)', `t${i}`, `k${i}`);
        await db.run('INSERT INTO bare_entry VALUES (?, ?, ?)', `t${i}`, 'a', -100);
        await db.run('INSERT INTO bare_entry VALUES (?, ?, ?)', `t${i}`, 'b', 100);
      });
    }
    const bareRate = N / ((performance.now() - t0) / 1000);
    emit({ name: `contracts.ledger-topups${tag}`, value: ledgerRate, unit: 'tx/s', baseline: bareRate });

    // whole trades
    const schema = DatasetSchema.parse({ sector: 'tourism', columns: [
      { name: 'county', type: 'category', role: 'dimension', level: 1, values: ['a', 'b'] },
      { name: 'visits', type: 'int', role: 'measure', level: 2, bounds: [0, 1000] },
    ] });
    const dataset = { id: 'ds', ownerOrgId: 'org-owner', commitment: 'c'.repeat(64), schema, rowCount: 10_000 };
    const reviewerKey = sm2KeyPair();
    const certificate = certifyReviewer({ type: 'shuyu.reviewer-cert.v1', reviewerId: 'rev', orgId: 'org-rev', publicKeyPem: sm2PublicKeyToPem(reviewerKey.publicKey), fingerprint: sm2Fingerprint(reviewerKey.publicKey), issuedAt: '2020-01-01T00:00:00.000Z', expiresAt: '2100-01-01T00:00:00.000Z' }, operator.privateKey);
    const { offer } = await c.createOffer({ dataset, actor: { userId: 'owner', orgId: 'org-owner' }, input: {
      title: 'bench', allowedKinds: ['aggregate'], allowedColumns: ['county', 'visits'], priceModel: { kind: 'fixed', perQueryFen: 10 }, platformFeeBps: 500,
      terms: { purposes: ['statistics'], validFrom: '2020-01-01T00:00:00.000Z', validUntil: '2100-01-01T00:00:00.000Z', queryQuotaPerBuyer: 1_000_000, destinations: ['CN'], minGroupSize: 5, epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 100 },
    } });
    const buyer = { userId: 'buyer', orgId: 'org-0', orgName: 'bench buyer' };
    const computation = { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'visits' }], groupBy: ['county'], filters: [] };
    const T = engine === 'sqlite' ? 150 : 50;
    const steps: number[] = [];
    t0 = performance.now();
    for (let i = 0; i < T; i++) {
      const quote = await c.quote({ request: { offerId: offer.id, computation, purpose: { code: 'statistics', statement: '' }, destination: 'CN' }, dataset, buyer });
      let s0 = performance.now();
      const t = await c.submitTrade({ request: { quote, computation }, dataset, buyer });
      const now = new Date();
      const approval = signApproval(
        approvalStatementFor(
          { trade: t, privacy: t.privacyTerms, reviewerId: 'rev', reviewerKeyFingerprint: certificate.statement.fingerprint },
          { decidedAt: new Date(now.getTime() - 1000).toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString() },
        ),
        reviewerKey.privateKey,
      );
      steps.push(performance.now() - s0);
      s0 = performance.now();
      await c.decideReview({ tradeId: t.id, reviewer: { userId: 'rev', orgId: 'org-rev' }, decision: { decision: 'approve', reason: 'bench approval', approval }, certificate });
      steps.push(performance.now() - s0);
      s0 = performance.now();
      await c.startExecution({ tradeId: t.id, actor: 'worker' });
      steps.push(performance.now() - s0);
      s0 = performance.now();
      await c.deliver({ tradeId: t.id, actor: 'worker', result: { receiptId: `r${i}` } });
      steps.push(performance.now() - s0);
    }
    emit({ name: `contracts.trade-lifecycle${tag}`, value: T / ((performance.now() - t0) / 1000), unit: 'trades/s', baseline: null });
    // one trade step (submit with hold, approve with job, start, deliver with capture) is one store transaction
    steps.sort((a, b) => a - b);
    // on PostgreSQL, beside the SQLite file's figure of the same run
    const stepMs = steps[Math.floor(steps.length / 2)]!;
    if (engine === 'sqlite') sqliteStepMs = stepMs;
    emit({ name: `contracts.trade-step-transaction${tag}`, value: stepMs, unit: 'ms (median)', baseline: engine === 'sqlite' ? null : sqliteStepMs });

    // audit verification
    const cp = await c.checkpoint();
    const events = (await c.auditEvents()).length;
    t0 = performance.now();
    const v = await c.verifyAudit(cp);
    if (!v.ok) throw new Error(`audit did not verify: ${v.reason}`);
    emit({ name: `contracts.audit-verify${tag}`, value: events / ((performance.now() - t0) / 1000), unit: 'events/s', baseline: null });
    note(`${engine}: ${events} audit events, ${(await c.checkpoints()).length} checkpoint(s)`);
    await cleanUp?.(db);
    await db.close();
  }
}
