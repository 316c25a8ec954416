/**
 * What the HTTP and cluster benches share: the real server as a child process, the API over fetch, and a
 * market set up through it (an owner's sealed transport dataset with an offer, a funded buyer, a certified
 * reviewer), plus the reviewer's signed approval of a trade.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { note, writeGeneratedCsv } from './lib.js';
import { DatasetSchema } from '../contracts/dataset/schema.js';
import { sealDataset } from '../client-sdk/dataset/seal.js';
import { sm2KeyPair, sm2PublicKeyToPem, sm2PrivateKeyFromPem, sm2Fingerprint } from '../crypto/index.js';
import { certifyReviewer, signApproval } from '../contracts/review/approval.js';

const DIMS = Array.from({ length: 10 }, (_, i) => `r${i}`);

const schema = DatasetSchema.parse({
  sector: 'transport-logistics',
  columns: [
    { name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 },
    { name: 'route', type: 'category', role: 'dimension', level: 1, values: DIMS },
    { name: 'fare', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100] },
    { name: 'minutes', type: 'int', role: 'measure', level: 2, bounds: [0, 300] },
  ],
});

const writeCsv = (path: string, rows: number): Promise<void> =>
  writeGeneratedCsv(path, 'trip_id,route,fare,minutes', rows, 777, (i, r) =>
    `T${i},${DIMS[Math.floor(r() * DIMS.length)]},${(Math.floor(r() * 10_000) / 100).toFixed(2)},${Math.floor(r() * 301)}`);

/** The master secret of every bench server and worker (the enclaves of one cluster must share it). */
export const BENCH_MASTER_SECRET = 'http-bench-master-secret-0123456789';

/**
 * The real server (`server/main.ts` through tsx, or BENCH_HTTP_ENTRY=dist/server/main.js built) in a process of
 * its own; resolves once it listens. BENCH_HTTP_NODE_ARGS adds node flags.
 */
