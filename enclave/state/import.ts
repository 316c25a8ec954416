import Database from 'better-sqlite3';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DomainError } from '../../contracts/errors.js';
import type { Store } from '../../store/engine.js';
import { isUniqueViolation } from '../../store/errors.js';
import { KEYSTORE_FILES, SEALED_KEYSTORE_FILE, type KeystoreStorage } from '../keystore/keystore.js';
import { DEFAULT_ENCLAVE_SCHEMA, openEnclaveState } from './state.js';

/**
 * From embedded to cluster: the enclave state an embedded deployment keeps in its data directory (the sealed
 * keystore files and the SQLite state file beside them) moved into the enclave's PostgreSQL schema in one
 * transaction, so the keys, every ε spent, the differencing history and the refusals carry over. The copy
 * is generic over the tables both sides' migrations made: a table added to the migration set moves too, and
 * a source and target whose tables differ are refused rather than copied in part.
 *
 * Afterwards the data directory keeps its files, renamed `*.imported`, beside a marker: an embedded start on
 * it refuses (`enclave-state-imported`) instead of minting a new keystore and an empty ledger.
 */

/** The embedded state file, in the keystore folder. */
export const EMBEDDED_STATE_FILE = 'privacy-budget.sqlite';
const MARKER_FILE = 'IMPORTED.json';
const IMPORTED_SUFFIX = '.imported';
/** Not state: each side keeps its own migration record; the keystore is files on the embedded side. */
const NOT_COPIED = new Set(['enclave_migrations', 'enclave_keystore']);
const IDENT = /^[a-z_][a-z0-9_]*$/;
/** rows per INSERT: row maps carry large blobs, so pages stay small */
const PAGE = 64;

export interface ImportMarker {
  format: 'shuyu.enclave-state-imported.v1';
  importedAt: string;
  /** host and database, never credentials */
  database: string;
  schema: string;
  renamed: string[];
}

export interface ImportReport {
  schema: string;
  keystoreFiles: string[];
  rows: Record<string, number>;
  renamed: string[];
  marker: string;
}

export interface EmbeddedState {
  /** a sealed keystore file is there */
  keystore: boolean;
  /** rows in the state file's tables; 'unreadable' when it exists but cannot be read */
  stateRows: number | 'unreadable';
  imported: ImportMarker | undefined;
}

const refuse = (reason: string, message: string, detail: Record<string, unknown> = {}): never => {
  throw new DomainError('enclave-state-import-refused', message, { reason, ...detail });
};

const quote = (name: string): string => {
  if (!IDENT.test(name)) throw new DomainError('enclave-state-import-refused', `unexpected table or column name ${JSON.stringify(name)}`, { reason: 'tables-differ' });
  return `"${name}"`;
};

/** The data folder of a keystore folder (DATA_DIR/enclave/keystore), for the command a message names. */
const dataDirOf = (keystoreDir: string): string => dirname(dirname(keystoreDir));

const databaseOf = (url: string): string => {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'the given database';
  }
};

function readMarker(keystoreDir: string): ImportMarker | undefined {
  try {
    return JSON.parse(readFileSync(join(keystoreDir, MARKER_FILE), 'utf8')) as ImportMarker;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // a marker that cannot be read still says the state moved: refuse as if it could
    return { format: 'shuyu.enclave-state-imported.v1', importedAt: 'unknown', database: 'unknown', schema: 'unknown', renamed: [] };
  }
}

