/**
 * A throw-away PostgreSQL database for a bench: created (byte-wise collation, as production and the tests
 * create theirs) before `fn` and dropped after it, whatever happens. SHUYU_BENCH_PG_ADMIN_URL names the server
 * and a role that may create databases (default: postgres on 127.0.0.1:5432, as the tests use).
 */
import pg from 'pg';

const ADMIN_URL = process.env.SHUYU_BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin(statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

/** True when the admin URL answers: benches measure PostgreSQL where there is one and say so where there is not. */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await admin('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

export async function withThrowawayDatabase<T>(label: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `shuyu_bench_${label}_${process.pid}_${Date.now().toString(36)}`;
  await admin(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
