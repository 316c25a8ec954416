import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startServer, type RunningServer } from '../../server/start.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import { sm2KeyPair, sm2PublicKeyToPem, sm2Fingerprint } from '../../crypto/index.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { operatorFromBootstrap, type Actor } from './harness.js';

/**
 * ONE real server for the integration files of test/server (real HTTP on a free port, temp data dir,
 * the real forked enclave, real SQLite and blob store), started on first use and stopped by a root hook.
 * Every log line is captured: the secrecy scan reads them and a root hook fails the run on any 5xx.
 */
export interface Live {
  srv: RunningServer;
  dir: string;
  logs: string[];
  http: () => ReturnType<typeof request>;
  operator: Actor & { privateKey: Uint8Array; publicKeyPem: string };
  enclaveInfo: Record<string, any>;
}

let live: Promise<Live> | null = null;

export function liveServer(): Promise<Live> {
  holders++;
  if (idle) clearTimeout(idle);
  idle = null;
  return (live ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-live-'));
    const logs: string[] = [];
    const srv = await startServer({
      dataDir: join(dir, 'data'),
      port: 0,
      logLevel: 'info',
      rateLimitPerMinute: 1_000_000,
      jobPollMs: 200, // approvals kick the worker; polling only catches retries
      maxBlobBytes: 8 * 1024 * 1024,
      env: { SHUYU_MASTER_SECRET: 'test-master-secret-' + dir },
      enclaveEnv: { SHUYU_ENCLAVE_TEST_MODE: '1' },
      logDestination: { write: (s: string) => void logs.push(s) },
    });
    const http = () => request(srv.url);
    const info = (await http().get('/v1/enclave')).body;
    return {
      srv,
      dir,
      logs,
      http,
      enclaveInfo: info,
      operator: operatorFromBootstrap(join(dir, 'data', 'bootstrap.json')),
    };
  })());
}

/**
 * Files that use the live server call releaseLive() in their after hook; once no file holds it for 3 s
 * it is stopped, so a whole-project `npm test` does not keep an enclave and HE workers alive meanwhile.
 */
let holders = 0;
let idle: NodeJS.Timeout | null = null;
const problems: string[] = [];

async function shutdown(): Promise<void> {
  if (!live) return;
  const p = live;
  live = null;
  try {
    const l = await p;
    await l.srv.close();
    problems.push(...l.logs.filter((s) => /"status":5\d\d|"level":50/.test(s)));
    rmSync(l.dir, { recursive: true, force: true });
  } catch (e) {
    problems.push(`live server shutdown: ${(e as Error).message}`);
  }
}

export function releaseLive(): void {
  holders = Math.max(0, holders - 1);
  if (holders === 0) {
    idle = setTimeout(() => void shutdown(), 3000);
    idle.unref();
  }
}

after(async function () {
  this.timeout(20_000);
  if (idle) clearTimeout(idle);
  await shutdown();
  if (problems.length) throw new Error(`the live server answered 5xx or logged errors: ${problems.slice(0, 3).join('\n')}`);
});

let orgSeq = 0;
export async function liveActor(l: Live, role: 'owner' | 'buyer' | 'reviewer', org?: { id: string }): Promise<Actor> {
  let orgId = org?.id;
  if (!orgId) {
    const r = await l.http().post('/v1/orgs').set(l.operator.auth).send({ name: `${role} org ${++orgSeq} ${Date.now()}` });
    if (r.status !== 201) throw new Error(`org: ${r.status} ${JSON.stringify(r.body)}`);
    orgId = r.body.id as string;
  }
  const u = await l.http().post('/v1/users').set(l.operator.auth).send({ orgId, name: `${role} ${orgSeq}`, role });
  if (u.status !== 201) throw new Error(`user: ${u.status} ${JSON.stringify(u.body)}`);
  const auth = { Authorization: `Bearer ${u.body.token.token}` };
  const kp = sm2KeyPair();
  const publicKeyPem = sm2PublicKeyToPem(kp.publicKey);
  const k = await l.http().put('/v1/me/key').set(auth).send({ publicKeyPem });
  if (k.status !== 200) throw new Error(`key: ${k.status} ${JSON.stringify(k.body)}`);
  return { userId: u.body.user.id, orgId: orgId!, role, token: u.body.token.token, auth, keys: { ...kp, publicKeyPem, fingerprint: sm2Fingerprint(kp.publicKey) } };
}

