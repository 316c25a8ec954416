import { expect } from 'chai';
import { openDatabase, type Db } from '../../server/store/db.js';
import { SharedRateLimitStore } from '../../server/http/rate-limit-store.js';
import { dropSchema, freshSchema, onEngines, testDatabaseUrl } from '../store/engines.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The rate limiter's store on both engines: two stores stand for two servers (on PostgreSQL each with a pool of
 * its own on one schema; on SQLite the one file of the embedded server).
 */
onEngines('rate limit store', (engine) => {
  const dbs: Db[] = [];
  let schema = '';
  let t = Date.UTC(2026, 0, 1, 0, 0, 5);
  const now = () => t;

  beforeEach(async () => {
    schema = freshSchema();
    const open = () => (engine === 'sqlite' ? openDatabase(':memory:') : openDatabase(testDatabaseUrl(), { schema, poolSize: 4 }));
    dbs.push(await open());
    dbs.push(engine === 'sqlite' ? dbs[0]! : await open());
  });
  afterEach(async () => {
    for (const db of new Set(dbs.splice(0))) await db.close();
    if (engine === 'postgres') await dropSchema(schema);
  });

  const stores = (limit: number) => dbs.map((db) => new SharedRateLimitStore(db, { limit, windowMs: 60_000, now }));

  it('requests arriving at once on two servers: exactly the limit is allowed', async () => {
    const [a, b] = stores(10);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a! : b!).increment('t:burst')));
    expect(answers.filter((r) => r.totalHits <= 10)).to.have.length(10);
    expect((await dbs[0]!.get<{ hits: number }>('SELECT hits FROM rate_limit_hits WHERE client_key = ?', 't:burst'))!.hits).to.equal(30);
  });

  it('below half the limit hits are counted in process and reach the shared count shortly after', async () => {
    const [a] = stores(1000);
    await a!.increment('t:calm'); // a key's first hit goes to the database
    const local = [];
    for (let i = 0; i < 20; i++) local.push((await a!.increment('t:calm')).totalHits);
    expect(local).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 2));
    await sleep(250);
    expect((await dbs[0]!.get<{ hits: number }>('SELECT hits FROM rate_limit_hits WHERE client_key = ?', 't:calm'))!.hits).to.equal(21);
    a!.shutdown();
  });

  it('a new window starts at zero and the ended one is deleted', async () => {
    const [a] = stores(5);
    for (let i = 0; i < 6; i++) await a!.increment('ip:1');
    expect((await a!.increment('ip:1')).totalHits).to.equal(7);
    t += 60_000;
    const next = await a!.increment('ip:1');
    expect(next.totalHits).to.equal(1);
    expect(next.resetTime!.getTime()).to.equal(Math.floor(t / 60_000) * 60_000 + 60_000);
    // the prune runs beside the request
    const windows = async () => (await dbs[0]!.all<{ w: string }>('SELECT DISTINCT window_start AS w FROM rate_limit_hits')).map((r) => r.w);
    for (let i = 0; i < 100 && (await windows()).length > 1; i++) await sleep(20);
    expect(await windows()).to.deep.equal([new Date(Math.floor(t / 60_000) * 60_000).toISOString()]);
  });
});
