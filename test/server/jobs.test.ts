import { expect } from 'chai';
import { onEngines, openTestDb } from '../store/engines.js';
import { JobQueue } from '../../server/jobs/queue.js';
import { JobWorker } from '../../server/jobs/worker.js';
import { createLogger } from '../../server/logger.js';

onEngines('server: durable job queue (leases in the store)', () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = { now: () => new Date(now) };

  it('enqueues once per trade, leases to one worker, re-leases only after the lease expired, and only the holder finishes', async () => {
    const q = new JobQueue(await openTestDb(), clock);
    const a = await q.enqueue('trade-1');
    expect((await q.enqueue('trade-1')).id).to.equal(a.id);
    const l1 = (await q.lease('w1', 1000))!;
    expect(l1.attempts).to.equal(1);
    expect(await q.lease('w2', 1000)).to.equal(null);
    now += 600;
    expect(await q.renew(l1.id, 'w1', 1000)).to.equal(true);
    now += 900; // still inside the renewed lease
    expect(await q.lease('w2', 1000)).to.equal(null);
    now += 200; // lease expired: w1 "crashed"
    const l2 = (await q.lease('w2', 1000))!;
    expect(l2.id).to.equal(a.id);
    expect(l2.attempts).to.equal(2);
    expect(await q.finish(a.id, 'w1'), 'the old holder lost it').to.equal(false);
    expect(await q.saveRelease(a.id, 'w1', { x: 1 }, { r: 1 })).to.equal(false);
    expect(await q.saveRelease(a.id, 'w2', { x: 2 }, { r: 2 })).to.equal(true);
    expect(await q.finish(a.id, 'w2')).to.equal(true);
    expect((await q.byTrade('trade-1'))!.state).to.equal('done');
    expect((await q.byTrade('trade-1'))!.receipt).to.deep.equal({ r: 2 });
    now += 10_000;
    expect(await q.lease('w3', 1000), 'a finished job is never leased again').to.equal(null);
  });

  it('after a restart every running lease is expired at once; failed jobs keep their reason', async () => {
    const q = new JobQueue(await openTestDb(), clock);
    await q.enqueue('t-a');
    await q.enqueue('t-b');
    const x = (await q.lease('dead-process', 60_000))!;
    expect((await q.lease('new-process', 60_000))!.tradeId).to.equal('t-b');
    expect(await q.expireLeasesAtStartup()).to.equal(2);
    const again = (await q.lease('new-process', 60_000))!;
    expect(again.id).to.equal(x.id);
    expect(await q.fail(again.id, 'new-process', 'budget-exhausted', 'the ε budget is spent')).to.equal(true);
    expect(await q.byTrade('t-a')).to.include({ state: 'failed', errorType: 'budget-exhausted', errorMessage: 'the ε budget is spent' });
  });

  it('a job whose process died maxAttempts times fails instead of running again; one with attempts left runs', async () => {
    const q = new JobQueue(await openTestDb(), clock);
    await q.enqueue('t-crashes');
    await q.enqueue('t-crashed-twice');
    // Each round the process dies mid-job and the next one starts: both jobs die twice, the first a third time.
    for (const round of [1, 2, 3]) {
      expect((await q.lease(`dead-${round}a`, 60_000))!.tradeId).to.equal('t-crashes');
      if (round < 3) expect((await q.lease(`dead-${round}b`, 60_000))!.tradeId).to.equal('t-crashed-twice');
      await q.expireLeasesAtStartup();
    }
    const ran: string[] = [];
    const failed: string[] = [];
    const w = new JobWorker(q, async (ctx) => void ran.push(ctx.job.tradeId), (job, type) => void failed.push(`${job.tradeId} ${type}`), { leaseMs: 60_000, pollMs: 5, maxAttempts: 3 }, createLogger('silent'));
    w.start();
    const until = Date.now() + 5000;
    while ((await q.byTrade('t-crashed-twice'))!.state !== 'done' && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    await w.stop();
    expect(ran, 'the job out of attempts never runs again').to.deep.equal(['t-crashed-twice']);
    expect(failed).to.deep.equal(['t-crashes execution-failed']);
    expect(await q.byTrade('t-crashes')).to.include({ state: 'failed', attempts: 4, errorType: 'execution-failed' });
    expect(await q.byTrade('t-crashed-twice')).to.include({ state: 'done', attempts: 3 });
  });

  it('at start, an approved trade without a job (written before approval and job shared a transaction) is queued once', async () => {
    const db = await openTestDb();
    const q = new JobQueue(db, clock);
    const trade = async (id: string, state: string) =>
      (await db.run("INSERT INTO trades (id, state, quote_id, offer_id, offer_version, dataset_id, owner_org_id, buyer_org_id, expires_at, doc, created_at, updated_at) VALUES (?, ?, ?, 'o', 1, 'd', 'ow', 'b', NULL, '{}', ?, ?)", id, state, `q-${id}`, clock.now().toISOString(), clock.now().toISOString()));
    await trade('t-orphan', 'approved');
    await trade('t-queued', 'approved');
    await trade('t-review', 'under_review');
    await trade('t-done', 'settled');
    const queued = await q.enqueue('t-queued');
    expect(await q.adoptApprovedWithoutJob()).to.equal(1);
    expect(await q.byTrade('t-orphan')).to.include({ state: 'queued', attempts: 0 });
    expect((await q.byTrade('t-queued'))!.id).to.equal(queued.id);
    expect(await q.byTrade('t-review')).to.equal(null);
    expect(await q.byTrade('t-done')).to.equal(null);
    expect(await q.adoptApprovedWithoutJob()).to.equal(0);
  });
});