// ── a small sealed dataset with values the secrecy scan can look for ─────────
export const TOURISM_SCHEMA: DatasetSchema = {
  sector: 'tourism',
  columns: [
    { name: 'visitor_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal'] },
    { name: 'region', type: 'category', role: 'dimension', level: 1, tags: [], values: ['Kunming', 'Dali', 'Lijiang'] },
    { name: 'spend', type: 'decimal(2)', role: 'measure', level: 2, tags: ['financial'], bounds: [0, 100000] },
    { name: 'nights', type: 'int', role: 'measure', level: 2, tags: [], bounds: [0, 60] },
    { name: 'hometown', type: 'text', role: 'attribute', level: 2, tags: ['personal'] },
  ],
};

export interface SealedFixture {
  csv: string;
  rows: string[][];
  manifest: Record<string, any>;
  blobDir: string;
  /** Values that must never appear in plaintext outside the owner's machine and the enclave. */
  secrets: string[];
}

/** Deterministic rows: spend has 2 decimals with distinctive digits, ids and hometowns are unique strings; regions in turn unless `regionOf` says. */
export async function sealTourism(l: Live, rows = 60, tag = 'a', regionOf?: (i: number) => string): Promise<SealedFixture> {
  const dir = mkdtempSync(join(l.dir, `bundle-${tag}-`));
  const regions = ['Kunming', 'Dali', 'Lijiang'];
  const data: string[][] = [];
  for (let i = 0; i < rows; i++) {
    const spend = (31_000 + ((i * 7919) % 60_000) + ((i * 37) % 100) / 100).toFixed(2);
    data.push([`VIS-${tag}-${(1_000_003 + i * 7717).toString(36).toUpperCase()}Q`, regionOf?.(i) ?? regions[i % 3]!, spend, String((i * 5) % 30), `Hometown${tag}${(i * 104_729).toString(36)}X`]);
  }
  const csv = join(dir, 'data.csv');
  writeFileSync(csv, ['visitor_id,region,spend,nights,hometown', ...data.map((r) => r.join(','))].join('\n') + '\n');
  const out = join(dir, 'bundle');
  const res = await sealDataset({ input: csv, schema: TOURISM_SCHEMA, enclave: l.enclaveInfo as any, outDir: out, threads: 1, rowsPerChunk: 32 });
  const secrets = data.flatMap((r) => [r[0]!, r[2]!, r[4]!]);
  return { csv, rows: data, manifest: res.manifest as any, blobDir: res.blobDir, secrets };
}

export function blobsOf(f: SealedFixture): { hash: string; bytes: Buffer }[] {
  return readdirSync(f.blobDir).map((h) => ({ hash: h, bytes: readFileSync(join(f.blobDir, h)) }));
}

/** Creates an upload, sends every blob, completes: returns the dataset. */
export async function uploadBundle(l: Live, owner: Actor, f: SealedFixture, title = 'Yunnan visitor spending'): Promise<Record<string, any>> {
  const up = await l.http().post('/v1/uploads').set(owner.auth).send({ title, description: 'Visitor spending by region', keywords: ['yunnan', 'visitors'], manifest: f.manifest });
  if (up.status !== 201) throw new Error(`upload: ${up.status} ${JSON.stringify(up.body)}`);
  for (const b of blobsOf(f)) {
    const r = await l.http().put(`/v1/uploads/${up.body.id}/blobs/${b.hash}`).set(owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes);
    if (r.status !== 200) throw new Error(`blob: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const done = await l.http().post(`/v1/uploads/${up.body.id}/complete`).set(owner.auth).send();
  if (done.status !== 201) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`);
  return done.body;
}

// ── a market: owner with a dataset and an offer, a funded buyer, a certified reviewer ──
import { certifyReviewer, signApproval } from '../../contracts/review/approval.js';

export function offerInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Date.now();
  return {
    title: 'Visitor spending by region',
    description: 'Counts, sums and means of visitor spending by region',
    allowedKinds: ['aggregate', 'sql'],
    allowedColumns: ['region', 'spend', 'nights'],
    priceModel: { kind: 'fixed', perQueryFen: 5000 },
    platformFeeBps: 1000,
    terms: {
      purposes: ['market-research', 'tourism-planning'],
      validFrom: new Date(now - 3600_000).toISOString(),
      validUntil: new Date(now + 30 * 86_400_000).toISOString(),
      queryQuotaPerBuyer: 1000,
      destinations: ['CN', 'DE'],
      minGroupSize: 5,
      epsilonPerQuery: 0,
      epsilonBudgetPerBuyer: 0,
    },
    ...overrides,
  };
}

