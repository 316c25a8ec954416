import { parentPort, Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import initSqlJs, { type Database } from 'sql.js';
import { DomainError } from '../../contracts/errors.js';
import { ChunkDecoder, NULL_SLOT, type EncodedChunk } from './encoded-chunk.js';
import { keptRows, lookupRows, PersonPass, PersonRowCap, RawTableLoader, SubjectRowBound } from './raw-load.js';
import { PartialMerge } from './partition-merge.js';
import { mapRows } from './row-map-job.js';
import { DATASET_TABLE, ROW_COLUMN } from '../../query/names.js';
import type { PartitionPlan } from '../../query/validate.js';
import type { RowMapJob, SandboxChunk, SandboxJob, SandboxReply, SandboxStats, SandboxTaken } from './protocol.js';

/**
 * The SQL sandbox worker: started for ONE job, then terminated. It receives everything by message (sealed
 * chunks, the unwrap key, the checked query) and answers only aggregate rows; a row-map job answers each
 * row's partition, dimension codes and subject number for the differencing defence (never values).
 * It is given an empty environment (no master secret) and no handles; see docs/privacy.md for what a
 * worker thread does and does not isolate.
 */

// No top-level await: the sandbox runs this file as one CommonJS bundle (see sandbox.ts workerSource).
type SqlJs = Awaited<ReturnType<typeof initSqlJs>>;
interface SqlWasm {
  SQL: SqlJs;
  memory: WebAssembly.Memory;
}

/**
 * sql.js on the wasm module the enclave compiled once (sandbox.ts): instantiating it is all a worker does,
 * and the instance's memory is what the raw loader writes row bytes into.
 */
async function startSql(module: WebAssembly.Module): Promise<SqlWasm> {
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

function sqlType(type: string): string {
  if (type === 'int') return 'INTEGER';
  if (type.startsWith('decimal')) return 'REAL';
  return 'TEXT';
}

const quote = (name: string): string => `"${name}"`; // names are schema-checked [a-z][a-z0-9_]*

/**
 * Sealed chunks with their data keys as they arrive by message after the job (the enclave reads and
 * unwraps them while this thread starts and works, a few ahead of the loader), each taken once by the one
 * consumer that opens or forwards the chunks in order.
 */
class ChunkFeed {
  private readonly chunks = new Map<number, SealedChunkIn>();
  private wake: (() => void) | null = null;

  add(index: number, chunk: SealedChunkIn): void {
    this.chunks.get(index)?.key.fill(0);
    this.chunks.set(index, chunk);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async take(index: number): Promise<SealedChunkIn> {
    for (;;) {
      const chunk = this.chunks.get(index);
      if (chunk) {
        this.chunks.delete(index);
        return chunk;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Zero the keys of the chunks not taken yet. */
  wipe(): void {
    for (const c of this.chunks.values()) c.key.fill(0);
    this.chunks.clear();
  }
}

type SealedChunkIn = Omit<SandboxChunk, 'kind' | 'index'>;

/** This thread's chunks: filled by the message handler at the end of this file. */
const chunkFeed = new ChunkFeed();

/** Where the loader gets its chunks from: the unseal helper thread, or this thread. */
interface ChunkSource {
  /** the next chunk in order, or null after the last */
  next(): Promise<EncodedChunk | null>;
  /** subject numbers of every row (after the last chunk), when asked for */
  subjects(): Int32Array | undefined;
  /** CPU-side time spent opening and checking chunks (in whichever thread did it) */
  unsealMs(): number;
  close(): void;
}

/** Chunks the helper may have decoded ahead of the loader (bounds the plaintext held at once). */
const HELPER_WINDOW = 3;

/** The chunks a job reads: the dataset's, once per person pass (SandboxJob.personPasses). */
const chunksRead = (job: SandboxJob): number => job.chunkCount * (job.personPasses ?? 1);

function inThreadSource(job: SandboxJob, withSubjects: boolean): ChunkSource {
  const decoder = new ChunkDecoder(job.chunkColumns, job.columns, withSubjects, job.rowFormat);
  let ci = 0;
  let ms = 0;
  let subjects: Int32Array | undefined;
  return {
    next: async () => {
      if (ci >= chunksRead(job)) {
        if (withSubjects && !subjects) subjects = decoder.subjects();
        return null;
      }
      const { box, aad, key } = await chunkFeed.take(ci);
      const u0 = performance.now();
      try {
        return decoder.decode({ box, aad, dataKey: key }, ci++ % job.chunkCount);
      } finally {
        ms += performance.now() - u0;
      }
    },
    subjects: () => subjects,
    unsealMs: () => ms,
    close: () => decoder.wipe(),
  };
}

/**
 * The unseal helpers: one or two more threads started by this sandbox worker, with the same isolation
 * (empty environment, no handles, the same resource limits), that open and check the next chunks while
 * this thread loads the previous one. Chunk i goes to helper i mod n; each receives its chunks with their
 * data keys (zeroed there after use) and answers encoded chunks as transferred buffers. All are terminated
 * with the job. Subject numbering needs every chunk in order, so it is done with one helper.
 */
function helperSource(job: SandboxJob, helper: NonNullable<SandboxJob['unsealHelper']>, withSubjects: boolean): ChunkSource {
  const total = chunksRead(job);
  const n = withSubjects ? 1 : Math.max(1, Math.min(helper.threads ?? 1, total));
  const queues: HelperReply[][] = [];
  const workers: Worker[] = [];
  let wake: (() => void) | null = null;
  let failure: Error | null = null;
  let subjects: Int32Array | undefined;
  let ms = 0;
  let ci = 0;
  let finished = false;
  for (let h = 0; h < n; h++) {
    const queue: HelperReply[] = [];
    queues.push(queue);
    const push = (m: HelperReply): void => {
      queue.push(m);
      wake?.();
    };
    const w = new Worker(helper.source, { eval: true, env: {}, stdout: true, stderr: true, resourceLimits: helper.resourceLimits });
    workers.push(w);
    w.on('message', push);
    w.once('error', (e: Error & { code?: string }) =>
      push({ kind: 'error', error: { type: e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'sql-resource-limit' : 'sql-sandbox-failed', message: `the unseal helper failed: ${e.message}` } }),
    );
    w.once('exit', (code) => push({ kind: 'error', error: { type: 'sql-sandbox-failed', message: `the unseal helper exited (code ${code})` } }));
    const mine = Array.from({ length: total }, (_, i) => i).filter((i) => i % n === h);
    const msg: UnsealJob = { kind: 'unseal', chunkColumns: job.chunkColumns, columns: job.columns, withSubjects, indexes: mine, perPass: job.chunkCount, ...(job.rowFormat ? { rowFormat: job.rowFormat } : {}) };
    w.postMessage(msg);
  }
  let closed = false;
  // each chunk to its helper as it arrives, its buffers moved there (our copy of the key zeroed once posted:
  // postMessage cloned it)
  void (async () => {
    for (let i = 0; i < total; i++) {
      const { box, aad, key } = await chunkFeed.take(i);
      try {
        const buffers = [...new Set([box.buffer, aad.buffer])].filter((x): x is ArrayBuffer => x instanceof ArrayBuffer);
        if (!closed) workers[i % n]!.postMessage({ kind: 'chunk', index: i, box, aad, key } satisfies SandboxChunk, buffers);
      } finally {
        key.fill(0);
      }
    }
  })();
  const take = async (h: number): Promise<HelperReply> => {
    while (queues[h]!.length === 0) await new Promise<void>((r) => (wake = r));
    wake = null;
    return queues[h]!.shift()!;
  };
  const fail = (m: HelperReply): never => {
    failure = m.kind === 'error' ? new DomainError(m.error.type, m.error.message) : new DomainError('sql-sandbox-failed', 'an unseal helper ended early');
    throw failure;
  };
  return {
    async next() {
      if (failure) throw failure;
      if (finished) return null;
      if (ci < total) {
        const h = ci % n;
        const m = await take(h);
        if (m.kind !== 'chunk') return fail(m);
        workers[h]!.postMessage('ack');
        ci++;
        return m.chunk;
      }
      for (let h = 0; h < n; h++) {
        const m = await take(h);
        if (m.kind !== 'done') return fail(m);
        ms += m.unsealMs;
        if (m.subjects) subjects = m.subjects;
      }
      finished = true;
      return null;
    },
    subjects: () => subjects,
    unsealMs: () => ms,
    close: () => {
      closed = true;
      for (const w of workers) void w.terminate();
    },
  };
}

type HelperReply =
  | { kind: 'chunk'; chunk: EncodedChunk }
  | { kind: 'done'; subjects?: Int32Array; unsealMs: number }
  | { kind: 'error'; error: { type: string; message: string } };

interface UnsealJob {
  kind: 'unseal';
  chunkColumns: string[];
  columns: SandboxJob['columns'];
  withSubjects: boolean;
  rowFormat?: SandboxJob['rowFormat'];
  /** the positions in the stream of this helper's chunks (they follow by message, SandboxChunk) */
  indexes: number[];
  /** the dataset's chunks (a stream position modulo this is the chunk's index in the dataset) */
  perPass: number;
}

/** The helper's acks from the loader (one per chunk taken): the message handler at the end of this file calls it. */
let onAck: (() => void) | null = null;

/** The helper's side: decode every chunk in order, at most HELPER_WINDOW ahead of the loader's acks. */
async function unsealAll(job: UnsealJob): Promise<void> {
  const port = parentPort!;
  const decoder = new ChunkDecoder(job.chunkColumns, job.columns, job.withSubjects, job.rowFormat);
  let credit = HELPER_WINDOW;
  let wake: (() => void) | null = null;
  onAck = () => {
    credit++;
    wake?.();
  };
  let ms = 0;
  try {
    for (const index of job.indexes) {
      while (credit <= 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const { box, aad, key } = await chunkFeed.take(index);
      const u0 = performance.now();
      const chunk = decoder.decode({ box, aad, dataKey: key }, index % job.perPass);
      ms += performance.now() - u0;
      credit--;
      port.postMessage({ kind: 'chunk', chunk } satisfies HelperReply, [chunk.len.buffer, chunk.num.buffer, chunk.text.buffer] as ArrayBuffer[]);
    }
    const subjects = job.withSubjects ? decoder.subjects() : undefined;
    port.postMessage({ kind: 'done', unsealMs: ms, ...(subjects ? { subjects } : {}) } satisfies HelperReply, subjects ? [subjects.buffer as ArrayBuffer] : []);
  } catch (e) {
    const err = e as { type?: string; message?: string };
    port.postMessage({ kind: 'error', error: { type: typeof err.type === 'string' ? err.type : 'row-chunk-invalid', message: String(err.message ?? e).slice(0, 300) } } satisfies HelperReply);
  } finally {
    decoder.wipe();
    chunkFeed.wipe();
  }
}

/**
 * The result of `executedWithoutSubjects` completed with a `__subjects` column when row counts decide k for
 * every group: a group with n < k rows has fewer than k identifiers; one with ⌈(n − rows without an
 * identifier) / (most rows of one identifier)⌉ ≥ k has at least k. Undefined when some group is not decided
 * (or there are no groups): then the exact query runs.
 */
function decideKByBounds(res: { columns: string[]; values: unknown[][] } | undefined, k: number, bound: Pick<SubjectRowBound, 'nullRows' | 'maxRowsPerSubject'>): { columns: string[]; values: unknown[][] } | undefined {
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

/** The job's chunk source: started before sql.js so that the unseal helper boots while the wasm instantiates. */
function chunkSource(job: SandboxJob): ChunkSource {
  // subjects are numbered by the row map (admission), not while a query loads
  const source = job.unsealHelper ? helperSource(job, job.unsealHelper, false) : inThreadSource(job, false);
  return {
    ...source,
    // every chunk taken lets the enclave send one more: the sealed chunks in flight stay a few (SandboxTaken)
    next: async () => {
      const chunk = await source.next();
      if (chunk) parentPort!.postMessage({ kind: 'taken' } satisfies SandboxTaken);
      return chunk;
    },
  };
}

/** The table a slice's database holds: what SliceDb needs of a job. */
interface TableSpec {
  columns: SandboxJob['columns'];
  clusterBy?: string[];
  sqliteHeapLimitBytes: number;
}

/**
 * One database of a run (the whole run, or one slice of a partitioned one): created with the sandbox's
 * pragmas and the table laid out for the query, loaded chunk by chunk inside one transaction that is never
 * committed, then dropped (secure_delete zeroes the freed pages) and closed.
 */
class SliceDb {
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

type ExecResult = { columns: string[]; values: unknown[][] } | undefined;

/** A slice's partial aggregates and, for k on people, its (group, identifier) pairs (PartitionPlan). */
function partialOf(db: Database, partition: PartitionPlan, onePerPerson: boolean): { partial: ExecResult; pairs: ExecResult } {
  return { partial: db.exec(partition.partial)[0], pairs: partition.subjects && !onePerPerson ? db.exec(partition.subjects)[0] : undefined };
}

/** What the k test by bounds needs of the dataset's SubjectRowBound (a plain copy crosses threads). */
type BoundSummary = Pick<SubjectRowBound, 'nullRows' | 'maxRowsPerSubject' | 'usable'>;

/** The query over one database holding every row: k decided by row-count bounds when they decide it, else `executed`. */
function wholeQuery(db: Database, job: Pick<SandboxJob, 'executed' | 'executedWithoutSubjects' | 'minSubjects' | 'params'>, bound: BoundSummary | undefined): { res: ExecResult; subjectsCount: 'exact' | 'bound' } {
  if (bound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined) {
    const res = decideKByBounds(db.exec(job.executedWithoutSubjects)[0], job.minSubjects, bound);
    if (res) return { res, subjectsCount: 'bound' };
  }
  return { res: db.exec(job.executed, job.params ?? [])[0], subjectsCount: 'exact' };
}

/** The merged outputs, k decided by bounds exactly when the single database would (the same rows, the same bound). */
function mergedQuery(merge: PartialMerge, db: Database, job: SandboxJob, onePerPerson: boolean, bound: SubjectRowBound | undefined): { res: ExecResult; subjectsCount: 'exact' | 'bound' } {
  const res = merge.finish(db, onePerPerson);
  if (res && bound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined && res.columns.at(-1) === '__subjects') {
    const decided = decideKByBounds({ columns: res.columns.slice(0, -1), values: res.values.map((r) => r.slice(0, -1)) }, job.minSubjects, bound);
    if (decided) return { res: decided, subjectsCount: 'bound' };
  }
  return { res, subjectsCount: 'exact' };
}

/** The reply for an error of a run (or of a slice thread): typed, and never SQLite's text about the rows. */
function errorOf(e: unknown, querying: boolean): { type: string; message: string } {
  const err = e as { type?: string; message?: string };
  if (typeof err.type !== 'string' && /^(out of memory|database or disk is full)$/.test(String(err.message))) {
    // sql.js reports SQLite's NOMEM/FULL by message only: the table or the query's work hit the heap limit
    return { type: 'sql-resource-limit', message: `the query ran out of the SQL sandbox's memory limit (SQLite: ${err.message}); ask for fewer columns or groups, or a smaller dataset version` };
  }
  // SQLite's text about the buyer's query over the rows is data-dependent: it never leaves the sandbox
  if (querying && typeof err.type !== 'string') return { type: 'sql-execution-failed', message: 'the query failed while it ran over the rows' };
  return { type: typeof err.type === 'string' ? err.type : 'sql-execution-failed', message: String(err.message ?? e).slice(0, 300) };
}

/** The identifier's position among the loaded columns when k is decided by row-count bounds (it must be TEXT), else -1. */
function boundColumnOf(job: SandboxJob): number {
  const c = job.minSubjects !== undefined && job.executedWithoutSubjects ? job.columns.findIndex((x) => x.role === 'identifier') : -1;
  return c >= 0 && sqlType(job.columns[c]!.type) === 'TEXT' ? c : -1;
}

/** The per-person row cap of the job (on the identifier; without one every row is a person). */
function capOf(job: SandboxJob): PersonRowCap | undefined {
  const c = job.maxRowsPerPerson !== undefined ? job.columns.findIndex((x) => x.role === 'identifier') : -1;
  return c >= 0 ? new PersonRowCap(c, job.maxRowsPerPerson!) : undefined;
}

/** The job's person pass (pass 0 of SandboxJob.personPasses), or none: one pass over every person. */
function passOf(job: SandboxJob): PersonPass | undefined {
  const passes = job.personPasses ?? 1;
  return passes > 1 && job.partition && job.sliceRows !== undefined && job.columns.some((c) => c.role === 'identifier') ? new PersonPass(0, passes) : undefined;
}

const SPLIT_BY_PERSON_UNSUPPORTED = { type: 'sql-partition-unsupported', message: 'identifier values that are not 32-bit integers: people cannot be counted slice by slice' };

/** The answer of a run: the result's rows, and the stats that do not depend on how its slices were run beside `stats`. */
function answerOf(
  job: SandboxJob,
  source: ChunkSource,
  out: { res: ExecResult; subjectsCount: 'exact' | 'bound' },
  run: { rowsLoaded: number; cap: PersonRowCap | undefined; capMs: number; waitMs: number },
  stats: Omit<SandboxStats, 'rowsLoaded' | 'unsealMs' | 'envKeys' | 'jsHeapPeakMallocedBytes'>,
): SandboxReply {
  const heap = getHeapStatistics();
  return {
    ok: true,
    columns: out.res?.columns ?? [],
    rows: (out.res?.values ?? []) as (string | number | null)[][],
    stats: {
      rowsLoaded: run.rowsLoaded,
      ...(job.maxRowsPerPerson !== undefined ? { rowsCapped: run.cap?.dropped ?? 0, capMs: run.capMs, ...(run.cap ? { personTableBytes: run.cap.bytes() } : {}) } : {}),
      unsealMs: source.unsealMs(),
      unsealWaitMs: run.waitMs,
      unsealThread: job.unsealHelper ? 'helper' : 'worker',
      subjectsCount: out.subjectsCount,
      ...stats,
      jsHeapBytes: Math.max(stats.jsHeapBytes, heap.used_heap_size),
      jsHeapPeakMallocedBytes: heap.peak_malloced_memory,
      envKeys: Object.keys(process.env).length,
    },
  };
}

async function run(sql: SqlWasm, job: SandboxJob, source: ChunkSource): Promise<SandboxReply> {
  if (job.sliceThreads && job.partition && job.sliceRows !== undefined) return runParallel(sql, job, job.sliceThreads, source);
  const t0 = performance.now();
  let slice: SliceDb | undefined;
  let finalDb: Database | undefined;
  let subjectBound: SubjectRowBound | undefined;
  let cap: PersonRowCap | undefined;
  /** the buyer's query is running over the loaded rows (its errors are about the data) */
  let querying = false;
  try {
    // k on people decided from row counts when it can be (see SubjectRowBound): the identifier must be TEXT
    const boundCol = boundColumnOf(job);
    if (boundCol >= 0) subjectBound = new SubjectRowBound();
    // each person's rows beyond the first m (dataset order) are skipped while loading, never inserted;
    // without an identifier every row is a person and nothing is skipped
    cap = capOf(job);
    const boundSpec = subjectBound ? { column: boundCol, rows: subjectBound } : undefined;
    // split by person: the cap and the bound are decided here on each pass's rows (keptRows), not by the loader
    const pass = passOf(job);
    const idCol = job.columns.findIndex((c) => c.role === 'identifier');
    const newSlice = (startRow: number): SliceDb => (pass ? new SliceDb(sql, job, startRow) : new SliceDb(sql, job, startRow, boundSpec, cap));
    // a lookup by identifier (verify, never capped nor sliced) loads only the rows its query can read
    const lookup = job.lookup && !cap && !subjectBound && !job.partition ? new TextEncoder().encode(job.lookup.text) : undefined;
    slice = newSlice(0);
    let capMs = 0;
    let heapPeak = 0;
    let loadMs = 0;
    let waitMs = 0;
    // Partitioned: once a slice holds sliceRows rows and more chunks follow, its partial aggregates are
    // merged and a fresh database takes the next slice (the row cap and the subject bound go on across
    // slices in dataset order, so they are the single database's). One slice: the single database's path.
    // Split by person: every pass starts a slice, and a slice is cut on the rows it holds.
    const sliceRows = job.partition && job.sliceRows !== undefined ? job.sliceRows : Infinity;
    let merge: PartialMerge | undefined = pass ? new PartialMerge(job.partition!) : undefined;
    let sliceStart = 0;
    let sliceHeld = 0;
    let chunksRead = 0;
    // a row cap of one: a group's people are its rows with an identifier (no identifier sets to merge), as long
    // as the cap's notion of one person is SQLite's one value (worker checks PersonRowCap.numbersApart)
    const onePerPerson = job.maxRowsPerPerson === 1 && cap !== undefined;
    /** the slice's partials into the merge, its database dropped (not the run's last: a fresh one follows) */
    const closeSlice = (): void => {
      querying = true;
      merge ??= new PartialMerge(job.partition!);
      slice!.endLoad();
      const p = partialOf(slice!.db, job.partition!, onePerPerson);
      merge.add(p.partial, p.pairs);
      slice!.drop();
      slice!.close();
      capMs += slice!.capMs;
      querying = false;
    };
    let pending: Awaited<ReturnType<ChunkSource['next']>> = null;
    for (;;) {
      const w0 = performance.now();
      const chunk = pending ?? (await source.next());
      pending = null;
      const l0 = performance.now();
      waitMs += l0 - w0;
      if (!chunk) break;
      if (pass && chunksRead > 0 && chunksRead % job.chunkCount === 0) {
        // the next pass: its own people, from the dataset's first row again
        closeSlice();
        merge!.endPass();
        slice = undefined;
        pass.index++;
        cap?.wipe();
        slice = newSlice(0);
        sliceStart = 0;
        sliceHeld = 0;
      }
      chunksRead++;
      if (lookup) slice.load(chunk, lookupRows(chunk, job.columns.length, job.lookup!.column, lookup));
      else if (pass) {
        const kept = keptRows(chunk, job.columns.length, idCol, cap, subjectBound, undefined, pass)!;
        capMs += performance.now() - l0;
        sliceHeld += kept.length;
        slice.load(chunk, kept);
      } else slice.load(chunk);
      heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
      loadMs += performance.now() - l0;
      if (pass) {
        if (sliceHeld >= sliceRows && chunksRead % job.chunkCount !== 0) {
          const s0 = performance.now();
          closeSlice();
          sliceStart = slice.rowsLoaded;
          sliceHeld = 0;
          slice = undefined;
          slice = newSlice(sliceStart);
          loadMs += performance.now() - s0;
        }
      } else if (slice.rowsLoaded - sliceStart >= sliceRows) {
        const w1 = performance.now();
        pending = await source.next();
        waitMs += performance.now() - w1;
        if (pending) {
          // this slice's partials into the merge, and its database replaced by an empty one
          const s0 = performance.now();
          closeSlice();
          sliceStart = slice.rowsLoaded;
          slice = undefined;
          slice = newSlice(sliceStart);
          loadMs += performance.now() - s0;
        }
      }
    }
    slice.endLoad();
    const rowsLoaded = slice.rowsLoaded;
    capMs += slice.capMs;
    const tableLayout = slice.clustered ? 'clustered' : 'rowid';
    cap?.wipe();

    querying = true;
    const q0 = performance.now();
    let out: { res: ExecResult; subjectsCount: 'exact' | 'bound' };
    if (merge) {
      const p = partialOf(slice.db, job.partition!, onePerPerson);
      merge.add(p.partial, p.pairs);
      merge.endPass();
      slice.drop();
      if ((onePerPerson && cap?.numbersApart) || pass?.numbersApart) return { ok: false, error: SPLIT_BY_PERSON_UNSUPPORTED };
      finalDb = new sql.SQL.Database();
      out = mergedQuery(merge, finalDb, job, onePerPerson, subjectBound);
    } else {
      out = wholeQuery(slice.db, job, subjectBound);
      slice.drop(); // secure_delete zeroes the freed pages (in the page cache)
    }
    subjectBound?.wipe();
    return answerOf(job, source, out, { rowsLoaded, cap, capMs, waitMs }, {
      ...(job.partition && job.sliceRows !== undefined ? { slices: merge?.slices ?? 1 } : {}),
      ...(pass ? { personPasses: pass.count } : {}),
      ...(!job.partition && job.sliceRows !== undefined && rowsLoaded > job.sliceRows ? { partitionFallback: 'the query does not decompose into per-slice aggregates: one database' } : {}),
      tableLayout,
      loadMs,
      queryMs: performance.now() - q0,
      totalMs: performance.now() - t0,
      jsHeapBytes: heapPeak,
      wasmMemoryBytes: sql.memory.buffer.byteLength,
    });
  } catch (e) {
    return { ok: false, error: errorOf(e, querying) };
  } finally {
    cap?.wipe();
    subjectBound?.wipe();
    source.close();
    slice?.close();
    finalDb?.close();
    chunkFeed.wipe();
  }
}

/** A slice thread's job: the table, and the queries of its slices. Then SliceMessages, one slice at a time. */
interface SliceJob extends TableSpec {
  kind: 'slice';
  wasmModule: WebAssembly.Module;
  partition: PartitionPlan;
  onePerPerson: boolean;
  executed: string;
  executedWithoutSubjects?: string;
  minSubjects?: number;
}

type SliceMessage =
  | { kind: 'begin'; startRow: number }
  | { kind: 'rows'; chunk: EncodedChunk; kept: Int32Array | null }
  /** whole: this slice holds every row (the run has one slice): the single database's query, with the dataset's bound */
  | { kind: 'end'; whole?: { bound: { nullRows: number; most: number; usable: boolean } | null } };

interface SliceStats {
  loadMs: number;
  queryMs: number;
  tableLayout: 'clustered' | 'rowid';
  wasmMemoryBytes: number;
  jsHeapBytes: number;
}

type SliceReply =
  | { kind: 'done'; partial?: ExecResult; pairs?: ExecResult; whole?: { res: ExecResult; subjectsCount: 'exact' | 'bound' }; stats: SliceStats }
  | { kind: 'error'; error: { type: string; message: string } };

type SliceDone = Extract<SliceReply, { kind: 'done' }>;

/** Messages for this thread after its job, when it is a slice thread (the message handler at the end of this file). */
let sliceInbox: { push(m: SliceMessage): void } | null = null;

/** A slice thread: each slice into a fresh database of this thread's sql.js, its partials (or whole result) answered. */
async function sliceWorker(job: SliceJob): Promise<void> {
  const port = parentPort!;
  const queue: SliceMessage[] = [];
  let wake: (() => void) | null = null;
  sliceInbox = {
    push(m) {
      queue.push(m);
      wake?.();
    },
  };
  const next = async (): Promise<SliceMessage> => {
    while (queue.length === 0) await new Promise<void>((r) => (wake = r));
    wake = null;
    return queue.shift()!;
  };
  let slice: SliceDb | undefined;
  let querying = false;
  try {
    const sql = await startSql(job.wasmModule);
    let loadMs = 0;
    let heapPeak = 0;
    for (;;) {
      const m = await next();
      if (m.kind === 'begin') {
        slice = new SliceDb(sql, job, m.startRow);
        loadMs = 0;
      } else if (m.kind === 'rows') {
        const l0 = performance.now();
        slice!.load(m.chunk, m.kept);
        loadMs += performance.now() - l0;
        heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
      } else {
        slice!.endLoad();
        querying = true;
        const q0 = performance.now();
        const b = m.whole?.bound;
        const answer = m.whole
          ? { whole: wholeQuery(slice!.db, job, b ? { nullRows: b.nullRows, usable: b.usable, maxRowsPerSubject: () => b.most } : undefined) }
          : partialOf(slice!.db, job.partition, job.onePerPerson);
        const tableLayout = slice!.clustered ? 'clustered' : 'rowid';
        slice!.drop();
        slice!.close();
        slice = undefined;
        querying = false;
        const stats: SliceStats = { loadMs, queryMs: performance.now() - q0, tableLayout, wasmMemoryBytes: sql.memory.buffer.byteLength, jsHeapBytes: heapPeak };
        port.postMessage({ kind: 'done', ...answer, stats } satisfies SliceReply);
      }
    }
  } catch (e) {
    port.postMessage({ kind: 'error', error: errorOf(e, querying) } satisfies SliceReply);
  } finally {
    slice?.close();
  }
}

/**
 * One slice thread seen from the run's thread: the rows of its current slice posted as they come, and the
 * slice's answer awaited. A slice's rows are not paced: the run's thread goes on to the next slice (another
 * thread) while this one still loads, so a thread may queue up to its slice's rows (bounded by the slice
 * size; a thread takes a new slice only once it answered the last). A failure of the thread fails the run.
 */
class SliceThread {
  private readonly worker: Worker;
  private failure: DomainError | null = null;
  private current: { resolve: (d: SliceDone) => void; reject: (e: Error) => void } | null = null;
  /** the slice it is running (its answer not received yet) */
  busy: Promise<SliceDone> | null = null;

  constructor(source: string, resourceLimits: NonNullable<SandboxJob['sliceThreads']>['resourceLimits'], job: SliceJob) {
    this.worker = new Worker(source, { eval: true, env: {}, stdout: true, stderr: true, resourceLimits });
    this.worker.on('message', (m: SliceReply) => {
      if (m.kind === 'done') {
        const c = this.current;
        this.current = null;
        this.busy = null;
        c?.resolve(m);
      } else this.fail(new DomainError(m.error.type, m.error.message));
    });
    this.worker.once('error', (e: Error & { code?: string }) =>
      this.fail(new DomainError(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'sql-resource-limit' : 'sql-sandbox-failed', `a slice thread failed: ${e.message}`)),
    );
    this.worker.once('exit', (code) => this.fail(new DomainError('sql-sandbox-failed', `a slice thread exited (code ${code})`)));
    this.worker.postMessage(job);
  }

  private fail(e: DomainError): void {
    this.failure ??= e;
    this.current?.reject(this.failure);
    this.current = null;
  }

  /** A new slice whose rows start after dataset row `startRow`; its answer comes after end(). */
  begin(startRow: number): Promise<SliceDone> {
    if (this.failure) throw this.failure;
    const answer = new Promise<SliceDone>((resolve, reject) => (this.current = { resolve, reject }));
    answer.catch(() => undefined); // awaited by the run; a failure is also thrown by the next send()
    this.busy = answer;
    this.worker.postMessage({ kind: 'begin', startRow } satisfies SliceMessage);
    return answer;
  }

  send(chunk: EncodedChunk, kept: Int32Array | null): void {
    if (this.failure) throw this.failure;
    const buffers = [chunk.len.buffer, chunk.num.buffer, chunk.text.buffer, ...(kept ? [kept.buffer] : [])] as ArrayBuffer[];
    this.worker.postMessage({ kind: 'rows', chunk, kept } satisfies SliceMessage, [...new Set(buffers)]);
  }

  end(whole?: { bound: { nullRows: number; most: number; usable: boolean } | null }): void {
    this.worker.postMessage({ kind: 'end', ...(whole ? { whole } : {}) } satisfies SliceMessage);
  }

  terminate(): void {
    void this.worker.terminate();
  }
}

/**
 * A partitioned run over several slice threads at once (SandboxJob.sliceThreads). This thread reads the
 * opened chunks in dataset order, decides the per-person row cap and counts the subject bound on them (both
 * the dataset's, in order, as in one database), cuts the slices where the one-thread run cuts them, and
 * posts each slice's rows to a free slice thread, each loading its slice into a fresh database of its own
 * sql.js (memory bounded by the slice size). The partials are merged in slice order, so the result is the
 * one-thread run's to the last bit; a run of one slice answers the single database's query.
 */
async function runParallel(sql: SqlWasm, job: SandboxJob, threads: NonNullable<SandboxJob['sliceThreads']>, source: ChunkSource): Promise<SandboxReply> {
  const t0 = performance.now();
  const cols = job.columns;
  const partition = job.partition!;
  const sliceRows = job.sliceRows!;
  const cap = capOf(job);
  const bound = boundColumnOf(job) >= 0 ? new SubjectRowBound() : undefined;
  const pass = passOf(job);
  // the cap, the bound and the passes are all on the identifier
  const idCol = cols.findIndex((c) => c.role === 'identifier');
  const onePerPerson = job.maxRowsPerPerson === 1 && cap !== undefined;
  const sliceJob: SliceJob = {
    kind: 'slice',
    columns: cols,
    ...(job.clusterBy ? { clusterBy: job.clusterBy } : {}),
    sqliteHeapLimitBytes: job.sqliteHeapLimitBytes,
    wasmModule: job.wasmModule,
    partition,
    onePerPerson,
    executed: job.executed,
    ...(job.executedWithoutSubjects !== undefined ? { executedWithoutSubjects: job.executedWithoutSubjects, minSubjects: job.minSubjects } : {}),
  };
  // one thread at once (it starts while the first chunks open), another only when a slice finds all busy
  const newThread = (): SliceThread => new SliceThread(threads.source, threads.resourceLimits, sliceJob);
  const pool = [newThread()];
  const merge = new PartialMerge(partition);
  /** each slice's answer, merged in slice order as soon as the ones before it are */
  const answers: Promise<SliceDone>[] = [];
  const done: (SliceDone | undefined)[] = [];
  let merged = 0;
  const sliceStats: SliceStats[] = [];
  /** the answers that end a person pass (their people are in no later slice) */
  const passEnds = new Set<number>();
  const drain = (): void => {
    while (merged < answers.length && done[merged]) {
      const d = done[merged]!;
      done[merged] = undefined;
      sliceStats.push(d.stats);
      if (!d.whole) merge.add(d.partial, d.pairs);
      if (passEnds.has(merged)) merge.endPass();
      merged++;
    }
  };
  let querying = false;
  let finalDb: Database | undefined;
  try {
    let current: SliceThread | null = null;
    let sliceStart = 0;
    let rowsSoFar = 0;
    let capMs = 0;
    let waitMs = 0;
    /** split by person: rows the current slice holds, and chunks read (every pass reads them all) */
    let sliceHeld = 0;
    let chunksRead = 0;
    /** a free thread (its last slice answered, or a new one while fewer than asked for), the answers so far merged */
    const freeThread = async (): Promise<SliceThread> => {
      for (;;) {
        const free = pool.find((t) => !t.busy);
        if (free) return free;
        if (pool.length < threads.threads) {
          pool.push(newThread());
          continue;
        }
        await Promise.race(pool.map((t) => t.busy!));
        drain();
      }
    };
    const begin = async (startRow: number): Promise<SliceThread> => {
      const t = await freeThread();
      const i = answers.length;
      const a = t.begin(startRow);
      answers.push(a);
      a.then(
        (d) => void (done[i] = d),
        () => undefined,
      );
      sliceStart = startRow;
      sliceHeld = 0;
      return t;
    };
    for (;;) {
      const w0 = performance.now();
      const chunk = await source.next();
      waitMs += performance.now() - w0;
      if (!chunk) break;
      if (pass && chunksRead > 0 && chunksRead % job.chunkCount === 0) {
        // the next pass: its own people, from the dataset's first row again
        passEnds.add(answers.length - 1);
        current!.end();
        current = null;
        pass.index++;
        cap?.wipe();
        rowsSoFar = 0;
      }
      chunksRead++;
      if (current && (pass ? sliceHeld : rowsSoFar - sliceStart) >= sliceRows) {
        current.end();
        current = null;
      }
      current ??= await begin(rowsSoFar);
      const c0 = performance.now();
      const kept = cap || bound || pass ? keptRows(chunk, cols.length, idCol, cap, bound, undefined, pass) : null;
      capMs += performance.now() - c0;
      rowsSoFar += chunk.rows;
      sliceHeld += kept ? kept.length : chunk.rows;
      current.send(chunk, kept);
    }
    current ??= await begin(0); // no rows at all: one empty database answers
    const whole = answers.length === 1 && !pass;
    passEnds.add(answers.length - 1);
    current.end(whole ? { bound: bound ? { nullRows: bound.nullRows, most: bound.maxRowsPerSubject(), usable: bound.usable } : null } : undefined);
    querying = true;
    const last = await answers.at(-1)!;
    await Promise.all(answers);
    drain();
    const q0 = performance.now();
    let out: { res: ExecResult; subjectsCount: 'exact' | 'bound' };
    if (whole) out = last.whole!;
    else {
      if ((onePerPerson && cap?.numbersApart) || pass?.numbersApart) return { ok: false, error: SPLIT_BY_PERSON_UNSUPPORTED };
      finalDb = new sql.SQL.Database();
      out = mergedQuery(merge, finalDb, job, onePerPerson, bound);
    }
    return answerOf(job, source, out, { rowsLoaded: rowsSoFar, cap, capMs, waitMs }, {
      slices: answers.length,
      ...(pass ? { personPasses: pass.count } : {}),
      threads: pool.length,
      tableLayout: last.stats.tableLayout,
      loadMs: sliceStats.reduce((n, s) => n + s.loadMs, 0),
      queryMs: (whole ? last.stats.queryMs : 0) + performance.now() - q0,
      totalMs: performance.now() - t0,
      jsHeapBytes: Math.max(...sliceStats.map((s) => s.jsHeapBytes)),
      // the SQLite memory of one slice thread at its peak: each thread's wasm memory only grows
      wasmMemoryBytes: Math.max(...sliceStats.map((s) => s.wasmMemoryBytes)),
    });
  } catch (e) {
    return { ok: false, error: errorOf(e, querying) };
  } finally {
    for (const t of pool) t.terminate();
    cap?.wipe();
    bound?.wipe();
    source.close();
    finalDb?.close();
    chunkFeed.wipe();
  }
}

// the first message is the job; after it come the sealed chunks (SandboxChunk) and, in an unseal helper, the
// loader's acks (in a slice thread: the slices' messages)
let jobSeen = false;
parentPort!.on('message', (m: SandboxJob | RowMapJob | UnsealJob | SliceJob | SandboxChunk | 'ack') => {
  if (!jobSeen) {
    jobSeen = true;
    void handleJob(m as SandboxJob | RowMapJob | UnsealJob | SliceJob);
  } else if (sliceInbox) sliceInbox.push(m as unknown as SliceMessage);
  else if (m === 'ack') onAck?.();
  else if (typeof m === 'object' && m !== null && 'kind' in m && m.kind === 'chunk' && m.key instanceof Uint8Array && m.box instanceof Uint8Array && m.aad instanceof Uint8Array && Number.isInteger(m.index)) {
    chunkFeed.add(m.index, { box: m.box, aad: m.aad, key: m.key });
  }
});

async function handleJob(job: SandboxJob | RowMapJob | UnsealJob | SliceJob): Promise<void> {
  if ('kind' in job && job.kind === 'slice') {
    await sliceWorker(job);
    return;
  }
  if ('kind' in job && job.kind === 'unseal') {
    await unsealAll(job);
    return;
  }
  if ('kind' in job && job.kind === 'row-map') {
    const reply = mapRows(job);
    const transfer = reply.ok ? [reply.map.partition.buffer, ...(reply.map.subjects ? [reply.map.subjects.buffer] : []), ...(reply.map.dimensions ?? []).map((d) => d.codes.buffer)] : [];
    parentPort!.postMessage(reply, transfer as ArrayBuffer[]);
    return;
  }
  const sqlJob = job as SandboxJob;
  const source = chunkSource(sqlJob);
  let sql: SqlWasm;
  try {
    sql = await startSql(sqlJob.wasmModule);
  } catch (e) {
    source.close();
    chunkFeed.wipe();
    parentPort!.postMessage({ ok: false, error: { type: 'sql-sandbox-failed', message: `sql.js did not start: ${String((e as Error)?.message ?? e).slice(0, 200)}` } } satisfies SandboxReply);
    return;
  }
  const reply = await run(sql, sqlJob, source);
  parentPort!.postMessage(reply);
}
