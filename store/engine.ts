import { AsyncLocalStorage } from 'node:async_hooks';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, sql, SqliteDialect, type RawBuilder, type Transaction } from 'kysely';
import pg from 'pg';
import { isStoreUnavailable, isRetryableConflict } from './errors.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * One relational store on either engine: the embedded SQLite file (better-sqlite3, WAL) or PostgreSQL
 * (pg pool), both through Kysely's dialects. The store code writes plain SQL that both engines read,
 * with `?` placeholders; the dialect numbers them for PostgreSQL.
 *
 * Transactions: `transaction(fn)` runs `fn` in one database transaction; every query made inside it (in
 * the same async call chain) joins it through AsyncLocalStorage, and a nested call is a savepoint.
 * On PostgreSQL the isolation level is SERIALIZABLE: a trade step reads (the trade's state, the audit
 * chain's head, a balance) and writes what follows from it, and SERIALIZABLE makes any interleaving of
 * two such steps from two servers either equal to a serial order or fail with 40001, which is retried
 * here with the whole step re-run — so no step needs to know which rows to lock. On SQLite the one
 * connection is held for the whole transaction (Kysely's connection mutex), so steps are serial.
 */
export interface Store {
  readonly dialect: Dialect;
  readonly kysely: Kysely<unknown>;
  all<T = Record<string, unknown>>(text: string, ...args: unknown[]): Promise<T[]>;
  get<T = Record<string, unknown>>(text: string, ...args: unknown[]): Promise<T | undefined>;
  /** Runs a statement; answers the number of rows it changed. */
  run(text: string, ...args: unknown[]): Promise<number>;
  /**
   * Runs `fn` atomically (see above); retried on a serialization failure, so `fn` must only touch the store.
   * `lock`: on PostgreSQL, a session advisory lock on this name is taken on the transaction's connection BEFORE
   * it begins, so transactions on one name run one after another and each one's snapshot sees the last one's
   * commit (a lock taken inside would come after the snapshot, and SERIALIZABLE would abort the waiter).
   * On SQLite the transaction begins IMMEDIATE (the file's write lock first). Ignored inside a transaction.
   */
  transaction<T>(fn: () => Promise<T>, o?: { lock?: string }): Promise<T>;
  /** True inside a transaction() call chain. */
  inTransaction(): boolean;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** A SQLite file path (or ':memory:') or a postgres:// URL. */
  location: string;
  /** PostgreSQL: the schema this store's tables live in (search_path); default public. */
  schema?: string;
  /** PostgreSQL: pool size (default 10). */
  poolSize?: number;
  /**
   * PostgreSQL: the longest wait for a lock (a row, or a `transaction(fn, { lock })` name) before the statement
   * fails as store-unavailable and the caller retries later (default 10 s). A session that has gone idle for ten
   * times as long is closed by the server, so a lock held by a client that vanished is given back.
   */
  lockTimeoutMs?: number;
}

export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

const MAX_ATTEMPTS = 12;

/** Integers come back as JS numbers on both engines: every integer here (fen, counts, seq) is below 2^53. */
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v); // int8 (BIGINT, COUNT(*))
    if (oid === 1700) return (v: string) => Number(v); // numeric (SUM of BIGINT)
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

type Frame = { trx: Transaction<unknown>; depth: number };

export function openStore(o: OpenStoreOptions): { store: Store; sqlite: Database.Database | null } {
  let sqlite: Database.Database | null = null;
  let pool: pg.Pool | null = null;
  let kysely: Kysely<unknown>;
  const dialect: Dialect = isPostgresUrl(o.location) ? 'postgres' : 'sqlite';
  if (dialect === 'postgres') {
    pool = new pg.Pool({
      connectionString: o.location,
      max: o.poolSize ?? 10,
      types: pgTypes,
      connectionTimeoutMillis: 5_000,
      options: sessionSettings(o),
    });
    // A connection dropped by a PostgreSQL restart is reported as an 'error' event besides the failed query:
    // on the pool for an idle one, on the client for one in use. Unheard, it would crash the process; the
    // query's own rejection (503 store-unavailable) is what the caller sees, and the pool opens new ones.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  } else {
    sqlite = new Database(o.location);
    if (o.location !== ':memory:') sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  const frames = new AsyncLocalStorage<Frame>();
  const executor = () => frames.getStore()?.trx ?? kysely;
  const templates = new Map<string, TemplateStringsArray>();
  const build = (text: string, args: unknown[]): RawBuilder<unknown> => {
    let t = templates.get(text);
    if (!t) {
      const parts = text.split('?');
      t = Object.assign([...parts], { raw: [...parts] }) as unknown as TemplateStringsArray;
      if (templates.size > 2048) templates.clear();
      templates.set(text, t);
    }
    if (t.length !== args.length + 1) throw new Error(`the statement has ${t.length - 1} placeholders and ${args.length} arguments: ${text}`);
    return sql(t, ...args.map((a) => (typeof a === 'boolean' ? (a ? 1 : 0) : a)));
  };
  const exec = async (text: string, args: unknown[]) => {
    try {
      return await build(text, args).execute(executor());
    } catch (e) {
      throw wrap(e);
    }
  };
  const store: Store = {
    dialect,
    kysely,
    all: async <T>(text: string, ...args: unknown[]) => (await exec(text, args)).rows as T[],
    get: async <T>(text: string, ...args: unknown[]) => (await exec(text, args)).rows[0] as T | undefined,
    run: async (text, ...args) => Number((await exec(text, args)).numAffectedRows ?? 0n),
    inTransaction: () => frames.getStore() !== undefined,
    async transaction<T>(fn: () => Promise<T>, o: { lock?: string } = {}): Promise<T> {
      const frame = frames.getStore();
      if (frame) return savepoint(frame, fn);
      const once = (db: Kysely<unknown>) => {
        let b = db.transaction();
        if (dialect === 'postgres') b = b.setIsolationLevel('serializable');
        return b.execute((trx) => frames.run({ trx, depth: 0 }, fn));
      };
      const lock = o.lock;
      // SQLite with a lock: BEGIN IMMEDIATE takes the write lock first, so processes sharing one file (the
      // enclaves of one host) wait on the busy timeout instead of failing to upgrade a read to a write
      if (dialect === 'sqlite' && lock !== undefined) return immediate(kysely, frames, fn);
      for (let attempt = 1; ; attempt++) {
        try {
          if (dialect !== 'postgres' || lock === undefined) return await once(kysely);
          return await kysely.connection().execute(async (conn) => {
            await sql`SELECT pg_advisory_lock(hashtext(${lock}))`.execute(conn);
            try {
              return await once(conn);
            } finally {
              // a lost connection took the lock with it
              await sql`SELECT pg_advisory_unlock(hashtext(${lock}))`.execute(conn).catch(() => {});
            }
          });
        } catch (e) {
          if (dialect === 'postgres' && isRetryableConflict(e) && attempt < MAX_ATTEMPTS) {
            await new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** Math.min(attempt, 6)));
            continue;
          }
          throw wrap(e);
        }
      }
    },
    async close() {
      await kysely.destroy(); // closes the better-sqlite3 handle or ends the pool
    },
  };
  return { store, sqlite };
}