export const SPEND_BY_REGION = {
  kind: 'aggregate',
  metrics: [{ op: 'count' }, { op: 'sum', measure: 'spend' }, { op: 'mean', measure: 'nights' }],
  groupBy: ['region'],
  filters: [],
};

export interface Market {
  owner: Actor;
  buyer: Actor;
  reviewer: Actor;
  fixture: SealedFixture;
  dataset: Record<string, any>;
  offer: Record<string, any>;
}

export async function certify(l: Live, reviewer: Actor): Promise<void> {
  const now = Date.now();
  const cert = certifyReviewer(
    {
      type: 'shuyu.reviewer-cert.v1',
      reviewerId: reviewer.userId,
      orgId: reviewer.orgId,
      publicKeyPem: reviewer.keys!.publicKeyPem,
      fingerprint: reviewer.keys!.fingerprint,
      issuedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + 365 * 86_400_000).toISOString(),
    },
    l.operator.privateKey,
  );
  const r = await l.http().put(`/v1/users/${reviewer.userId}/certificate`).set(l.operator.auth).send({ certificate: cert });
  if (r.status !== 200) throw new Error(`certify: ${r.status} ${JSON.stringify(r.body)}`);
}

let idem = 0;
export const idemKey = (): string => `test-key-${Date.now()}-${++idem}`;

export async function topUp(l: Live, orgId: string, amountFen: number): Promise<void> {
  const r = await l.http().post('/v1/ledger/topups').set(l.operator.auth).set('Idempotency-Key', idemKey()).send({ orgId, amountFen, memo: 'test funds' });
  if (r.status !== 201) throw new Error(`top-up: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function market(l: Live, opts: { rows?: number; tag?: string; fixture?: SealedFixture } = {}): Promise<Market> {
  const owner = await liveActor(l, 'owner');
  const buyer = await liveActor(l, 'buyer');
  const reviewer = await liveActor(l, 'reviewer');
  await certify(l, reviewer);
  const fixture = opts.fixture ?? (await sealTourism(l, opts.rows ?? 60, opts.tag ?? 'm'));
  const dataset = await uploadBundle(l, owner, fixture);
  const o = await l.http().post(`/v1/datasets/${dataset.id}/offers`).set(owner.auth).send(offerInput());
  if (o.status !== 201) throw new Error(`offer: ${o.status} ${JSON.stringify(o.body)}`);
  await topUp(l, buyer.orgId, 100_000);
  return { owner, buyer, reviewer, fixture, dataset, offer: o.body.offer };
}

export async function quoteAndSubmit(
  l: Live,
  m: Market,
  opts: { computation?: Record<string, unknown>; purpose?: { code: string; statement: string }; destination?: string } = {},
): Promise<{ quote: Record<string, any>; trade: Record<string, any>; status: number; body: any }> {
  const computation = opts.computation ?? SPEND_BY_REGION;
  const q = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).send({
    computation,
    purpose: opts.purpose ?? { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' },
    destination: opts.destination ?? 'CN',
  });
  if (q.status !== 201) throw new Error(`quote: ${q.status} ${JSON.stringify(q.body)}`);
  const t = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', idemKey()).send({ quote: q.body, computation });
  return { quote: q.body, trade: t.body, status: t.status, body: t.body };
}

export async function approve(l: Live, m: Market, tradeId: string): Promise<any> {
  const c = await l.http().get(`/v1/reviews/${tradeId}`).set(m.reviewer.auth);
  if (c.status !== 200) throw new Error(`case: ${c.status} ${JSON.stringify(c.body)}`);
  const now = Date.now();
  const approval = signApproval(
    { ...c.body.approvalTemplate, decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() },
    m.reviewer.keys!.privateKey,
  );
  return l.http().post(`/v1/reviews/${tradeId}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'aggregate only, purpose fits', approval });
}

export async function waitForTrade(l: Live, auth: Record<string, string>, tradeId: string, states: string[], timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await l.http().get(`/v1/trades/${tradeId}`).set(auth);
    if (states.includes(r.body.state)) return r.body;
    if (Date.now() > until) throw new Error(`trade ${tradeId} stuck in ${r.body.state}: ${JSON.stringify(r.body.job)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
