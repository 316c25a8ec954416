import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { market, quoteAndSubmit, approve, sealTourism, blobsOf, type Live, type Market, type SealedFixture } from '../server/fixture.js';
import { withCommitment, type BundleManifest } from '../../formats/manifest.js';
import { Rng } from '../security/lib.js';
import { ServerProcess, enclavePidOf } from './process.js';
import { brokenInvariants, bookCounts } from './books.js';
import { PhaseClock } from './phases.js';

/**
 * Crash faults: SIGKILL the real `server/main.ts` at seeded points while uploads, trades (jobs and
 * their settlement) and top-ups are in flight; restart on the SAME data directory each time and check: SQLite
 * integrity_check ok, the ledger balances and matches its journal, no trade held, executed or charged twice,
 * no partial dataset visible, the audit chain verifies, retried Idempotency-Keys take effect once. Then the
 * enclave process alone is killed mid-job: the job fails or retries cleanly. Default 50 points (each restart
 * waits for the enclave, seconds apiece: this test sets the suite's length); more with SHUYU_FAULT_POINTS=N;
 * another schedule with SHUYU_FAULT_SEED.
 */
const POINTS = Number(process.env.SHUYU_FAULT_POINTS ?? 50);
const SEED = Number(process.env.SHUYU_FAULT_SEED ?? 9009);
const TERMINAL = ['settled', 'failed', 'rejected', 'cancelled', 'expired', 'denied'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One chain of crashes on one data directory; two chains run side by side so both cores are busy restarting. */
class Lane {
  readonly root = mkdtempSync(join(tmpdir(), 'shuyu-faults-'));
  readonly dataDir = join(this.root, 'data');
  readonly proc = new ServerProcess(this.dataDir, {
    ...process.env,
    SHUYU_MASTER_SECRET: 'fault-suite-master-secret-0123456789abcdef',
    SHUYU_LOG_LEVEL: 'info',
    SHUYU_JOB_POLL_MS: '50',
    SHUYU_JOB_LEASE_MS: '3000',
    SHUYU_JOB_MAX_ATTEMPTS: '6',
  });
  l!: Live;
  m!: Market;
  f!: SealedFixture;
  topupOrg = '';
  readonly trades: string[] = [];
  readonly topupKeys = new Map<string, number>();
  readonly logs: string[] = [];
  readonly kinds = { upload: 0, submit: 0, job: 0, topup: 0 };
  /** What a job was doing at the moment its server was killed. */
  readonly jobAtKill: Record<string, number> = {};
  /** Whether each kill landed while its operation was still in flight, or after it had answered / its job had ended. */
  readonly killed = { midOp: 0, afterOp: 0 };
  readonly clock = new PhaseClock();

  constructor(readonly seed: number) {}

  async restart(phase = 'server start'): Promise<void> {
    this.logs.push(...this.proc.logLines());
    const url = await this.clock.time(phase, () => this.proc.start());
    if (this.proc.enclaveReadyMs !== null) this.clock.add(`${phase}: spawn → enclave ready`, this.proc.enclaveReadyMs);
    this.l = await this.clock.time('live', () => this.proc.live(url, this.root, this.l?.enclaveInfo));
  }

  async setup(): Promise<void> {
    await this.restart('setup: first start (keystore created)');
    this.m = await this.clock.time('setup: market', () => market(this.l, { rows: 24, tag: `flt${this.seed}` }));
    this.f = await this.clock.time('setup: seal upload fixture', () => sealTourism(this.l, 12, `fltu${this.seed}`));
    const org = await this.l.http().post('/v1/orgs').set(this.l.operator.auth).send({ name: `Top-up target ${this.seed}` });
    this.topupOrg = org.body.id;
  }

  /** A fresh manifest (new bundle id and commitment) over the same sealed blobs: a new upload each time. */
  freshManifest(): BundleManifest {
    const { commitment: _c, ...body } = JSON.parse(JSON.stringify(this.f.manifest)) as BundleManifest;
    return withCommitment({ ...body, bundleId: crypto.randomUUID() } as never);
  }

  async upload(): Promise<void> {
    const { l, m } = this;
    const up = await l.http().post('/v1/uploads').set(m.owner.auth).send({ title: 'fault upload', manifest: this.freshManifest() });
    if (up.status !== 201) return;
    for (const b of blobsOf(this.f)) await l.http().put(`/v1/uploads/${up.body.id}/blobs/${b.hash}`).set(m.owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes);
    await l.http().post(`/v1/uploads/${up.body.id}/complete`).set(m.owner.auth).send();
  }

  /** Quote and submit (killed while the hold is written). */
  async submit(): Promise<void> {
    const t = await quoteAndSubmit(this.l, this.m);
    if (t.status === 201) this.trades.push(t.trade.id);
  }

  /** Quote, submit and approve without a crash; the crash comes while the job runs or settles. */
  async approved(): Promise<string | null> {
    const t = await quoteAndSubmit(this.l, this.m);
    if (t.status !== 201) return null;
    this.trades.push(t.trade.id);
    await approve(this.l, this.m, t.trade.id);
    return t.trade.id;
  }

  jobState(tradeId: string | null): string {
    if (!tradeId) return 'none';
    const db = new Database(join(this.dataDir, 'shuyu.sqlite'), { readonly: true });
    try {
      const j = db.prepare('SELECT state, result_json IS NOT NULL AS released FROM jobs WHERE trade_id = ?').get(tradeId) as { state: string; released: number } | undefined;
      return j ? (j.state === 'running' && j.released ? 'running-released' : j.state) : 'no-job';
    } finally {
      db.close();
    }
  }

  async topup(rng: Rng): Promise<void> {
    const keys = Array.from({ length: 3 }, (_, i) => [`fault-topup-${this.seed}-${this.topupKeys.size}-${i}-${rng.int(1e9)}`, 100 + rng.int(900)] as const);
    for (const [k, v] of keys) this.topupKeys.set(k, v);
    await Promise.all(keys.map(([k, v]) => this.l.http().post('/v1/ledger/topups').set(this.l.operator.auth).set('Idempotency-Key', k).send({ orgId: this.topupOrg, amountFen: v })));
  }

  async run(points: number): Promise<void> {
    const rng = new Rng(this.seed);
    for (let point = 0; point < points; point++) {
      const kind = rng.pick(['upload', 'submit', 'job', 'job', 'topup'] as const);
      this.kinds[kind]++;
      const delay = rng.int(kind === 'job' ? 1500 : 400);
      const c = this.clock;
      if (kind === 'job') {
        const id = await c.time('job: quote, submit, approve', () => this.approved());
        // aim at the job's run and settlement: wait (briefly) for the worker to lease it, then the seeded delay
        await c.time('job: wait for lease', async () => {
          for (let until = Date.now() + 5000; Date.now() < until && this.jobState(id) === 'queued'; ) await sleep(5);
        });
        // the seeded delay, cut short once the job has ended (done or failed): later kills would find it finished too
        await c.time('seeded delay', async () => {
          for (const until = Date.now() + delay; Date.now() < until && !['done', 'failed'].includes(this.jobState(id)); ) await sleep(Math.min(10, until - Date.now()));
        });
        const state = this.jobState(id);
        this.killed[state === 'done' || state === 'failed' ? 'afterOp' : 'midOp']++;
        this.jobAtKill[state] = (this.jobAtKill[state] ?? 0) + 1;
        await c.time('kill', () => this.proc.kill());
      } else {
        let finished = false;
        const running = (kind === 'topup' ? this.topup(rng) : kind === 'upload' ? this.upload() : this.submit()).catch(() => undefined).then(() => void (finished = true));
        // the kill lands at the seeded delay, or as soon as the operation has answered: idle waiting after it adds nothing
        await c.time('seeded delay', () => Promise.race([sleep(delay), running]));
        this.killed[finished ? 'afterOp' : 'midOp']++;
        await c.time('kill', () => this.proc.kill());
        await running;
      }
      await this.restart();
      const { l } = this;
      // clients retry with the same Idempotency-Key after a crash: each top-up takes effect exactly once
      await c.time('check: top-ups retried', () =>
        Promise.all(
          [...this.topupKeys].map(async ([k, v]) => {
            const r = await l.http().post('/v1/ledger/topups').set(l.operator.auth).set('Idempotency-Key', k).send({ orgId: this.topupOrg, amountFen: v });
            expect(r.status, `top-up ${k} after restart: ${JSON.stringify(r.body)}`).to.equal(201);
          }),
        ),
      );
      const bad = await c.time('check: books', () => brokenInvariants(this.dataDir));
      expect(bad, `lane ${this.seed} after point ${point} (${kind}, killed at ${delay} ms): ${bad.join('; ')}`).to.deep.equal([]);
      const v = await c.time('check: audit chain', () => l.http().get('/v1/audit/verify').set(l.operator.auth));
      expect(v.body.ok, `audit chain after point ${point}: ${JSON.stringify(v.body)}`).to.equal(true);
      const w = await c.time('check: wallet', () => l.http().get('/v1/ledger/wallet').query({ orgId: this.topupOrg }).set(l.operator.auth));
      expect(w.status).to.equal(200);
      expect(w.body.availableFen, 'top-ups counted once each').to.equal([...this.topupKeys.values()].reduce((a, x) => a + x, 0));
    }
  }

  /** Waits for every trade to end, then the books once more; returns a summary. */
  async settle(): Promise<Record<string, unknown>> {
    const until = Date.now() + 120_000;
    const db = new Database(join(this.dataDir, 'shuyu.sqlite'), { readonly: true });
    // a submit the kill interrupted may still have committed its trade (with or without an answer): it waits
    // for review holding its price, and the reviewer decides it now
    const waiting = (db.prepare("SELECT id FROM trades WHERE state = 'under_review'").all() as { id: string }[]).map((r) => r.id);
    for (const id of waiting) {
      if (!this.trades.includes(id)) this.trades.push(id);
      const a = await approve(this.l, this.m, id);
      expect(a.status, `approving ${id} after the crashes: ${JSON.stringify(a.body)}`).to.equal(200);
    }
    let open: string[] = this.trades;
    while (Date.now() < until) {
      open = this.trades.filter((id) => !TERMINAL.includes((db.prepare('SELECT state FROM trades WHERE id = ?').get(id) as { state: string } | undefined)?.state ?? 'settled'));
      if (!open.length) break;
      await sleep(20);
    }
    const states = db.prepare('SELECT state, COUNT(*) AS n FROM trades GROUP BY state').all();
    const jobs = db.prepare('SELECT state, COUNT(*) AS n, MAX(attempts) AS maxAttempts FROM jobs GROUP BY state').all();
    db.close();
    expect(open, `trades not finished: ${JSON.stringify(states)}`).to.deep.equal([]);
    expect(brokenInvariants(this.dataDir)).to.deep.equal([]);
    const wallet = (await this.l.http().get('/v1/ledger/wallet').set(this.m.buyer.auth)).body;
    expect(wallet.heldFen, 'no money held once every trade has finished').to.equal(0);
    this.logs.push(...this.proc.logLines());
    const fives = this.logs.filter((x) => /"status":500/.test(x));
    expect(fives.slice(0, 3), 'no 500 answers across the crashes').to.deep.equal([]);
    return { kinds: this.kinds, killed: this.killed, jobAtKill: this.jobAtKill, trades: states, jobs, books: bookCounts(this.dataDir), topUpKeys: this.topupKeys.size };
  }

  async close(): Promise<void> {
    await this.proc.kill();
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe(`faults: SIGKILL of the server at ${POINTS} seeded points, restart on the same data directory`, function () {
  this.timeout(120_000 + POINTS * 30_000);
  const lanes = [new Lane(SEED), new Lane(SEED + 1)];

  before(async () => {
    await Promise.all(lanes.map((x) => x.setup()));
  });
  after(async () => {
    await Promise.all(lanes.map((x) => x.close()));
  });

  it('keeps every invariant through every crash', async () => {
    const startedAt = Date.now();
    const share = Math.ceil(POINTS / lanes.length);
    await Promise.all(lanes.map((x, i) => x.run(i === 0 ? POINTS - share * (lanes.length - 1) : share)));
    const summaries = await Promise.all(lanes.map((x) => x.clock.time('settle', () => x.settle())));
    console.log(`      ${POINTS} SIGKILL points (seeds ${lanes.map((x) => x.seed).join(', ')}, two data directories) in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
    for (const s of summaries) console.log(`      ${JSON.stringify(s)}`);
    for (const x of lanes) console.log(`      wall time, lane ${x.seed}: ${JSON.stringify(x.clock.summary())}`);
  });

  it('the enclave process killed mid-job: the job fails or retries cleanly, charged at most once', async () => {
    const { l, m, proc, dataDir } = lanes[0]!;
    const t = await quoteAndSubmit(l, m);
    expect(t.status).to.equal(201);
    expect((await approve(l, m, t.trade.id)).status).to.equal(200);
    const db = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true });
    const until = Date.now() + 30_000;
    let state = '';
    while (Date.now() < until) {
      state = (db.prepare('SELECT state FROM jobs WHERE trade_id = ?').get(t.trade.id) as { state: string } | undefined)?.state ?? '';
      if (state === 'running' || state === 'done' || state === 'failed') break;
      await sleep(5);
    }
    const pid = enclavePidOf(proc.child!.pid!);
    expect(pid, 'the enclave child process').to.be.a('number');
    process.kill(pid!, 'SIGKILL');
    const end = Date.now() + 90_000;
    let trade = '';
    while (Date.now() < end) {
      trade = (db.prepare('SELECT state FROM trades WHERE id = ?').get(t.trade.id) as { state: string }).state;
      if (TERMINAL.includes(trade)) break;
      await sleep(100);
    }
    db.close();
    expect(trade, 'the trade reaches an end state').to.be.oneOf(['settled', 'failed']);
    const r = await l.http().get(`/v1/trades/${t.trade.id}`).set(m.buyer.auth);
    if (trade === 'failed') expect(JSON.stringify(r.body), 'a failed trade says why').to.match(/enclave|unavailable|fail/i);
    expect(brokenInvariants(dataDir)).to.deep.equal([]);
    expect((await l.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body.heldFen).to.equal(0);
    const after = enclavePidOf(proc.child!.pid!);
    console.log(`      job state when the enclave was killed: ${state}; trade ended ${trade}; enclave restarted as pid ${after} (was ${pid})`);
    // the server still serves and stops cleanly
    expect((await l.http().get('/v1/health')).status).to.equal(200);
    expect(await proc.stop()).to.equal(0);
    expect(brokenInvariants(dataDir)).to.deep.equal([]);
    expect(readdirSync(join(dataDir, 'blobs', 'tmp')), 'no temp bytes left after a clean stop').to.deep.equal([]);
  });
});
