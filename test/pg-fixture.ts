/**
 * Mocha global fixture (.mocharc.json `require`): every test run gets a throw-away PostgreSQL database,
 * created here before any test file loads and dropped when the run ends. Tests read its URL from
 * SHUYU_TEST_DATABASE_URL (worker processes of --parallel inherit it). PostgreSQL must be running
 * (.ci/run starts it): the PostgreSQL suites fail rather than skip without it.
 */
import pg from 'pg';

const ADMIN_URL = process.env.SHUYU_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let created: string | null = null;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.SHUYU_TEST_DATABASE_URL) return; // given from outside (a developer's own database)
  const name = `shuyu_test_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    // C collation: text compares byte-wise as in SQLite, so id cursors and ISO timestamps order alike
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  } finally {
    await admin.end();
  }
  created = name;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  process.env.SHUYU_TEST_DATABASE_URL = url.toString();
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (!created) return;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${created} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
