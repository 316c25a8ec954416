/**
 * The cluster on PostgreSQL beside the embedded deployment on its SQLite file, measured in the same run:
 * - catalogue load (autocannon, GET /v1/catalog as a buyer) on one embedded server, then on PostgreSQL with 1 and
 *   with 2 API servers (separate processes, SHUYU_SERVER_JOBS=0; the same total connections split over them):
 *   cluster.catalog.{sqlite,pg-1-server,pg-2-servers}.{rps,p99_ms}; pg-1's baseline is SQLite, pg-2's is pg-1;
 * - trades per minute end to end (quote → request → signed approval → delivered) through both servers with 1, then
 *   2 `shuyu enclave worker` processes: cluster.trades-per-minute.{1,2}-worker(s), 2's baseline is 1.
 * The store's time per trade step on both engines is contracts.trade-step-transaction[.postgres] (contracts bench).
 * PostgreSQL: a throw-away database of its own (bench/pg.ts), dropped at the end. Knobs (defaults): BENCH_CLUSTER_SECONDS
 * per load window (15), BENCH_CLUSTER_CONNECTIONS (50), BENCH_CLUSTER_ROWS sealed rows (2000), BENCH_CLUSTER_TRADES per
 * worker count (30), BENCH_CLUSTER_CLIENTS trading at once (6). BENCH_HTTP_ENTRY=dist/server/main.js runs the built tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { emit, note } from './lib.js';
import { api, BENCH_MASTER_SECRET, setUpMarket, startServer, submitApproved, type BenchMarket } from './market.js';
import { postgresAvailable, withThrowawayDatabase } from './pg.js';

const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CLUSTER_CONNECTIONS ?? 50);
const ROWS = Number(process.env.BENCH_CLUSTER_ROWS ?? 2000);
const TRADES = Number(process.env.BENCH_CLUSTER_TRADES ?? 30);
const CLIENTS = Number(process.env.BENCH_CLUSTER_CLIENTS ?? 6);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET /v1/catalog on every URL at once, the connections split between them; req/s summed, the worst p99. */
async function catalogLoad(name: string, urls: string[], token: string): Promise<{ rps: number; p99: number }> {
  const runs = await Promise.all(
    urls.map((url) =>
      autocannon({ url: url + '/v1/catalog', connections: Math.max(1, Math.round(CONNECTIONS / urls.length)), duration: SECONDS, headers: { Authorization: `Bearer ${token}` } }),
    ),
  );
  const rps = runs.reduce((a, r) => a + r.requests.average, 0);
  const p99 = Math.max(...runs.map((r) => r.latency.p99));
  const bad = runs.reduce((a, r) => a + r.non2xx + r.errors, 0);
  note(`catalogue, ${name}: ${rps.toFixed(0)} req/s, p99 ${p99} ms, non-2xx or errors ${bad}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (bad) throw new Error(`catalogue, ${name}: ${bad} non-2xx answers or errors`);
  return { rps, p99 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, 'exit').catch(() => undefined);
  child.kill('SIGTERM');
  await gone;
}

/** `shuyu enclave worker` in a process of its own on the cluster's environment; resolves once it runs. */
function startWorker(dataDir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const entry = process.env.BENCH_HTTP_ENTRY ? ['dist/cli/main.js'] : ['--import', 'tsx', 'cli/main.ts'];
  const child = spawn(process.execPath, [...entry, 'enclave', 'worker', '--data-dir', dataDir], {
    env: { ...process.env, SHUYU_MASTER_SECRET: BENCH_MASTER_SECRET, SHUYU_LOG_LEVEL: 'info', SHUYU_JOB_POLL_MS: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`worker exited ${code}: ${out.slice(-1000)}`));
    child.once('exit', onExit);
    const read = (d: Buffer) => {
      if (out.length < 1 << 16) out += d;
      if (/enclave worker running/.test(out)) {
        child.off('exit', onExit);
        resolve(child);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
  });
}

/** TRADES trades from CLIENTS clients at once, alternating the servers, each followed until delivered: trades per minute. */
async function tradesPerMinute(urls: string[], m: BenchMarket, tag: string): Promise<number> {
  let next = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < TRADES; i = next++) {
        const url = urls[i % urls.length]!;
        const id = await submitApproved(url, m, `bench-cluster-${tag}-${i}`);
        for (;;) {
          const state = (await api(url, 'GET', `/v1/trades/${id}`, m.buyer.token)).state as string;
          if (state === 'delivered' || state === 'settled') break;
          if (state === 'failed') {
            failed++;
            break;
          }
          await sleep(50);
        }
      }
    }),
  );
  const perMinute = TRADES / ((performance.now() - t0) / 60_000);
  note(`trades, ${tag}: ${TRADES} in ${((performance.now() - t0) / 1000).toFixed(1)} s (${failed} failed); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (failed) throw new Error(`trades, ${tag}: ${failed} failed`);
  return perMinute;
}

export default async function (): Promise<void> {
  if (!(await postgresAvailable())) {
    note('cluster bench skipped: no PostgreSQL at SHUYU_BENCH_PG_ADMIN_URL (default postgres@127.0.0.1:5432)');
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'shuyu-bench-cluster-'));
  const children: ChildProcess[] = [];
  try {
    // the embedded deployment: one server on its SQLite file
    const sqliteDir = join(root, 'sqlite-data');
    const embedded = await startServer(sqliteDir);
    children.push(embedded.child);
    const em = await setUpMarket(embedded.url, sqliteDir, mkdtempSync(join(root, 'em-')), ROWS);
    const sqlite = await catalogLoad('SQLite, embedded', [embedded.url], em.buyer.token);
    await stop(embedded.child);
    emit({ name: 'cluster.catalog.sqlite.rps', value: sqlite.rps, unit: 'req/s' });
    emit({ name: 'cluster.catalog.sqlite.p99_ms', value: sqlite.p99, unit: 'ms' });

    await withThrowawayDatabase('cluster', async (databaseUrl) => {
      const dataDir = join(root, 'cluster-data');
      // the enclaves' keystore and privacy state in the database's enclave schema, as a multi-host cluster keeps them
      const env = { SHUYU_DATABASE_URL: databaseUrl, SHUYU_ENCLAVE_DATABASE_URL: databaseUrl, SHUYU_SERVER_JOBS: '0' };
      const servers = [];
      try {
        // one after the other: the first bootstraps the operator and the enclave keystore
        for (let i = 0; i < 2; i++) {
          const s = await startServer(dataDir, env);
          children.push(s.child);
          servers.push(s);
        }
        const urls = servers.map((s) => s.url);
        const m = await setUpMarket(urls[0]!, dataDir, mkdtempSync(join(root, 'pg-')), ROWS);
        const one = await catalogLoad('PostgreSQL, 1 server', urls.slice(0, 1), m.buyer.token);
        const two = await catalogLoad('PostgreSQL, 2 servers', urls, m.buyer.token);
        emit({ name: 'cluster.catalog.pg-1-server.rps', value: one.rps, unit: 'req/s', baseline: sqlite.rps });
        emit({ name: 'cluster.catalog.pg-1-server.p99_ms', value: one.p99, unit: 'ms', baseline: sqlite.p99 });
        emit({ name: 'cluster.catalog.pg-2-servers.rps', value: two.rps, unit: 'req/s', baseline: one.rps });
        emit({ name: 'cluster.catalog.pg-2-servers.p99_ms', value: two.p99, unit: 'ms', baseline: one.p99 });

        const workerEnv = { SHUYU_DATABASE_URL: databaseUrl, SHUYU_ENCLAVE_DATABASE_URL: databaseUrl };
        children.push(await startWorker(dataDir, workerEnv));
        const w1 = await tradesPerMinute(urls, m, '1-worker');
        children.push(await startWorker(dataDir, workerEnv));
        const w2 = await tradesPerMinute(urls, m, '2-workers');
        emit({ name: 'cluster.trades-per-minute.1-worker', value: w1, unit: 'trades/min' });
        emit({ name: 'cluster.trades-per-minute.2-workers', value: w2, unit: 'trades/min', baseline: w1 });
      } finally {
        // every process off the database before it is dropped
        await Promise.all(children.map(stop));
      }
    });
  } finally {
    await Promise.all(children.map(stop));
    rmSync(root, { recursive: true, force: true });
  }
}
