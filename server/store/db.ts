import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPostgresUrl, openStore, type Store } from '../../store/engine.js';
import { migratePostgres, migrateSqlite } from '../../store/migrate.js';

export type Db = Store;

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OpenDatabaseOptions {
  /** PostgreSQL: the schema of the server's tables (default public); tests give each store a schema of its own. */
  schema?: string;
  poolSize?: number;
}

/**
 * Opens the server's store and applies pending migrations (server/store/migrations, the same files on
 * both engines): a SQLite file (created if needed; WAL) or ':memory:', or a postgres:// URL.
 */
export async function openDatabase(location: string, o: OpenDatabaseOptions = {}): Promise<Db> {
  const { store, sqlite } = openStore({ location, ...o });
  try {
    if (sqlite) migrateSqlite(sqlite, MIGRATIONS_DIR);
    else await migratePostgres(store, MIGRATIONS_DIR, `shuyu:server-migrations:${o.schema ?? 'public'}`, { schema: o.schema });
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

export { isPostgresUrl };
