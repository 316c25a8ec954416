import initSqlJs, { type Database } from 'sql.js';
import { DomainError } from '../../contracts/errors.js';
import { NULL_SLOT, type EncodedChunk } from './encoded-chunk.js';
import { PersonRowCap, RawTableLoader, SubjectRowBound } from './raw-load.js';
import { PartialMerge } from './partition-merge.js';
import { DATASET_TABLE, ROW_COLUMN } from '../../query/names.js';
import type { PartitionPlan } from '../../query/validate.js';
import type { SandboxJob } from './protocol.js';

/**
 * One database of a sandbox run and the queries over it: sql.js on the enclave's compiled module, the
 * table laid out for the query, loaded and dropped (SliceDb), a slice's partials, the whole or merged
 * query with k decided by bounds where they decide it, and the typed error of a run.
 */

type SqlJs = Awaited<ReturnType<typeof initSqlJs>>;
export interface SqlWasm {
  SQL: SqlJs;
  memory: WebAssembly.Memory;
}

/**
 * sql.js on the wasm module the enclave compiled once (sandbox.ts): instantiating it is all a worker does,
 * and the instance's memory is what the raw loader writes row bytes into.
 */
export async function startSql(module: WebAssembly.Module): Promise<SqlWasm> {
  let memory: WebAssembly.Memory | undefined;
  const SQL = await initSqlJs({
    instantiateWasm(imports, receive) {
      const instance = new WebAssembly.Instance(module, imports);
      memory = Object.values(instance.exports).find((x): x is WebAssembly.Memory => x instanceof WebAssembly.Memory);
      receive(instance);
      return instance.exports;
    },
  });
  if (!memory) throw new Error('the sql.js module exports no memory');
  return { SQL, memory };
}

export function sqlType(type: string): string {
  if (type === 'int') return 'INTEGER';
  if (type.startsWith('decimal')) return 'REAL';
  return 'TEXT';
}

const quote = (name: string): string => `"${name}"`; // names are schema-checked [a-z][a-z0-9_]*

/**
 * The result of `executedWithoutSubjects` completed with a `__subjects` column when row counts decide k for
 * every group: a group with n < k rows has fewer than k identifiers; one with ⌈(n − rows without an
 * identifier) / (most rows of one identifier)⌉ ≥ k has at least k. Undefined when some group is not decided
 * (or there are no groups): then the exact query runs.
 */
export function decideKByBounds(res: { columns: string[]; values: unknown[][] } | undefined, k: number, bound: Pick<SubjectRowBound, 'nullRows' | 'maxRowsPerSubject'>): { columns: string[]; values: unknown[][] } | undefined {
  const rc = res ? res.columns.indexOf('__rows') : -1;
  if (!res || rc < 0 || res.values.length === 0) return undefined;
  const most = bound.maxRowsPerSubject();
  const values: unknown[][] = [];
  for (const r of res.values) {
    const n = Number(r[rc]);
    const atLeast = Math.ceil((n - bound.nullRows) / most);
    if (n < k) values.push([...r, n]);
    else if (atLeast >= k) values.push([...r, atLeast]);
    else return undefined;
  }
  return { columns: [...res.columns, '__subjects'], values };
}

/**
 * The dataset table. With key columns (positions in `cols`): WITHOUT ROWID, keyed (those columns…, __row),
 * so rows are stored in group order and, inside a group, in dataset row order — the order a rowid table's
 * GROUP BY feeds each group's aggregates, so sums come out the same doubles — and the GROUP BY reads
 * them in key order with no sorter.
 */
function createTable(cols: SandboxJob['columns'], key: number[], name = DATASET_TABLE): string {
  const defs = cols.map((c) => `${quote(c.name)} ${sqlType(c.type)}`).join(', ');
  if (key.length === 0) return `CREATE TABLE ${name} (${quote(ROW_COLUMN)} INTEGER PRIMARY KEY, ${defs})`;
  const pk = [...key.map((p) => quote(cols[p]!.name)), quote(ROW_COLUMN)].join(', ');
  return `CREATE TABLE ${name} (${quote(ROW_COLUMN)} INTEGER NOT NULL, ${defs}, PRIMARY KEY (${pk})) WITHOUT ROWID`;
}

