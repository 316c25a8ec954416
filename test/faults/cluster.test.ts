import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import request from 'supertest';
import { verifyReceipt } from '../../formats/receipt.js';
import { approve, market, offerInput, SPEND_BY_REGION, type Live, type Market } from '../server/fixture.js';
import { dropSchema, freshSchema, testDatabaseUrl } from '../store/engines.js';
import { ServerProcess, builtEntry } from './process.js';

/** `shuyu enclave worker` as a child process (the built cli/main), as an operator starts it. */
class WorkerProcess {
  child: ChildProcess | null = null;
  output = '';
  constructor(
    readonly dataDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}
  start(): Promise<void> {
    const c = spawn(process.execPath, [builtEntry('cli/main'), 'enclave', 'worker', '--data-dir', this.dataDir], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = c;
    c.stdout!.on('data', (d) => (this.output += d));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker did not start:\n${this.output.slice(-2000)}`)), 90_000);
      c.on('exit', (code) => reject(new Error(`worker exited ${code} during start:\n${this.output.slice(-2000)}`)));
      c.stderr!.on('data', (d: Buffer) => {
        this.output += d;
        if (/enclave worker .* running/.test(this.output)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await gone;
  }
}

const TRADES = Number(process.env.SHUYU_CLUSTER_TRADES ?? 30);
const FINAL = ['settled', 'failed'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The cluster: two API servers (SHUYU_SERVER_JOBS=0) and two `shuyu enclave worker` processes, all separate
 * processes, each with its OWN data directory as on separate hosts: they share ONE PostgreSQL database (the
 * store's schema, and the enclave schema holding the sealed keystore and the privacy state, handed to the
 * forked enclaves only), the blob directory and the master secret. Trades over
 * five datasets from three buyers go through either server; one worker and one server are SIGKILLed mid-run.
 * Every trade ends settled or refused exactly once, the books balance, ε is charged once per release.
 */
describe('cluster: 2 API servers + 2 enclave workers on one PostgreSQL', function () {
  this.timeout(300_000);
  const schema = freshSchema();
  const root = mkdtempSync(join(tmpdir(), 'shuyu-cluster-'));
  const enclaveSchema = freshSchema();
  const dataDir = (name: string): string => join(root, name);
  // built in before(): the run's database exists only once mocha's global setup ran (test/pg-fixture.ts)
  const env: NodeJS.ProcessEnv = {};
  const cluster = (): NodeJS.ProcessEnv => ({
    ...process.env,
    SHUYU_MASTER_SECRET: 'cluster-suite-master-secret-0123456789abcdef',
    SHUYU_DATABASE_URL: testDatabaseUrl(),
    SHUYU_DATABASE_SCHEMA: schema,
    SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl(),
    SHUYU_ENCLAVE_DATABASE_SCHEMA: enclaveSchema,
    SHUYU_BLOB_DIR: join(root, 'blobs'),
    SHUYU_SERVER_JOBS: '0',
    SHUYU_LOG_LEVEL: 'info',
    SHUYU_JOB_POLL_MS: '50',
    SHUYU_JOB_LEASE_MS: '4000',
    SHUYU_JOB_MAX_ATTEMPTS: '6',
    SHUYU_RATE_LIMIT_PER_MINUTE: '1000000',
    // a request cut off by its server's death holds its Idempotency-Key this long before another server takes it over
    SHUYU_REQUEST_TIMEOUT_MS: '4000',
  });
  const servers = [new ServerProcess(dataDir('server-0'), env), new ServerProcess(dataDir('server-1'), env)];
  const workers = [new WorkerProcess(dataDir('worker-0'), env), new WorkerProcess(dataDir('worker-1'), env)];
  const urls: string[] = [];

  before(async () => {
    Object.assign(env, cluster());
    urls.push(await servers[0]!.start()); // bootstraps the operator and the enclave keystore once
    urls.push(await servers[1]!.start());
    await Promise.all(workers.map((w) => w.start()));
  });
  after(async () => {
    await Promise.all([...workers.map((w) => w.kill('SIGTERM')), ...servers.map((s) => s.stop())]);
    rmSync(root, { recursive: true, force: true });
    await dropSchema(schema);
    await dropSchema(enclaveSchema);
  });

  it(`${TRADES} concurrent trades over 5 datasets from 3 buyers; a worker and a server killed mid-run`, async () => {
    const a: Live = await servers[0]!.live(urls[0]!, root);
    // the operator's credentials were written where the deployment was bootstrapped (server 0's directory)
    const b: Live = { ...a, srv: { url: urls[1]! } as Live['srv'], http: () => request(urls[1]!) };
    // five datasets (one market each: owner, reviewer, a DP offer), three buyers
    const markets: Market[] = [];
    for (let i = 0; i < 5; i++) {
      const l = i % 2 ? b : a;
      const m = await market(l, { rows: 30, tag: `c${i}` });
      const dp = offerInput({ terms: { ...(offerInput().terms as object), epsilonPerQuery: 0.1, epsilonBudgetPerBuyer: 100 } });
      const o = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth).send(dp);
      expect(o.status, JSON.stringify(o.body)).to.equal(201);
      markets.push({ ...m, offer: o.body.offer });
    }
    const buyers = [markets[0]!.buyer, markets[1]!.buyer, markets[2]!.buyer];

    // Every request goes to a server chosen per call; when that server is down the client retries the
    // same request (same Idempotency-Key, same body) on the other one.
    let bDown = false;
    const via = (i: number): Live => (i % 2 && !bDown ? b : a);
    const retried = async <T>(i: number, what: string, f: (l: Live) => Promise<T>): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await f(via(i + attempt));
        } catch (e) {
          if (attempt > 40) throw new Error(`${what}: ${(e as Error).message}`, { cause: e });
          await sleep(250);
        }
      }
    };
    const submitted: { id: string; m: Market; buyer: Market['buyer'] }[] = [];
    const one = async (i: number) => {
      const m = markets[i % 5]!;
      const buyer = buyers[i % 3]!;
      const quote = await retried(i, 'quote', async (l) => {
        const q = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(buyer.auth).send({ computation: SPEND_BY_REGION, purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' }, destination: 'CN' });
        if (q.status !== 201) throw new Error(`${q.status} ${JSON.stringify(q.body)}`);
        return q.body;
      });
      const trade = await retried(i, 'submit', async (l) => {
        const t = await l.http().post('/v1/trades').set(buyer.auth).set('Idempotency-Key', `cluster-trade-${i}`).send({ quote, computation: SPEND_BY_REGION });
        if (t.status !== 201) throw new Error(`${t.status} ${JSON.stringify(t.body)}`);
        return t.body;
      });
      await retried(i, 'approve', async (l) => {
        const ap = await approve(l, { ...m, buyer }, trade.id);
        if (ap.status === 200) return;
        // a decision that committed on the server that died answers as already decided here
        const now = await l.http().get(`/v1/trades/${trade.id}`).set(buyer.auth);
        if (now.status === 200 && now.body.state !== 'under_review') return;
        throw new Error(`${ap.status} ${JSON.stringify(ap.body)}`);
      });
      submitted.push({ id: trade.id, m, buyer });
    };
    // 10 clients at a time; one worker and one server die part-way through
    const queue = Array.from({ length: TRADES }, (_, i) => i);
    const kills = (async () => {
      while (submitted.length < TRADES / 3) await sleep(100);
      await workers[0]!.kill(); // mid-job: its leases run out and the other worker takes the jobs
      while (submitted.length < TRADES / 2) await sleep(100);
      bDown = true;
      await servers[1]!.kill(); // mid-request: the clients retry on the other server
    })();
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await one(i);
      }),
    );
    await kills;
    expect(submitted).to.have.length(TRADES);

    // every trade ends once: settled (delivered) or failed (refused), never both, never twice
    const until = Date.now() + 150_000;
    const final = new Map<string, Record<string, any>>();
    while (final.size < TRADES && Date.now() < until) {
      for (const s of submitted) {
        if (final.has(s.id)) continue;
        const r = await a.http().get(`/v1/trades/${s.id}`).set(s.buyer.auth);
        if (FINAL.includes(r.body.state)) final.set(s.id, r.body);
      }
      if (final.size < TRADES) await sleep(300);
    }
    expect(final.size, 'trades not finished').to.equal(TRADES);
    let settled = 0;
    for (const s of submitted) {
      const t = final.get(s.id)!;
      const ends = (t.transitions as { to: string }[]).filter((x) => x.to === 'delivered' || x.to === 'failed');
      expect(ends, `trade ${s.id}`).to.have.length(1);
      if (t.state !== 'settled') continue;
      settled++;
      const res = await a.http().get(`/v1/trades/${s.id}/result`).set(s.buyer.auth);
      expect(res.status).to.equal(200);
      expect(verifyReceipt(res.body.receipt, { pinnedPublicKeyPem: a.enclaveInfo.signing.publicKeyPem }).valid, `receipt of ${s.id}`).to.equal(true);
    }
    expect(settled, 'most trades deliver').to.be.greaterThan(TRADES / 2);

    // the books: balances sum to zero and match the journal; each trade captured at most once
    const db = new pg.Client({ connectionString: testDatabaseUrl(), options: `-c search_path=${schema}` });
    await db.connect();
    try {
      const sum = await db.query('SELECT COALESCE(SUM(balance), 0)::bigint AS s, COALESCE(MIN(CASE WHEN kind <> $1 THEN balance END), 0)::bigint AS low FROM ledger_accounts', ['external']);
      expect(Number(sum.rows[0].s)).to.equal(0);
      expect(Number(sum.rows[0].low)).to.be.at.least(0);
      const journal = await db.query('SELECT a.id, a.balance, COALESCE(SUM(e.amount), 0)::bigint AS j FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id GROUP BY a.id, a.balance');
      for (const r of journal.rows) expect(Number(r.j), r.id).to.equal(Number(r.balance));
      const captures = await db.query("SELECT trade_id, COUNT(*)::int AS n FROM ledger_transactions WHERE kind = 'capture' GROUP BY trade_id HAVING COUNT(*) > 1");
      expect(captures.rows).to.deep.equal([]);
      const jobs = await db.query('SELECT state, COUNT(*)::int AS n FROM jobs GROUP BY state');
      expect(jobs.rows.filter((r) => r.state === 'queued' || r.state === 'running')).to.deep.equal([]);
      const again = await db.query('SELECT COUNT(*)::int AS n FROM jobs WHERE attempts > 1');
      process.stdout.write(`      cluster: ${settled} settled, ${TRADES - settled} refused; ${again.rows[0].n} job(s) leased again after the worker was killed\n`);
    } finally {
      await db.end();
    }
    // ε: one charge per release, under the trade's key, in the enclave schema every worker's enclave shares
    const privacy = new pg.Client({ connectionString: testDatabaseUrl(), options: `-c search_path=${enclaveSchema}` });
    await privacy.connect();
    try {
      const charges = (await privacy.query("SELECT charge_key FROM privacy_charge WHERE charge_key LIKE 'trade:%'")).rows as { charge_key: string }[];
      const keys = new Set(charges.map((c) => c.charge_key));
      expect(keys.size).to.equal(charges.length);
      for (const s of submitted) if (final.get(s.id)!.state === 'settled') expect(keys.has(`trade:${s.id}`), `ε of ${s.id}`).to.equal(true);
      // one keystore, in the database: no process wrote one into its data directory
      expect((await privacy.query('SELECT name FROM enclave_keystore ORDER BY name')).rows.map((r) => r.name)).to.include('keystore.json');
      for (const name of ['server-0', 'server-1', 'worker-0', 'worker-1']) expect(existsSync(join(dataDir(name), 'enclave', 'keystore', 'keystore.json')), name).to.equal(false);
    } finally {
      await privacy.end();
    }
    // the audit chain, written by four processes, verifies
    const v = await request(urls[0]!).get('/v1/audit/verify').set(a.operator.auth);
    expect(v.status).to.equal(200);
    expect(v.body.ok, JSON.stringify(v.body)).to.equal(true);
    // and so says the operator's own tool: the real `shuyu audit verify`, spawned against the surviving server
    const cli = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn(process.execPath, [builtEntry('cli/main'), 'audit', 'verify', '--json'], {
        env: { ...process.env, XDG_CONFIG_HOME: join(root, 'cli-config'), SHUYU_PROFILE: '', SHUYU_URL: urls[0]!, SHUYU_TOKEN: a.operator.token },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      c.stdout!.on('data', (d) => (out += d));
      c.stderr!.on('data', (d) => (err += d));
      c.on('exit', (code) => resolve({ code, out, err }));
    });
    expect(cli.code, cli.out + cli.err).to.equal(0);
    expect(JSON.parse(cli.out).ok, cli.out).to.equal(true);
  });
});