export function startServer(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env.BENCH_HTTP_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const entry = process.env.BENCH_HTTP_ENTRY ? [process.env.BENCH_HTTP_ENTRY] : ['--import', 'tsx', 'server/main.ts'];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, SHUYU_MASTER_SECRET: BENCH_MASTER_SECRET, SHUYU_LOG_LEVEL: 'warn', SHUYU_RATE_LIMIT_PER_MINUTE: '100000000', SHUYU_JOB_POLL_MS: '100', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err.slice(-1000)}`)));
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(err);
      if (m) resolve({ child, url: m[1]! });
    });
  });
}

export async function api(url: string, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

export interface BenchUser {
  id: string;
  orgId: string;
  token: string;
  kp: ReturnType<typeof sm2KeyPair>;
  publicKeyPem: string;
}

export interface BenchMarket {
  op: string;
  owner: BenchUser;
  reviewer: BenchUser;
  buyer: BenchUser;
  offer: { id: string };
  computation: Record<string, unknown>;
  quoteBody: Record<string, unknown>;
}

/**
 * Through the server at `url` (whose first start wrote dataDir/bootstrap.json): organisations, users with keys, a
 * certified reviewer, a funded buyer, and `rows` generated rows sealed under the enclave's keys, uploaded and offered.
 */
export async function setUpMarket(url: string, dataDir: string, workDir: string, rows: number): Promise<BenchMarket> {
  const boot = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8'));
  const op = boot.token as string;
  const org = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench transport' });
  const buyerOrg = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench buyer' });
  const reviewOrg = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench compliance' }); // separation of duties
  const user = async (orgId: string, role: string): Promise<BenchUser> => {
    const u = await api(url, 'POST', '/v1/users', op, { orgId, name: `bench ${role}`, role });
    const kp = sm2KeyPair();
    const publicKeyPem = sm2PublicKeyToPem(kp.publicKey);
    await api(url, 'PUT', '/v1/me/key', u.token.token, { publicKeyPem });
    return { id: u.user.id as string, orgId, token: u.token.token as string, kp, publicKeyPem };
  };
  const owner = await user(org.id, 'owner');
  const reviewer = await user(reviewOrg.id, 'reviewer');
  const buyer = await user(buyerOrg.id, 'buyer');
  const now = Date.now();
  const cert = certifyReviewer(
    { type: 'shuyu.reviewer-cert.v1', reviewerId: reviewer.id, orgId: reviewer.orgId, publicKeyPem: reviewer.publicKeyPem, fingerprint: sm2Fingerprint(reviewer.kp.publicKey), issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString() },
    sm2PrivateKeyFromPem(boot.privateKeyPem),
  );
  await api(url, 'PUT', `/v1/users/${reviewer.id}/certificate`, op, { certificate: cert });
  await api(url, 'POST', '/v1/ledger/topups', op, { orgId: buyerOrg.id, amountFen: 100_000_000 }, { 'Idempotency-Key': 'bench-topup-1' });

  // the owner seals the rows under the server's enclave keys and uploads them
  const csv = join(workDir, 'trips.csv');
  await writeCsv(csv, rows);
  const enclave = await (await fetch(url + '/v1/enclave')).json();
  const t0 = performance.now();
  const sealed = await sealDataset({ input: csv, schema, enclave, outDir: join(workDir, 'bundle'), threads: 2 });
  note(`sealed ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const up = await api(url, 'POST', '/v1/uploads', owner.token, { title: 'Bench trips', description: 'fares by route', keywords: ['bench'], manifest: sealed.manifest });
  for (const h of readdirSync(sealed.blobDir)) {
    const r = await fetch(`${url}/v1/uploads/${up.id}/blobs/${h}`, { method: 'PUT', headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': 'application/octet-stream' }, body: readFileSync(join(sealed.blobDir, h)) });
    if (r.status !== 200) throw new Error(`blob ${h}: ${r.status} ${await r.text()}`);
  }
  const ds = await api(url, 'POST', `/v1/uploads/${up.id}/complete`, owner.token);
  const offer = (
    await api(url, 'POST', `/v1/datasets/${ds.id}/offers`, owner.token, {
      title: 'Fares by route', description: 'sums and means by route', allowedKinds: ['aggregate'], allowedColumns: ['route', 'fare', 'minutes'],
      priceModel: { kind: 'fixed', perQueryFen: 100 }, platformFeeBps: 1000,
      terms: { purposes: ['transport-planning'], validFrom: new Date(now - 3600_000).toISOString(), validUntil: new Date(now + 86_400_000).toISOString(), queryQuotaPerBuyer: 100_000, destinations: ['CN'], minGroupSize: 5, epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0 },
    })
  ).offer;
  const computation = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'fare' }, { op: 'mean', measure: 'minutes' }], groupBy: ['route'], filters: [] };
  const quoteBody = { computation, purpose: { code: 'transport-planning', statement: 'Plan fares and timetables by route' }, destination: 'CN' };
  return { op, owner, reviewer, buyer, offer, computation, quoteBody };
}

/** Quote, request (Idempotency-Key `key`) and the reviewer's signed approval of one trade; answers its id. */
export async function submitApproved(url: string, m: BenchMarket, key: string): Promise<string> {
  const q = await api(url, 'POST', `/v1/offers/${m.offer.id}/quotes`, m.buyer.token, m.quoteBody);
  const t = await api(url, 'POST', '/v1/trades', m.buyer.token, { quote: q, computation: m.computation }, { 'Idempotency-Key': key });
  const c = await api(url, 'GET', `/v1/reviews/${t.id}`, m.reviewer.token);
  const at = Date.now();
  const approval = signApproval({ ...c.approvalTemplate, decidedAt: new Date(at - 1000).toISOString(), expiresAt: new Date(at + 3600_000).toISOString() }, m.reviewer.kp.privateKey);
  await api(url, 'POST', `/v1/reviews/${t.id}/decision`, m.reviewer.token, { decision: 'approve', reason: 'bench load', approval });
  return t.id as string;
}

/**
 * CPU time (user + system, ms) of a process and its descendants (the server and its enclave), from /proc:
 * the machines are shared, so wall-clock throughput alone moves with the neighbours' load.
 */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  const visit = (p: number): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of proc(5))
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(c));
      }
    } catch {
      /* exited meanwhile, or no /proc (then the figure reads 0) */
    }
  };
  visit(pid);
  return ticks * 10; // USER_HZ is 100 on Linux
}