/** The clustered table's rows moved into a rowid table of the same name (in the open transaction; secure_delete zeroes the old pages). */
function toRowidTable(cols: SandboxJob['columns']): string {
  const moved = `${DATASET_TABLE}__rowid`;
  return [
    createTable(cols, [], moved),
    `INSERT INTO ${moved} SELECT * FROM ${DATASET_TABLE} ORDER BY ${quote(ROW_COLUMN)}`,
    `DROP TABLE ${DATASET_TABLE}`,
    `ALTER TABLE ${moved} RENAME TO ${DATASET_TABLE}`,
  ].join('; ');
}

/** Whether a row of the chunk has NULL in one of the given loaded columns. */
function hasNull(chunk: EncodedChunk, width: number, positions: number[]): boolean {
  for (let base = 0; base < chunk.len.length; base += width) for (const p of positions) if (chunk.len[base + p] === NULL_SLOT) return true;
  return false;
}

/** The table a slice's database holds: what SliceDb needs of a job. */
export interface TableSpec {
  columns: SandboxJob['columns'];
  clusterBy?: string[];
  sqliteHeapLimitBytes: number;
}

/**
 * One database of a run (the whole run, or one slice of a partitioned one): created with the sandbox's
 * pragmas and the table laid out for the query, loaded chunk by chunk inside one transaction that is never
 * committed, then dropped (secure_delete zeroes the freed pages) and closed.
 */
export class SliceDb {
  readonly db: Database;
  clustered: boolean;
  /** time the loaders' row cap took (see RawTableLoader.capMs) */
  capMs = 0;
  private loader: RawTableLoader | undefined;
  private rows: number;
  private readonly clusterPos: number[];

