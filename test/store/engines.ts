import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Db } from '../../server/store/db.js';

/** The store engines every store and contract suite runs on. */
export type Engine = 'sqlite' | 'postgres';
export const ENGINES: readonly Engine[] = ['sqlite', 'postgres'];

let current: Engine = 'sqlite';
const open: Db[] = [];
const suiteOpen: Db[] = [];

export function testDatabaseUrl(): string {
  const url = process.env.SHUYU_TEST_DATABASE_URL;
  if (!url) throw new Error('SHUYU_TEST_DATABASE_URL is not set: run mocha with test/pg-fixture.ts (.mocharc.json) and PostgreSQL running');
  return url;
}

/** A fresh PostgreSQL schema name in the run's throw-away database. */
export const freshSchema = (): string => `t_${randomBytes(6).toString('hex')}`;

/**
 * A fresh store on the current engine with every migration applied: an in-memory SQLite database, or a
 * schema of its own in the run's PostgreSQL database. Closed after each test by `onEngines`.
 */
export async function openTestDb(engine: Engine = current): Promise<Db> {
  const db = engine === 'sqlite' ? await openDatabase(':memory:') : await openDatabase(testDatabaseUrl(), { schema: freshSchema(), poolSize: 4 });
  open.push(db);
  return db;
}

export async function closeTestDbs(): Promise<void> {
  for (const db of open.splice(0)) await db.close().catch(() => {});
}

/** Like openTestDb, for a store a whole `describe` shares (made in `before`): closed after the suite. */
export async function openSuiteDb(engine: Engine = current): Promise<Db> {
  const db = await openTestDb(engine);
  open.splice(open.indexOf(db), 1);
  suiteOpen.push(db);
  return db;
}

/** `describe` once per engine; the tests inside get stores of that engine from openTestDb(). */
export function onEngines(title: string, fn: (engine: Engine) => void): void {
  for (const engine of ENGINES) {
    describe(`${title} [${engine}]`, function () {
      before(() => {
        current = engine;
      });
      afterEach(closeTestDbs);
      after(async () => {
        current = 'sqlite';
        for (const db of suiteOpen.splice(0)) await db.close().catch(() => {});
      });
      fn(engine);
    });
  }
}

/** Drops a schema made by freshSchema (tests that start servers on it). */
export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: testDatabaseUrl() });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}
