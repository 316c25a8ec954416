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
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { emit, note } from './lib.js';
import { setUpMarket, startServer, submitApproved, treeCpuMs } from './market.js';

const ROWS = Number(process.env.BENCH_HTTP_ROWS ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 20);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 50);

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
    const market = await setUpMarket(url, dataDir, root, ROWS);
    const { buyer, offer, quoteBody } = market;
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
    for (let i = 0; i < jobs; i++) await submitApproved(url, market, `bench-trade-${i}`);
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