  constructor(
    private readonly sql: SqlWasm,
    private readonly spec: TableSpec,
    startRow: number,
    private readonly bound?: { column: number; rows: SubjectRowBound },
    private readonly cap?: PersonRowCap,
  ) {
    const cols = spec.columns;
    this.rows = startRow;
    this.clusterPos = (spec.clusterBy ?? []).map((name) => cols.findIndex((c) => c.name === name));
    // the table laid out for the one query it serves: keyed on the GROUP BY columns when there are some
    this.clustered = this.clusterPos.length > 0 && this.clusterPos.every((p) => p >= 0);
    this.db = new sql.SQL.Database();
    try {
      this.db.exec(pragmasOf(spec.sqliteHeapLimitBytes));
      // 16 KiB pages (before the first table): a keyed table grows in the middle of its B-tree, and larger
      // pages mean fewer levels and splits (1M rows loaded keyed: ~2.0–2.7 against 2.6–4.0 CPU-s with 4 KiB)
      this.db.exec('PRAGMA page_size=16384');
      this.db.exec(createTable(cols, this.clustered ? this.clusterPos : []));
      this.db.exec('BEGIN');
      this.loader = this.newLoader(startRow);
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  private newLoader(startRow: number): RawTableLoader {
    const cols = this.spec.columns;
    // rows per INSERT statement: 128 (1M rows keyed: ~10 % less load CPU than 32), under SQLite's 32,766 parameters
    const batch = Math.max(1, Math.min(128, Math.floor(30000 / (cols.length + 1))));
    return new RawTableLoader(this.sql.SQL, this.sql.memory, this.db, DATASET_TABLE, cols.length, batch, this.bound, startRow, this.clustered ? this.clusterPos : [], this.cap);
  }

  /** rows read so far (numbered from the dataset's first row: a slice's rows go on from the previous slice's) */
  get rowsLoaded(): number {
    return this.loader ? this.loader.rowsLoaded : this.rows;
  }

  /** One chunk's rows (`kept`: the rows a cap decided elsewhere keeps, see RawTableLoader.load). */
  load(chunk: EncodedChunk, kept?: Int32Array | null): void {
    if (!this.loader) throw new DomainError('sql-sandbox-failed', 'rows loaded after the load ended');
    if (this.clustered && hasNull(chunk, this.spec.columns.length, this.clusterPos)) {
      // a key column of a WITHOUT ROWID table is NOT NULL: move the rows loaded so far to a rowid table
      const from = this.loader.rowsLoaded;
      this.endLoad();
      this.db.exec(toRowidTable(this.spec.columns));
      this.clustered = false;
      this.loader = this.newLoader(from);
    }
    this.loader.load(chunk, kept);
  }

  /** The loader's statements finalized (before any query; idempotent). */
  endLoad(): void {
    if (!this.loader) return;
    this.capMs += this.loader.capMs;
    this.rows = this.loader.rowsLoaded;
    this.loader.close();
    this.loader = undefined;
  }

  /** The table dropped (its pages zeroed) and the transaction rolled back. */
  drop(): void {
    this.endLoad();
    this.db.exec(`DROP TABLE ${DATASET_TABLE}`);
    this.db.exec('ROLLBACK');
  }

  close(): void {
    this.endLoad();
    this.db.close();
  }
}

/**
 * cache_size: sql.js keeps the database in a file of its in-memory file system behind SQLite's default
 * 2 MB page cache, so every page went through the VFS again and again while loading; a cache of up to
 * three quarters of the heap limit (which still bounds it) keeps the table's pages in SQLite's cache.
 * journal in memory: the rows are loaded, queried and dropped in one transaction that is rolled back,
 * never committed — the pages stay in that cache and are never written to the file (no commit cost, no
 * plaintext pages in sql.js's file system, whose memory is freed unzeroed); a fresh database has no pages
 * of its own to journal. cache_spill off: dirty pages are not spilled to that file either when the cache
 * is full — the table then needs more of the SQLite heap, whose hard limit stops the job.
 */
function pragmasOf(sqliteHeapLimitBytes: number): string {
  const cacheKiB = Math.max(2000, Math.floor((sqliteHeapLimitBytes * 0.75) / 1024));
  return `PRAGMA hard_heap_limit=${Math.floor(sqliteHeapLimitBytes)}; PRAGMA cache_size=-${cacheKiB}; PRAGMA cache_spill=OFF; PRAGMA secure_delete=ON; PRAGMA trusted_schema=OFF; PRAGMA journal_mode=MEMORY;`;
}

export type ExecResult = { columns: string[]; values: unknown[][] } | undefined;

/** A slice's partial aggregates and, for k on people, its (group, identifier) pairs (PartitionPlan). */
export function partialOf(db: Database, partition: PartitionPlan, onePerPerson: boolean): { partial: ExecResult; pairs: ExecResult } {
  return { partial: db.exec(partition.partial)[0], pairs: partition.subjects && !onePerPerson ? db.exec(partition.subjects)[0] : undefined };
}

/** What the k test by bounds needs of the dataset's SubjectRowBound (a plain copy crosses threads). */
export type BoundSummary = Pick<SubjectRowBound, 'nullRows' | 'maxRowsPerSubject' | 'usable'>;

/** The query over one database holding every row: k decided by row-count bounds when they decide it, else `executed`. */
export function wholeQuery(db: Database, job: Pick<SandboxJob, 'executed' | 'executedWithoutSubjects' | 'minSubjects' | 'params'>, bound: BoundSummary | undefined): { res: ExecResult; subjectsCount: 'exact' | 'bound' } {
  if (bound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined) {
    const res = decideKByBounds(db.exec(job.executedWithoutSubjects)[0], job.minSubjects, bound);
    if (res) return { res, subjectsCount: 'bound' };
  }
  return { res: db.exec(job.executed, job.params ?? [])[0], subjectsCount: 'exact' };
}

/** The merged outputs, k decided by bounds exactly when the single database would (the same rows, the same bound). */
export function mergedQuery(merge: PartialMerge, db: Database, job: SandboxJob, onePerPerson: boolean, bound: SubjectRowBound | undefined): { res: ExecResult; subjectsCount: 'exact' | 'bound' } {
  const res = merge.finish(db, onePerPerson);
  if (res && bound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined && res.columns.at(-1) === '__subjects') {
    const decided = decideKByBounds({ columns: res.columns.slice(0, -1), values: res.values.map((r) => r.slice(0, -1)) }, job.minSubjects, bound);
    if (decided) return { res: decided, subjectsCount: 'bound' };
  }
  return { res, subjectsCount: 'exact' };
}

/** The reply for an error of a run (or of a slice thread): typed, and never SQLite's text about the rows. */
export function errorOf(e: unknown, querying: boolean): { type: string; message: string } {
  const err = e as { type?: string; message?: string };
  if (typeof err.type !== 'string' && /^(out of memory|database or disk is full)$/.test(String(err.message))) {
    // sql.js reports SQLite's NOMEM/FULL by message only: the table or the query's work hit the heap limit
    return { type: 'sql-resource-limit', message: `the query ran out of the SQL sandbox's memory limit (SQLite: ${err.message}); ask for fewer columns or groups, or a smaller dataset version` };
  }
  // SQLite's text about the buyer's query over the rows is data-dependent: it never leaves the sandbox
  if (querying && typeof err.type !== 'string') return { type: 'sql-execution-failed', message: 'the query failed while it ran over the rows' };
  return { type: typeof err.type === 'string' ? err.type : 'sql-execution-failed', message: String(err.message ?? e).slice(0, 300) };
}
