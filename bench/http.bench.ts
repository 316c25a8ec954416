/**
 * HTTP load: autocannon against the catalogue (GET /v1/catalog) and the quote endpoint
 * (POST /v1/offers/:id/quotes), 50 connections for 20 s each, first on an idle server, then while approved
 * HE jobs over a 1,000,000-row sealed dataset run. The server is the real `server/main.ts` in its own
 * process (with its forked enclave); the load generator is this process. Targets on the 2-core machines:
 * catalogue ≥ 2,000 req/s and p99 < 50 ms idle; p99 < 250 ms during the job.
 * Figures: http.<endpoint>.<idle|during-job>.{rps,p50_ms,p99_ms}; a during-job figure's baseline is the idle one.
 * BENCH_HTTP_ROWS / BENCH_HTTP_SECONDS / BENCH_HTTP_CONNECTIONS change the defaults (1e6 / 20 / 50);
 * BENCH_HTTP_JOBS=0 measures idle only; BENCH_HTTP_NODE_ARGS adds node flags to the server process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 * BENCH_HTTP_ENTRY=dist/server/main.js runs the built server instead of server/main.ts through tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { emit, note, writeGeneratedCsv } from './lib.js';
import { DatasetSchema } from '../contracts/dataset/schema.js';
import { sealDataset } from '../client-sdk/dataset/seal.js';
import { sm2KeyPair, sm2PublicKeyToPem, sm2PrivateKeyFromPem, sm2Fingerprint } from '../crypto/index.js';
import { certifyReviewer, signApproval } from '../contracts/review/approval.js';

const ROWS = Number(process.env.BENCH_HTTP_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 20);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);
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

const writeCsv = (path: string): Promise<void> =>
  writeGeneratedCsv(path, 'trip_id,route,fare,minutes', ROWS, 777, (i, r) =>
    `T${i},${DIMS[Math.floor(r() * DIMS.length)]},${(Math.floor(r() * 10_000) / 100).toFixed(2)},${Math.floor(r() * 301)}`);

function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const nodeArgs = (process.env.BENCH_HTTP_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  // BENCH_HTTP_ENTRY=dist/server/main.js: a built server (`npm run build`) on plain node, as `npm start` runs it
  const entry = process.env.BENCH_HTTP_ENTRY ? [process.env.BENCH_HTTP_ENTRY] : ['--import', 'tsx', 'server/main.ts'];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, SHUYU_MASTER_SECRET: 'http-bench-master-secret-0123456789', SHUYU_LOG_LEVEL: 'warn', SHUYU_RATE_LIMIT_PER_MINUTE: '100000000', SHUYU_JOB_POLL_MS: '100' },
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

async function api(url: string, method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
  const r = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/**
 * CPU time (user + system, ms) of a process and its descendants (the server and its enclave), from /proc:
 * the machines are shared, so wall-clock throughput alone moves with the neighbours' load.
 */
