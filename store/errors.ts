/** PostgreSQL SQLSTATEs (and node socket errors) the store treats specially. */
const RETRY = new Set([
  '40001', // serialization_failure: another transaction's writes conflict with what this one read
  '40P01', // deadlock_detected
  '25P02', // in_failed_sql_transaction: a statement after a swallowed conflict in the same transaction
]);

// 55P03 lock_not_available: lock_timeout passed (store/engine.ts), the holder is busy or gone: retry later
const UNAVAILABLE_CODES = new Set(['55P03', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']);
const UNAVAILABLE_TEXT = /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|the database system is (starting up|shutting down)|terminating connection/i;

const codeOf = (e: unknown): string | undefined => (e && typeof e === 'object' && 'code' in e ? String((e as { code: unknown }).code) : undefined);

export function isRetryableConflict(e: unknown): boolean {
  const c = codeOf(e);
  return c !== undefined && RETRY.has(c);
}

/** The database cannot be reached (restart, network): the request may succeed later, nothing was written. */
export function isStoreUnavailable(e: unknown): boolean {
  if (e && typeof e === 'object' && (e as { type?: unknown }).type === 'store-unavailable') return true;
  const c = codeOf(e);
  if (c && UNAVAILABLE_CODES.has(c)) return true;
  return e instanceof Error && UNAVAILABLE_TEXT.test(e.message);
}

/** A unique-constraint violation (SQLite's SQLITE_CONSTRAINT_PRIMARYKEY/UNIQUE, PostgreSQL's 23505). */
export function isUniqueViolation(e: unknown): boolean {
  const c = codeOf(e);
  return c === '23505' || c === 'SQLITE_CONSTRAINT_UNIQUE' || c === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