/**
 * Settings of every PostgreSQL session. Without timeouts a client that died after its COMMIT was sent leaves a
 * live, idle backend holding its session advisory lock, and every later transaction on that name waits forever.
 * The pool closes its idle connections long before the idle-session limit (pg's default: after 10 s).
 */
function sessionSettings(o: OpenStoreOptions): string {
  const lockMs = o.lockTimeoutMs ?? 10_000;
  const settings = [`lock_timeout=${lockMs}`, `idle_session_timeout=${lockMs * 10}`, `idle_in_transaction_session_timeout=${lockMs * 10}`];
  if (o.schema) settings.unshift(`search_path=${o.schema}`);
  return settings.map((x) => `-c ${x}`).join(' ');
}

async function immediate<T>(kysely: Kysely<unknown>, frames: AsyncLocalStorage<Frame>, fn: () => Promise<T>): Promise<T> {
  try {
    return await kysely.connection().execute(async (conn) => {
      await sql.raw('BEGIN IMMEDIATE').execute(conn);
      try {
        const out = await frames.run({ trx: conn as Transaction<unknown>, depth: 0 }, fn);
        await sql.raw('COMMIT').execute(conn);
        return out;
      } catch (e) {
        await sql.raw('ROLLBACK').execute(conn).catch(() => {});
        throw e;
      }
    });
  } catch (e) {
    throw wrap(e);
  }
}

async function savepoint<T>(frame: Frame, fn: () => Promise<T>): Promise<T> {
  const name = `sp_${++frame.depth}`;
  await sql.raw(`SAVEPOINT ${name}`).execute(frame.trx);
  try {
    const out = await fn();
    await sql.raw(`RELEASE SAVEPOINT ${name}`).execute(frame.trx);
    return out;
  } catch (e) {
    await sql.raw(`ROLLBACK TO SAVEPOINT ${name}`).execute(frame.trx);
    await sql.raw(`RELEASE SAVEPOINT ${name}`).execute(frame.trx);
    throw e;
  } finally {
    frame.depth--;
  }
}

/** A lost PostgreSQL connection becomes one error type the HTTP layer answers with 503. */
function wrap(e: unknown): unknown {
  if (isStoreUnavailable(e) && !(e instanceof StoreUnavailableError)) return new StoreUnavailableError((e as Error).message, { cause: e });
  return e;
}

export class StoreUnavailableError extends Error {
  readonly type = 'store-unavailable';
}
