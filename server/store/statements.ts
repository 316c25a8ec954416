import type Database from 'better-sqlite3';
import type { Db } from './db.js';

const MAX_PER_DB = 512;
const cache = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * `db.prepare(sql)`, compiled once per SQL text and database: SQLite's parse and plan cost more than
 * running a point query, and the request handlers run the same few statements on every call. The SQL
 * texts are the code's own (filters only add fixed clauses and `?` lists), so the cache stays small;
 * it is cleared if it ever exceeds MAX_PER_DB, rather than growing without bound.
 */
export function stmt(db: Db, sql: string): Database.Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) {
    if (m.size >= MAX_PER_DB) m.clear();
    s = db.prepare(sql);
    m.set(sql, s);
  }
  return s;
}
