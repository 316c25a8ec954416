import { expect } from 'chai';
import { sql } from 'kysely';
import { openStore, type Store } from '../../store/engine.js';
import { isStoreUnavailable } from '../../store/errors.js';
import { freshSchema, testDatabaseUrl } from './engines.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A named transaction lock held by a session that stopped talking (its client died after sending COMMIT, or a
 * hostile role took the name): waiters fail as store-unavailable after the lock timeout instead of hanging,
 * and the server closes the idle holder, which gives the lock back.
 */
describe('store: named locks on PostgreSQL never wait forever', function () {
  this.timeout(30_000);
  const open = (): Store => openStore({ location: testDatabaseUrl(), schema: freshSchema(), lockTimeoutMs: 300 }).store;

  it('a waiter gives up as store-unavailable; the silent holder is closed and the lock comes back', async () => {
    const holder = open();
    const waiter = open();
    try {
      let taken!: () => void;
      const tookLock = new Promise<void>((r) => (taken = r));
      // the holder takes the lock and then says nothing more, as a vanished client's backend does
      const silent = holder.kysely
        .connection()
        .execute(async (conn) => {
          await sql`SELECT pg_advisory_lock(hashtext(${'budget:c1'}))`.execute(conn);
          taken();
          await sleep(4_000);
          await sql`SELECT 1`.execute(conn);
        })
        .catch((e: unknown) => e);
      await tookLock;

      const t0 = Date.now();
      const refused = await waiter.transaction(async () => waiter.get('SELECT 1 AS one'), { lock: 'budget:c1' }).catch((e: unknown) => e);
      expect(isStoreUnavailable(refused), String(refused)).to.equal(true);
      expect(Date.now() - t0).to.be.below(3_000);

      // idle for ten lock timeouts: the server ends the holder's session and its lock with it
      const ended = await silent;
      expect(isStoreUnavailable(ended), `the idle holder was closed: ${String(ended)}`).to.equal(true);
      const row = await waiter.transaction(async () => waiter.get<{ one: number }>('SELECT 1 AS one'), { lock: 'budget:c1' });
      expect(row?.one).to.equal(1);
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });
});
