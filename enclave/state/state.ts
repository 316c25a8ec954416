import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { isPostgresUrl, openStore, type Store } from '../../store/engine.js';
import { migratePostgres, migrateSqlite } from '../../store/migrate.js';

/**
 * The enclave's own state — privacy ledger, refusals, charge keys, differencing history, row maps, row-cap
 * pins, 核验 calls and (on PostgreSQL) the sealed keystore — in one store on the project's engine, with the
 * enclave's OWN migration set (enclave/state/migrations), run by the enclave process at start:
 *   embedded  a SQLite file in the enclave's data folder (`privacy-budget.sqlite`, as before: the tables keep
 *             their names and columns, so an existing file is migrated in place);
 *   cluster   a PostgreSQL schema (`shuyu_enclave` by default) that only the enclave workers' role can read,
 *             so a charge is one transaction whichever worker's enclave runs the job.
 */

export const DEFAULT_ENCLAVE_SCHEMA = 'shuyu_enclave';
const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
const MIGRATIONS_TABLE = 'enclave_migrations';

export interface EnclaveState {
  readonly store: Store;
  /** true when the keystore is a row of this store (PostgreSQL), false when it is files beside it */
  readonly keystoreInStore: boolean;
  close(): Promise<void>;
}

export interface OpenEnclaveStateOptions {
  /** a SQLite file path (or ':memory:') or a postgres:// URL */
  location: string;
  /** PostgreSQL: the schema of the enclave's tables (default shuyu_enclave) */
  schema?: string;
  poolSize?: number;
}

export async function openEnclaveState(o: OpenEnclaveStateOptions): Promise<EnclaveState> {
  const pg = isPostgresUrl(o.location);
  const schema = o.schema ?? DEFAULT_ENCLAVE_SCHEMA;
  const { store, sqlite } = openStore({ location: o.location, ...(pg ? { schema, poolSize: o.poolSize ?? 4 } : {}) });
  try {
    if (sqlite) {
      upgradeLegacyFile(sqlite);
      migrateSqlite(sqlite, MIGRATIONS_DIR, MIGRATIONS_TABLE);
    } else {
      await assertPrivateSchema(store, schema);
      // enclaves starting together: the advisory lock makes one migrate and the others find nothing to do
      await migratePostgres(store, MIGRATIONS_DIR, `shuyu:enclave-migrations:${schema}`, { schema, table: MIGRATIONS_TABLE });
    }
  } catch (e) {
    await store.close();
    throw e;
  }
  return { store, keystoreInStore: pg, close: () => store.close() };
}

/**
 * The enclave's schema must be its own: owned by the role it connects as and granted to no one else. A schema
 * the application role owns or may use would let that role drop the ledger and have it re-created empty.
 * A schema not made yet is created by the migration, owned by this role.
 */
async function assertPrivateSchema(store: Store, schema: string): Promise<void> {
  const row = await store.get<{ owned: boolean; private: boolean }>(
    `SELECT n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AS owned,
            COALESCE((SELECT bool_and(a.grantee = n.nspowner) FROM aclexplode(n.nspacl) a), true) AS private
       FROM pg_namespace n WHERE n.nspname = ?`,
    schema,
  );
  if (!row) return;
  if (!row.owned || !row.private) {
    throw new Error(
      `the enclave's schema ${schema} must be owned by the enclave's role and granted to no other role (${row.owned ? 'it is granted to others' : 'another role owns it'}): see docs/deploy.md, Roles`,
    );
  }
}

/**
 * Files written before the migration set grew their tables' columns one ALTER at a time: the columns an older
 * file lacks are added here, so the migration's CREATE TABLE IF NOT EXISTS finds every table in its final shape.
 */
function upgradeLegacyFile(db: Database.Database): void {
  const columns = (table: string): Set<string> => new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
  const add = (table: string, wanted: [string, string][]): void => {
    const have = columns(table);
    if (have.size === 0) return; // no such table yet: the migration creates it whole
    for (const [name, type] of wanted) if (!have.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
  };
  add('privacy_charge', [
    ['dataset_key', 'TEXT'],
    ['trade_id', 'TEXT'],
    ['computation_hash', 'TEXT'],
  ]);
  add('privacy_release_sets', [['planned', 'TEXT']]);
  add('privacy_row_map', [
    ['max_rows_per_subject', 'INTEGER'],
    ['dimension_names', 'TEXT'],
    ['dimension_codes', 'BLOB'],
  ]);
}