function treeCpuMs(pid: number): number {
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

async function load(url: string, name: string, opts: { method?: 'GET' | 'POST'; path: string; token: string; body?: unknown }, serverPid: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number; cpuMsPerReq: number }> {
  const cpu0 = treeCpuMs(serverPid);
  const r = await autocannon({
    url: url + opts.path,
    method: opts.method ?? 'GET',
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { Authorization: `Bearer ${opts.token}`, ...(opts.body ? { 'Content-Type': 'application/json' } : {}) },
    ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
  });
  const cpuMsPerReq = (treeCpuMs(serverPid) - cpu0) / Math.max(1, r.requests.total);
  note(`${name}: ${r.requests.average} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}; server+enclave CPU ${cpuMsPerReq.toFixed(3)} ms/request; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx + r.errors, cpuMsPerReq };
}

export default async function (): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'shuyu-bench-http-'));
  const dataDir = join(root, 'data');
  const { child, url } = await startServer(dataDir);
  try {
    const boot = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8'));
    const op = boot.token as string;
    const org = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench transport' });
    const buyerOrg = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench buyer' });
    const reviewOrg = await api(url, 'POST', '/v1/orgs', op, { name: 'Bench compliance' }); // separation of duties
    const user = async (orgId: string, role: string) => {
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

    // the owner seals ROWS rows under the server's enclave keys and uploads them
    const csv = join(root, 'trips.csv');
    await writeCsv(csv);
    const enclave = await (await fetch(url + '/v1/enclave')).json();
    const t0 = performance.now();
    const sealed = await sealDataset({ input: csv, schema, enclave, outDir: join(root, 'bundle'), threads: 2 });
    note(`sealed ${ROWS} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
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

    const endpoints = [
      { key: 'catalog', opts: { path: '/v1/catalog', token: buyer.token } },
      { key: 'quote', opts: { method: 'POST' as const, path: `/v1/offers/${offer.id}/quotes`, token: buyer.token, body: quoteBody } },
    ];
    const idle: Record<string, { rps: number; p50: number; p99: number }> = {};
    for (const e of endpoints) {
      const r = await load(url, `${e.key} idle`, e.opts, child.pid!);
      idle[e.key] = r;
      emit({ name: `http.${e.key}.idle.rps`, value: r.rps, unit: 'req/s' });
      emit({ name: `http.${e.key}.idle.p50_ms`, value: r.p50, unit: 'ms' });
      emit({ name: `http.${e.key}.idle.p99_ms`, value: r.p99, unit: 'ms' });
      // during the job the server's CPU includes the HE work, so this figure is for the idle window only
      emit({ name: `http.${e.key}.idle.server_cpu_ms_per_req`, value: r.cpuMsPerReq, unit: 'ms' });
      if (r.non2xx) note(`${e.key} idle: ${r.non2xx} non-2xx answers or errors`);
    }

    // enough approved 1M-row jobs queued to keep the worker busy through both load windows (6, then 12, were done
    // before the quote window ended once a job took < 7 s: the "during" figures were then measured idle)
    const jobs = Number(process.env.BENCH_HTTP_JOBS ?? 24);
    if (jobs === 0) return; // idle figures only (profiling runs)
    for (let i = 0; i < jobs; i++) {
      const q = await api(url, 'POST', `/v1/offers/${offer.id}/quotes`, buyer.token, quoteBody);
      const t = await api(url, 'POST', '/v1/trades', buyer.token, { quote: q, computation }, { 'Idempotency-Key': `bench-trade-${i}` });
      const c = await api(url, 'GET', `/v1/reviews/${t.id}`, reviewer.token);
      const at = Date.now();
      const approval = signApproval({ ...c.approvalTemplate, decidedAt: new Date(at - 1000).toISOString(), expiresAt: new Date(at + 3600_000).toISOString() }, reviewer.kp.privateKey);
      await api(url, 'POST', `/v1/reviews/${t.id}/decision`, reviewer.token, { decision: 'approve', reason: 'bench load', approval });
    }
    const running = async () => /shuyu_jobs\{state="running"\} [1-9]/.test(await (await fetch(url + '/v1/metrics')).text());
    const until = Date.now() + 60_000;
    while (!(await running()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    for (const e of endpoints) {
      const busyBefore = await running();
      const r = await load(url, `${e.key} during ${ROWS.toLocaleString("en")}-row HE jobs`, e.opts, child.pid!);
      const busyAfter = await running();
      if (!busyBefore || !busyAfter) note(`${e.key}: a job was ${busyBefore ? '' : 'not '}running at the start and ${busyAfter ? '' : 'not '}at the end of the window`);
      const base = idle[e.key]!;
      emit({ name: `http.${e.key}.during-job.rps`, value: r.rps, unit: 'req/s', baseline: base.rps });
      emit({ name: `http.${e.key}.during-job.p50_ms`, value: r.p50, unit: 'ms', baseline: base.p50 });
      emit({ name: `http.${e.key}.during-job.p99_ms`, value: r.p99, unit: 'ms', baseline: base.p99 });
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit').catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