/** What embedded enclave state a keystore folder holds (read only: the file is opened read-only). */
export function embeddedStateIn(keystoreDir: string): EmbeddedState {
  const file = join(keystoreDir, EMBEDDED_STATE_FILE);
  let stateRows: EmbeddedState['stateRows'] = 0;
  if (existsSync(file)) {
    try {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        for (const { name } of db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`).all() as { name: string }[]) {
          if (!NOT_COPIED.has(name)) stateRows += (db.prepare(`SELECT COUNT(*) AS n FROM ${quote(name)}`).get() as { n: number }).n;
        }
      } finally {
        db.close();
      }
    } catch {
      stateRows = 'unreadable';
    }
  }
  return { keystore: existsSync(join(keystoreDir, SEALED_KEYSTORE_FILE)), stateRows, imported: readMarker(keystoreDir) };
}

/**
 * Cluster start: an enclave whose state store has no keystore must not create one while its data directory
 * holds embedded state (a keystore, or state rows), or holds the marker of an import into another store:
 * the new keystore could not open the sealed datasets, and a hand-copied one would start every budget at zero.
 */
export async function assertNoEmbeddedStateLeft(keystoreDir: string, keystore: KeystoreStorage, schema: string = DEFAULT_ENCLAVE_SCHEMA): Promise<void> {
  if (await keystore.exists()) return;
  const found = embeddedStateIn(keystoreDir);
  const command = `shuyu server import-enclave-state --data-dir ${dataDirOf(keystoreDir)} --enclave-database-url "$SHUYU_ENCLAVE_DATABASE_URL" --schema ${schema}`;
  if (found.imported) {
    throw new DomainError(
      'keystore-not-imported',
      `the enclave state store (schema ${schema}) has no keystore, and this data directory's enclave state was imported into ${found.imported.database} schema ${found.imported.schema} on ${found.imported.importedAt}: set SHUYU_ENCLAVE_DATABASE_URL and SHUYU_ENCLAVE_DATABASE_SCHEMA to where it went`,
      { schema, importedInto: found.imported.schema },
    );
  }
  if (found.keystore || found.stateRows !== 0) {
    throw new DomainError(
      'keystore-not-imported',
      `the enclave state store (schema ${schema}) has no keystore, but ${keystoreDir} holds embedded enclave state (${found.keystore ? 'a sealed keystore' : 'no keystore'}, ${found.stateRows} state rows): ` +
        `a new keystore would not open the sealed datasets, and the privacy ledger would start empty. Stop the servers and import it first: ${command}`,
      { schema, keystore: found.keystore, stateRows: found.stateRows },
    );
  }
}

/** Embedded start: a data directory whose state was imported into PostgreSQL is not used again in place. */
export function assertNotImportedAway(keystoreDir: string): void {
  const marker = readMarker(keystoreDir);
  if (!marker) return;
  throw new DomainError(
    'enclave-state-imported',
    `this data directory's enclave state was imported into ${marker.database} schema ${marker.schema} on ${marker.importedAt}: start with SHUYU_ENCLAVE_DATABASE_URL (and SHUYU_ENCLAVE_DATABASE_SCHEMA=${marker.schema}); the files left in ${keystoreDir} are a record, not a deployment`,
    { schema: marker.schema },
  );
}

interface TableShape {
  name: string;
  columns: string[];
}

async function sqliteTables(s: Store): Promise<TableShape[]> {
  const names = await s.all<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`);
  const out: TableShape[] = [];
  for (const { name } of names) out.push({ name, columns: (await s.all<{ name: string }>('SELECT name FROM pragma_table_info(?) ORDER BY cid', name)).map((c) => c.name) });
  return out;
}

async function postgresTables(s: Store, schema: string): Promise<TableShape[]> {
  const cols = await s.all<{ t: string; c: string }>(
    `SELECT c.table_name AS t, c.column_name AS c FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
      WHERE c.table_schema = ? ORDER BY c.table_name, c.ordinal_position`,
    schema,
  );
  const out = new Map<string, string[]>();
  for (const r of cols) (out.get(r.t) ?? out.set(r.t, []).get(r.t)!).push(r.c);
  return [...out].map(([name, columns]) => ({ name, columns }));
}

/** The tables to copy: the same names and columns on both sides, or a refusal naming the difference. */
function sameTables(source: TableShape[], target: TableShape[]): TableShape[] {
  const shape = (ts: TableShape[]): Map<string, string> => new Map(ts.map((t) => [t.name, [...t.columns].sort().join(',')]));
  const a = shape(source);
  const b = shape(target);
  const differ = [...new Set([...a.keys(), ...b.keys()])].filter((n) => a.get(n) !== b.get(n)).sort();
  if (differ.length > 0) {
    refuse('tables-differ', `the embedded state's tables and the target schema's differ (${differ.join(', ')}): both must be at the same migration, nothing was copied`, { tables: differ });
  }
  return source.filter((t) => !NOT_COPIED.has(t.name));
}

/**
 * Copies an embedded deployment's enclave state into the PostgreSQL schema: the keystore files byte for byte
 * (still sealed under the master secret) and every state table's rows, in one transaction, refused when the
 * target holds a keystore or any state row. Then marks the data directory (see above). Servers must be stopped.
 */
export async function importEmbeddedState(o: { keystoreDir: string; url: string; schema?: string }): Promise<ImportReport> {
  const schema = o.schema ?? DEFAULT_ENCLAVE_SCHEMA;
  const dir = o.keystoreDir;
  const marker = readMarker(dir);
  if (marker) refuse('already-imported', `this data directory's enclave state was already imported into ${marker.database} schema ${marker.schema} on ${marker.importedAt}`);
  const files = KEYSTORE_FILES.map((name) => ({ name, path: join(dir, name) }));
  const missing = files.filter((f) => !existsSync(f.path)).map((f) => f.name);
  if (missing.length > 0) refuse('no-keystore', `no complete enclave keystore in ${dir} (missing ${missing.join(', ')}): nothing to import`, { missing });
  const keystore = files.map((f) => ({ name: f.name, bytes: readFileSync(f.path) }));
  const stateFile = join(dir, EMBEDDED_STATE_FILE);

  // opening migrates both sides to this code's migration set (the embedded file in place, as a start would)
  const source = await openEnclaveState({ location: stateFile });
  let rows: Record<string, number>;
  try {
    const target = await openEnclaveState({ location: o.url, schema, poolSize: 1 });
    try {
      const migrations = async (s: Store): Promise<string> => (await s.all<{ name: string }>('SELECT name FROM enclave_migrations ORDER BY name')).map((m) => m.name).join(',');
      const [ma, mb] = [await migrations(source.store), await migrations(target.store)];
      if (ma !== mb) refuse('tables-differ', `the embedded state is at migrations [${ma}], the target schema at [${mb}]: run both with the same release`);
      const tables = sameTables(await sqliteTables(source.store), await postgresTables(target.store, schema));
      if (await source.store.get('SELECT 1 AS one FROM enclave_keystore')) refuse('keystore-rows', 'the embedded state file holds keystore rows: an embedded keystore is files, not rows');
      // BEGIN IMMEDIATE on the file: an embedded enclave left running cannot write while it is copied
      rows = await source.store.transaction(
        () =>
          target.store
            .transaction(() => copy(source.store, target.store, schema, tables, keystore))
            .catch((e: unknown) => (isUniqueViolation(e) ? refuse('target-not-empty', `the schema ${schema} received a keystore or state meanwhile: nothing was copied`) : Promise.reject(e))),
        { lock: 'shuyu:enclave-import' },
      );
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }

  // committed: mark the directory first, then rename, so no crash leaves files an embedded start would use
  const renamed = [SEALED_KEYSTORE_FILE, EMBEDDED_STATE_FILE, `${EMBEDDED_STATE_FILE}-wal`, `${EMBEDDED_STATE_FILE}-shm`].filter((f) => existsSync(join(dir, f)));
  const record: ImportMarker = {
    format: 'shuyu.enclave-state-imported.v1',
    importedAt: new Date().toISOString(),
    database: databaseOf(o.url),
    schema,
    renamed: renamed.map((f) => f + IMPORTED_SUFFIX),
  };
  writeFileSync(join(dir, MARKER_FILE), JSON.stringify(record, null, 1) + '\n', { mode: 0o600 });
  for (const f of renamed) renameSync(join(dir, f), join(dir, f + IMPORTED_SUFFIX));
  return { schema, keystoreFiles: keystore.map((k) => k.name), rows, renamed: record.renamed, marker: join(dir, MARKER_FILE) };
}

async function copy(source: Store, target: Store, schema: string, tables: TableShape[], keystore: { name: string; bytes: Buffer }[]): Promise<Record<string, number>> {
  const sealed = await target.get<{ bytes: Buffer }>('SELECT bytes FROM enclave_keystore WHERE name = ?', SEALED_KEYSTORE_FILE);
  if (sealed && sealed.bytes.equals(keystore.find((k) => k.name === SEALED_KEYSTORE_FILE)!.bytes)) {
    // an import that committed but did not get to mark the directory (or a copy of the directory made before it)
    refuse('target-not-empty', `the schema ${schema} already holds this keystore, byte for byte: it was imported before; nothing was copied. Do not start this directory embedded again`, {
      table: 'enclave_keystore',
      sameKeystore: true,
    });
  }
  for (const t of ['enclave_keystore', ...tables.map((x) => x.name)]) {
    if (await target.get(`SELECT 1 AS one FROM ${quote(t)} LIMIT 1`)) {
      refuse('target-not-empty', `the schema ${schema} already holds ${t === 'enclave_keystore' ? 'a keystore' : `rows of ${t}`}: an import goes into an empty enclave schema only, nothing was copied`, { table: t });
    }
  }
  const at = new Date().toISOString();
  for (const k of keystore) await target.run('INSERT INTO enclave_keystore (name, bytes, created_at) VALUES (?, ?, ?)', k.name, k.bytes, at);
  const rows: Record<string, number> = {};
  for (const t of tables) {
    const cols = t.columns.map(quote).join(', ');
    const one = `(${t.columns.map(() => '?').join(', ')})`;
    let after = -Infinity;
    let n = 0;
    for (;;) {
      const page = await source.all<Record<string, unknown>>(`SELECT rowid AS "_rowid_", ${cols} FROM ${quote(t.name)} WHERE rowid > ? ORDER BY rowid LIMIT ${PAGE}`, after);
      if (page.length === 0) break;
      await target.run(`INSERT INTO ${quote(t.name)} (${cols}) VALUES ${page.map(() => one).join(', ')}`, ...page.flatMap((r) => t.columns.map((c) => r[c] ?? null)));
      after = page[page.length - 1]!._rowid_ as number;
      n += page.length;
    }
    rows[t.name] = n;
    // an identity column continues after the copied ids, as SQLite's AUTOINCREMENT would
    const identities = await target.all<{ c: string }>(`SELECT column_name AS c FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND is_identity = 'YES'`, schema, t.name);
    for (const { c } of identities) {
      await target.get(`SELECT setval(pg_get_serial_sequence(?, ?), (SELECT COALESCE(MAX(${quote(c)}), 0) + 1 FROM ${quote(t.name)}), false) AS v`, `${quote(schema)}.${quote(t.name)}`, c);
    }
  }
  return rows;
}
