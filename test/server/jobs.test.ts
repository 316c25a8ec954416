import { expect } from 'chai';
import { openDatabase } from '../../server/store/db.js';
import { JobQueue } from '../../server/jobs/queue.js';
import { JobWorker } from '../../server/jobs/worker.js';
import { createLogger } from '../../server/logger.js';

describe('server: durable job queue (leases in SQLite)', () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = { now: () => new Date(now) };

  it('enqueues once per trade, leases to one worker, re-leases only after the lease expired, and only the holder finishes', () => {
    const q = new JobQueue(openDatabase(':memory:'), clock);
    const a = q.enqueue('trade-1');
    expect(q.enqueue('trade-1').id).to.equal(a.id);
    const l1 = q.lease('w1', 1000)!;
    expect(l1.attempts).to.equal(1);
    expect(q.lease('w2', 1000)).to.equal(null);
    now += 600;
    expect(q.renew(l1.id, 'w1', 1000)).to.equal(true);
    now += 900; // still inside the renewed lease
    expect(q.lease('w2', 1000)).to.equal(null);
    now += 200; // lease expired: w1 "crashed"
    const l2 = q.lease('w2', 1000)!;
    expect(l2.id).to.equal(a.id);
    expect(l2.attempts).to.equal(2);
    expect(q.finish(a.id, 'w1'), 'the old holder lost it').to.equal(false);
    expect(q.saveRelease(a.id, 'w1', { x: 1 }, { r: 1 })).to.equal(false);
    expect(q.saveRelease(a.id, 'w2', { x: 2 }, { r: 2 })).to.equal(true);
    expect(q.finish(a.id, 'w2')).to.equal(true);
    expect(q.byTrade('trade-1')!.state).to.equal('done');
    expect(q.byTrade('trade-1')!.receipt).to.deep.equal({ r: 2 });
    now += 10_000;
    expect(q.lease('w3', 1000), 'a finished job is never leased again').to.equal(null);
  });

  it('after a restart every running lease is expired at once; failed jobs keep their reason', () => {
    const q = new JobQueue(openDatabase(':memory:'), clock);
    q.enqueue('t-a');
    q.enqueue('t-b');
    const x = q.lease('dead-process', 60_000)!;
    expect(q.lease('new-process', 60_000)!.tradeId).to.equal('t-b');
    expect(q.expireLeasesAtStartup()).to.equal(2);
    const again = q.lease('new-process', 60_000)!;
    expect(again.id).to.equal(x.id);
    expect(q.fail(again.id, 'new-process', 'budget-exhausted', 'the ε budget is spent')).to.equal(true);
    expect(q.byTrade('t-a')).to.include({ state: 'failed', errorType: 'budget-exhausted', errorMessage: 'the ε budget is spent' });
  });

  it('a job whose process died maxAttempts times fails instead of running again; one with attempts left runs', async () => {
    const q = new JobQueue(openDatabase(':memory:'), clock);
    q.enqueue('t-crashes');
    q.enqueue('t-crashed-twice');
    // Each round the process dies mid-job and the next one starts: both jobs die twice, the first a third time.
    for (const round of [1, 2, 3]) {
      expect(q.lease(`dead-${round}a`, 60_000)!.tradeId).to.equal('t-crashes');
      if (round < 3) expect(q.lease(`dead-${round}b`, 60_000)!.tradeId).to.equal('t-crashed-twice');
      q.expireLeasesAtStartup();
    }
    const ran: string[] = [];
    const failed: string[] = [];
    const w = new JobWorker(q, async (ctx) => void ran.push(ctx.job.tradeId), (job, type) => void failed.push(`${job.tradeId} ${type}`), { leaseMs: 60_000, pollMs: 5, maxAttempts: 3 }, createLogger('silent'));
    w.start();
    const until = Date.now() + 5000;
    while (q.byTrade('t-crashed-twice')!.state !== 'done' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    await w.stop();
    expect(ran, 'the job out of attempts never runs again').to.deep.equal(['t-crashed-twice']);
    expect(failed).to.deep.equal(['t-crashes execution-failed']);
    expect(q.byTrade('t-crashes')).to.include({ state: 'failed', attempts: 4, errorType: 'execution-failed' });
    expect(q.byTrade('t-crashed-twice')).to.include({ state: 'done', attempts: 3 });
  });

  it('at start, an approved trade without a job (written before approval and job shared a transaction) is queued once', () => {
    const db = openDatabase(':memory:');
    const q = new JobQueue(db, clock);
    const trade = (id: string, state: string) =>
      db.prepare("INSERT INTO trades (id, state, quote_id, offer_id, offer_version, dataset_id, owner_org_id, buyer_org_id, expires_at, doc, created_at, updated_at) VALUES (?, ?, ?, 'o', 1, 'd', 'ow', 'b', NULL, '{}', ?, ?)")
        .run(id, state, `q-${id}`, clock.now().toISOString(), clock.now().toISOString());
    trade('t-orphan', 'approved');
    trade('t-queued', 'approved');
    trade('t-review', 'under_review');
    trade('t-done', 'settled');
    const queued = q.enqueue('t-queued');
    expect(q.adoptApprovedWithoutJob()).to.equal(1);
    expect(q.byTrade('t-orphan')).to.include({ state: 'queued', attempts: 0 });
    expect(q.byTrade('t-queued')!.id).to.equal(queued.id);
    expect(q.byTrade('t-review')).to.equal(null);
    expect(q.byTrade('t-done')).to.equal(null);
    expect(q.adoptApprovedWithoutJob()).to.equal(0);
  });
});

