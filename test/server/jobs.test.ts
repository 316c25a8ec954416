import { expect } from 'chai';
import { openDatabase } from '../../server/store/db.js';
import { JobQueue } from '../../server/jobs/queue.js';

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
});
