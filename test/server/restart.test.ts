import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { market, quoteAndSubmit, approve, waitForTrade, blobsOf, sealTourism } from './fixture.js';
import { ServerProcess } from '../faults/process.js';
import { brokenInvariants } from '../faults/books.js';

/**
 * Crash recovery of the real `server/main.ts` process: SIGKILL while a job runs and while an
 * upload is half sent (one blob in the middle of its stream), restart on the same data directory:
 * the job completes exactly once, the ledger balances, the half upload is not a dataset (and can be
 * resumed), no temp bytes are left.
 */
describe('server: SIGKILL mid-job and mid-upload, then restart', function () {
  this.timeout(240_000);
  const root = mkdtempSync(join(tmpdir(), 'shuyu-restart-'));
  const dataDir = join(root, 'data');
  // No SHUYU_MASTER_SECRET: this run also exercises the embedded default (DATA_DIR/master.secret, 0600).
  const env: NodeJS.ProcessEnv = { ...process.env, SHUYU_LOG_LEVEL: 'info', SHUYU_JOB_POLL_MS: '50' };
  delete env.SHUYU_MASTER_SECRET;
  delete env.SHUYU_MASTER_SECRET_FILE;
  const proc = new ServerProcess(dataDir, env);

  after(async () => {
    await proc.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('completes the job exactly once, keeps the ledger balanced and shows no partial dataset', async () => {
    let l = await proc.live(await proc.start(), root);
    expect(proc.output).to.match(/operator credentials written to .*bootstrap\.json \(mode 0600\)/);
    for (const f of ['bootstrap.json', 'master.secret']) {
      expect(statSync(join(dataDir, f)).mode & 0o777, f).to.equal(0o600);
    }
    expect(readdirSync(join(dataDir, 'enclave'))).to.not.include('master.secret');
    const m = await market(l, { rows: 3000, tag: 'rs' });
    const half = await sealTourism(l, 30, 'half');
    const datasetsBefore = (await l.http().get('/v1/datasets').set(m.owner.auth)).body.items.length;

    // an upload: half of its blobs sent, one more in the middle of its stream when the process dies
    const up = await l.http().post('/v1/uploads').set(m.owner.auth).send({ title: 'Half sent', manifest: half.manifest });
    const blobs = blobsOf(half);
    for (const b of blobs.slice(0, blobs.length >> 1)) {
      await l.http().put(`/v1/uploads/${up.body.id}/blobs/${b.hash}`).set(m.owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes);
    }
    const streaming = blobs[blobs.length - 1]!;
    const u = new URL(`/v1/uploads/${up.body.id}/blobs/${streaming.hash}`, (l.srv as { url: string }).url);
    const partial = httpRequest(u, { method: 'PUT', headers: { ...m.owner.auth, 'Content-Type': 'application/octet-stream', 'Content-Length': String(streaming.bytes.length) } });
    partial.on('error', () => {});
    partial.write(streaming.bytes.subarray(0, streaming.bytes.length >> 1));

    // a trade whose job is running
    const { trade } = await quoteAndSubmit(l, m);
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    const db = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true, fileMustExist: true });
    const until = Date.now() + 30_000;
    let state = '';
    while (Date.now() < until) {
      state = (db.prepare('SELECT state FROM jobs WHERE trade_id = ?').get(trade.id) as { state: string } | undefined)?.state ?? '';
      if (state === 'running' || state === 'done') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    db.close();
    expect(state, 'the job should be running when the process is killed').to.equal('running');
    await proc.kill();
    partial.destroy();

    // restart on the same data directory
    l = await proc.live(await proc.start(), root);
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed'], 90_000);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const res = await l.http().get(`/v1/trades/${trade.id}/result`).set(m.buyer.auth);
    expect(res.status).to.equal(200);
    const rows = readdirSync(join(dataDir, 'blobs', 'tmp'));
    expect(rows, 'no temp bytes left from the interrupted stream').to.deep.equal([]);

    const w = (await l.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body;
    expect(w.availableFen).to.equal(95_000);
    expect(w.heldFen).to.equal(0);
    expect((await l.http().get('/v1/ledger/wallet').set(m.owner.auth)).body.revenueFen).to.equal(4500);

    // the half upload is not a dataset; it can be resumed and completed after the restart
    expect((await l.http().get('/v1/datasets').set(m.owner.auth)).body.items.length).to.equal(datasetsBefore);
    const again = await l.http().get(`/v1/uploads/${up.body.id}`).set(m.owner.auth);
    expect(again.body.state).to.equal('open');
    expect(again.body.missing).to.include(streaming.hash);
    for (const h of again.body.missing as string[]) {
      const b = blobs.find((x) => x.hash === h)!;
      expect((await l.http().put(`/v1/uploads/${up.body.id}/blobs/${h}`).set(m.owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes)).status).to.equal(200);
    }
    expect((await l.http().post(`/v1/uploads/${up.body.id}/complete`).set(m.owner.auth).send()).status).to.equal(201);

    // graceful stop, then the books: executed and charged once, journal balances, audit chain verifies
    const v = await l.http().get('/v1/audit/verify').set(l.operator.auth);
    expect(v.body.ok, JSON.stringify(v.body)).to.equal(true);
    expect(await proc.stop()).to.equal(0);
    expect(brokenInvariants(dataDir), 'integrity_check, ledger = journal, nothing charged twice, no partial dataset').to.deep.equal([]);
    const check = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true });
    const job = check.prepare('SELECT state, attempts FROM jobs WHERE trade_id = ?').get(trade.id) as { state: string; attempts: number };
    expect(job.state).to.equal('done');
    expect(job.attempts).to.be.at.least(2);
    const captures = check.prepare("SELECT COUNT(*) AS n FROM ledger_transactions WHERE trade_id = ? AND kind = 'capture'").get(trade.id) as { n: number };
    expect(captures.n).to.equal(1);
    const transitions = check.prepare("SELECT COUNT(*) AS n FROM trade_transitions WHERE trade_id = ? AND to_state = 'executing'").get(trade.id) as { n: number };
    expect(transitions.n).to.equal(1);
    check.close();
    const lines = proc.logLines();
    expect(lines.filter((s) => /"status":5\d\d/.test(s))).to.deep.equal([]);
  });
});
