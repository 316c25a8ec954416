import { parentPort, Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import initSqlJs from 'sql.js';
import { DomainError } from '../../contracts/errors.js';
import { ChunkDecoder, NULL_SLOT, openCheckedChunk, SubjectNumbers, type EncodedChunk } from './encoded-chunk.js';
import { PersonRowCap, RawTableLoader, SubjectRowBound } from './raw-load.js';
import { PartialMerge } from './partition-merge.js';
import { DATASET_TABLE, ROW_COLUMN } from '../../query/names.js';
import type { RowMapJob, RowMapReply, SandboxJob, SandboxKey, SandboxReply } from './protocol.js';

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
 * Chunk data keys as they arrive by message after the job (the enclave unwraps them while this thread
 * starts and works), each taken once by the one consumer that opens or forwards the chunks in order.
 */
class ChunkKeys {
  private readonly keys = new Map<number, Uint8Array>();
  private wake: (() => void) | null = null;

  add(index: number, key: Uint8Array): void {
    this.keys.get(index)?.fill(0);
    this.keys.set(index, key);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async take(index: number): Promise<Uint8Array> {
    for (;;) {
      const key = this.keys.get(index);
      if (key) {
        this.keys.delete(index);
        return key;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Zero the keys not taken yet. */
  wipe(): void {
    for (const k of this.keys.values()) k.fill(0);
    this.keys.clear();
  }
}

/** This thread's keys: filled by the message handler at the end of this file. */
const chunkKeys = new ChunkKeys();

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

function inThreadSource(job: SandboxJob, withSubjects: boolean): ChunkSource {
  const decoder = new ChunkDecoder(job.chunkColumns, job.columns, withSubjects, job.rowFormat);
  let ci = 0;
  let ms = 0;
  let subjects: Int32Array | undefined;
  return {
    next: async () => {
      if (ci >= job.chunks.length) {
        if (withSubjects && !subjects) subjects = decoder.subjects();
        return null;
      }
      const dataKey = await chunkKeys.take(ci);
      const u0 = performance.now();
      try {
        return decoder.decode({ ...job.chunks[ci]!, dataKey }, ci++);
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
  const n = withSubjects ? 1 : Math.max(1, Math.min(helper.threads ?? 1, job.chunks.length));
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
    const mine = job.chunks.map((_, i) => i).filter((i) => i % n === h);
    const msg: UnsealJob = { kind: 'unseal', chunkColumns: job.chunkColumns, columns: job.columns, withSubjects, chunks: mine.map((i) => job.chunks[i]!), indexes: mine, ...(job.rowFormat ? { rowFormat: job.rowFormat } : {}) };
    // one helper has all the chunks: move their buffers to it instead of copying ~the dataset's size again
    // (this thread does not read them itself then)
    w.postMessage(msg, n === 1 ? [...new Set(msg.chunks.flatMap((c) => [c.box.buffer, c.aad.buffer]))].filter((x): x is ArrayBuffer => x instanceof ArrayBuffer) : []);
  }
  let closed = false;
  // each chunk's key to its helper as it arrives (our copy zeroed once posted: postMessage cloned it)
  void (async () => {
    for (let i = 0; i < job.chunks.length; i++) {
      const key = await chunkKeys.take(i);
      try {
        if (!closed) workers[i % n]!.postMessage({ kind: 'key', index: i, key } satisfies SandboxKey);
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
      if (ci < job.chunks.length) {
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
  chunks: SandboxJob['chunks'];
  rowFormat?: SandboxJob['rowFormat'];
  /** each chunk's position in the dataset (its label in errors) */
  indexes: number[];
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
    for (let ci = 0; ci < job.chunks.length; ci++) {
      while (credit <= 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const dataKey = await chunkKeys.take(job.indexes[ci]!);
      const u0 = performance.now();
      const chunk = decoder.decode({ ...job.chunks[ci]!, dataKey }, job.indexes[ci]!);
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
    chunkKeys.wipe();
  }
}

/**
 * The result of `executedWithoutSubjects` completed with a `__subjects` column when row counts decide k for
 * every group: a group with n < k rows has fewer than k identifiers; one with ⌈(n − rows without an
 * identifier) / (most rows of one identifier)⌉ ≥ k has at least k. Undefined when some group is not decided
 * (or there are no groups): then the exact query runs.
 */
function decideKByBounds(res: { columns: string[]; values: unknown[][] } | undefined, k: number, bound: SubjectRowBound): { columns: string[]; values: unknown[][] } | undefined {
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
  return job.unsealHelper ? helperSource(job, job.unsealHelper, false) : inThreadSource(job, false);
}

async function run(sql: SqlWasm, job: SandboxJob, source: ChunkSource): Promise<SandboxReply> {
  const t0 = performance.now();
  const cols = job.columns;
  let db = new sql.SQL.Database();
  let loader: RawTableLoader | undefined;
  let subjectBound: SubjectRowBound | undefined;
  let cap: PersonRowCap | undefined;
  /** the buyer's query is running over the loaded rows (its errors are about the data) */
  let querying = false;
  try {
    // cache_size: sql.js keeps the database in a file of its in-memory file system behind SQLite's default
    // 2 MB page cache, so every page went through the VFS again and again while loading; a cache of up to
    // three quarters of the heap limit (which still bounds it) keeps the table's pages in SQLite's cache.
    const cacheKiB = Math.max(2000, Math.floor((job.sqliteHeapLimitBytes * 0.75) / 1024));
    // journal in memory: the rows are loaded, queried and dropped in one transaction that is rolled back,
    // never committed — the pages stay in that cache and are never written to the file (no commit cost, no
    // plaintext pages in sql.js's file system, whose memory is freed unzeroed); a fresh database has no pages
    // of its own to journal. cache_spill off: dirty pages are not spilled to that file either when the cache
    // is full — the table then needs more of the SQLite heap, whose hard limit stops the job
    const pragmas = `PRAGMA hard_heap_limit=${Math.floor(job.sqliteHeapLimitBytes)}; PRAGMA cache_size=-${cacheKiB}; PRAGMA cache_spill=OFF; PRAGMA secure_delete=ON; PRAGMA trusted_schema=OFF; PRAGMA journal_mode=MEMORY;`;
    db.exec(pragmas);
    // 16 KiB pages (before the first table): a keyed table grows in the middle of its B-tree, and larger
    // pages mean fewer levels and splits (1M rows loaded keyed: ~2.0–2.7 against 2.6–4.0 CPU-s with 4 KiB)
    db.exec('PRAGMA page_size=16384');
    // the table laid out for the one query it serves: keyed on the GROUP BY columns when there are some
    const clusterPos = (job.clusterBy ?? []).map((name) => cols.findIndex((c) => c.name === name));
    let clustered = clusterPos.length > 0 && clusterPos.every((p) => p >= 0);
    const clusterable = clustered;
    db.exec(createTable(cols, clustered ? clusterPos : []));
    // rows per INSERT statement: 128 (1M rows keyed: ~10 % less load CPU than 32), under SQLite's 32,766 parameters
    const batch = Math.max(1, Math.min(128, Math.floor(30000 / (cols.length + 1))));
    // k on people decided from row counts when it can be (see SubjectRowBound): the identifier must be TEXT
    const boundCol = job.minSubjects !== undefined && job.executedWithoutSubjects ? cols.findIndex((c) => c.role === 'identifier') : -1;
    if (boundCol >= 0 && sqlType(cols[boundCol]!.type) === 'TEXT') subjectBound = new SubjectRowBound();
    // each person's rows beyond the first m (dataset order) are skipped while loading, never inserted;
    // without an identifier every row is a person and nothing is skipped
    const capCol = job.maxRowsPerPerson !== undefined ? cols.findIndex((c) => c.role === 'identifier') : -1;
    cap = capCol >= 0 ? new PersonRowCap(capCol, job.maxRowsPerPerson!) : undefined;
    let capMs = 0;
    const newLoader = (startRow: number): RawTableLoader =>
      new RawTableLoader(sql.SQL, sql.memory, db, DATASET_TABLE, cols.length, batch, subjectBound ? { column: boundCol, rows: subjectBound } : undefined, startRow, clustered ? clusterPos : [], cap);
    loader = newLoader(0);
    let heapPeak = 0;
    let loadMs = 0;
    let waitMs = 0;
    // Partitioned: once a slice holds sliceRows rows and more chunks follow, its partial aggregates are
    // merged and a fresh database takes the next slice (the row cap and the subject bound go on across
    // slices in dataset order, so they are the single database's). One slice: the single database's path.
    const sliceRows = job.partition && job.sliceRows !== undefined ? job.sliceRows : Infinity;
    let merge: PartialMerge | undefined;
    let sliceStart = 0;
    let rowsSoFar = 0;
    // a row cap of one: a group's people are its rows with an identifier (no identifier sets to merge), as long
    // as the cap's notion of one person is SQLite's one value (worker checks PersonRowCap.numbersApart)
    const onePerPerson = job.maxRowsPerPerson === 1 && cap !== undefined;
    const pairsOf = (): { columns: string[]; values: unknown[][] } | undefined => (job.partition!.subjects && !onePerPerson ? db.exec(job.partition!.subjects)[0] : undefined);
    let pending: Awaited<ReturnType<ChunkSource['next']>> = null;
    /** this slice's partials into the merge, and its database replaced by an empty one */
    const nextSlice = (): void => {
      merge ??= new PartialMerge(job.partition!);
      capMs += loader!.capMs;
      loader!.close();
      loader = undefined;
      merge.add(db.exec(job.partition!.partial)[0], pairsOf());
      db.exec(`DROP TABLE ${DATASET_TABLE}`);
      db.exec('ROLLBACK');
      db.close();
      db = new sql.SQL.Database();
      db.exec(pragmas);
      db.exec('PRAGMA page_size=16384');
      clustered = clusterable;
      db.exec(createTable(cols, clustered ? clusterPos : []));
      db.exec('BEGIN');
      sliceStart = rowsSoFar;
      loader = newLoader(sliceStart);
    };
    db.exec('BEGIN');
    for (;;) {
      const w0 = performance.now();
      const chunk = pending ?? (await source.next());
      pending = null;
      const l0 = performance.now();
      waitMs += l0 - w0;
      if (!chunk) break;
      if (clustered && hasNull(chunk, cols.length, clusterPos)) {
        // a key column of a WITHOUT ROWID table is NOT NULL: move the rows loaded so far to a rowid table
        const from = loader.rowsLoaded;
        capMs += loader.capMs;
        loader.close();
        loader = undefined;
        db.exec(toRowidTable(cols));
        clustered = false;
        loader = newLoader(from);
      }
      loader.load(chunk);
      rowsSoFar = loader.rowsLoaded;
      heapPeak = Math.max(heapPeak, getHeapStatistics().used_heap_size);
      loadMs += performance.now() - l0;
      if (rowsSoFar - sliceStart >= sliceRows) {
        const w1 = performance.now();
        pending = await source.next();
        waitMs += performance.now() - w1;
        if (pending) {
          const s0 = performance.now();
          querying = true;
          nextSlice();
          querying = false;
          loadMs += performance.now() - s0;
        }
      }
    }
    const rowsLoaded = loader.rowsLoaded;
    capMs += loader.capMs;
    loader.close();
    loader = undefined;
    const rowsCapped = job.maxRowsPerPerson !== undefined ? (cap?.dropped ?? 0) : undefined;
    cap?.wipe();

    querying = true;
    const q0 = performance.now();
    let res: { columns: string[]; values: unknown[][] } | undefined;
    let subjectsCount: 'exact' | 'bound' = 'exact';
    if (merge) {
      merge.add(db.exec(job.partition!.partial)[0], pairsOf());
      db.exec(`DROP TABLE ${DATASET_TABLE}`);
      db.exec('ROLLBACK');
      db.close();
      db = new sql.SQL.Database();
      if (onePerPerson && cap?.numbersApart) {
        return { ok: false, error: { type: 'sql-partition-unsupported', message: 'identifier values that are not 32-bit integers: people cannot be counted slice by slice' } };
      }
      res = merge.finish(db, onePerPerson);
      // k decided by bounds exactly when the single database would (the same rows, the same bound)
      if (res && subjectBound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined && res.columns.at(-1) === '__subjects') {
        const decided = decideKByBounds({ columns: res.columns.slice(0, -1), values: res.values.map((r) => r.slice(0, -1)) }, job.minSubjects, subjectBound);
        if (decided) {
          res = decided;
          subjectsCount = 'bound';
        }
      }
    } else if (subjectBound?.usable && job.executedWithoutSubjects && job.minSubjects !== undefined) {
      res = decideKByBounds(db.exec(job.executedWithoutSubjects)[0], job.minSubjects, subjectBound);
      if (res) subjectsCount = 'bound';
    }
    subjectBound?.wipe();
    if (!merge) res ??= db.exec(job.executed, job.params ?? [])[0];
    const columns = res?.columns ?? [];
    const rows = (res?.values ?? []) as (string | number | null)[][];
    const queryMs = performance.now() - q0;

    if (!merge) {
      db.exec(`DROP TABLE ${DATASET_TABLE}`); // secure_delete zeroes the freed pages (in the page cache)
      db.exec('ROLLBACK');
    }
    const heap = getHeapStatistics();
    return {
      ok: true,
      columns,
      rows,
      stats: {
        rowsLoaded,
        ...(rowsCapped !== undefined ? { rowsCapped, capMs } : {}),
        unsealMs: source.unsealMs(),
        unsealWaitMs: waitMs,
        unsealThread: job.unsealHelper ? 'helper' : 'worker',
        subjectsCount,
        ...(job.partition && job.sliceRows !== undefined ? { slices: merge?.slices ?? 1 } : {}),
        ...(!job.partition && job.sliceRows !== undefined && rowsLoaded > job.sliceRows ? { partitionFallback: 'the query does not decompose into per-slice aggregates: one database' } : {}),
        tableLayout: clustered ? 'clustered' : 'rowid',
        loadMs,
        queryMs,
        totalMs: performance.now() - t0,
        jsHeapBytes: Math.max(heapPeak, heap.used_heap_size),
        jsHeapPeakMallocedBytes: heap.peak_malloced_memory,
        wasmMemoryBytes: sql.memory.buffer.byteLength,
        envKeys: Object.keys(process.env).length,
      },
    };
  } catch (e) {
    const err = e as { type?: string; message?: string };
    if (typeof err.type !== 'string' && /^(out of memory|database or disk is full)$/.test(String(err.message))) {
      // sql.js reports SQLite's NOMEM/FULL by message only: the table or the query's work hit the heap limit
      return { ok: false, error: { type: 'sql-resource-limit', message: `the query ran out of the SQL sandbox's memory limit (SQLite: ${err.message}); ask for fewer columns or groups, or a smaller dataset version` } };
    }
    // SQLite's text about the buyer's query over the rows is data-dependent: it never leaves the sandbox
    if (querying && typeof err.type !== 'string') return { ok: false, error: { type: 'sql-execution-failed', message: 'the query failed while it ran over the rows' } };
    return { ok: false, error: { type: typeof err.type === 'string' ? err.type : 'sql-execution-failed', message: String(err.message ?? e).slice(0, 300) } };
  } finally {
    loader?.close();
    cap?.wipe();
    source.close();
    db.close();
    chunkKeys.wipe();
  }
}

/** Row → HE partition, dimension codes and subject numbers for the differencing guard; see RowMapJob. No SQL involved. */
function mapRows(job: RowMapJob): RowMapReply {
  const t0 = performance.now();
  let partition = new Int32Array(1 << 12);
  let codes = job.dimensions.map(() => new Uint16Array(1 << 12));
  let n = 0;
  const subjects = new SubjectNumbers();
  const partIndex = new Map(job.partitionKeys.map((k, i) => [k, i]));
  const codeOf = job.dimensions.map((d) => new Map(d.values.map((v, i) => [v, i])));
  const bad = (message: string): RowMapReply => ({ ok: false, error: { type: 'row-chunk-invalid', message } });
  try {
    // the partition of a row follows from its codes of the partitioning dimensions
    const partDims = job.partitionBy.map((p) => {
      const j = job.dimensions.findIndex((d) => d.name === p.name);
      if (j < 0 || job.dimensions[j]!.values.join('\u0000') !== p.values.join('\u0000')) throw new DomainError('row-map-failed', `partition column "${p.name}" is not a dimension of the schema`);
      return j;
    });
    // a numeric dimension is compared as a number in SQL ('03' = 3 = '3'): its declared values must be the
    // numbers' own spelling, so that one SQL value is one declared value
    for (const d of job.dimensions) {
      if (d.numeric && d.values.some((v) => String(Number(v)) !== v)) {
        throw new DomainError('row-map-failed', `numeric dimension "${d.name}" declares a value that is not a number's plain spelling`);
      }
    }
    for (let ci = 0; ci < job.chunks.length; ci++) {
      const plain = openCheckedChunk(job.chunks[ci]!, ci, job.chunkColumns, job.rowFormat);
      const dimPos = job.dimensions.map((d) => plain.columns.indexOf(d.name));
      const idPos = job.identifier === null ? -1 : plain.columns.indexOf(job.identifier);
      const rowCodes = new Int32Array(dimPos.length);
      for (const r of plain.rows) {
        if (!Array.isArray(r) || r.length !== job.chunkColumns.length) return bad(`chunk ${ci}: a row has the wrong width`);
        for (let j = 0; j < dimPos.length; j++) {
          const raw = r[dimPos[j]!];
          // a numeric dimension's value may be sealed as a number: its plain spelling is the declared value
          const code = codeOf[j]!.get(typeof raw === 'number' ? String(raw) : (raw as string));
          // every dimension value is one of the declared ones: the guard reasons on the declared domain
          if (code === undefined) return bad(`chunk ${ci}: a row's ${job.dimensions[j]!.name} is not one of its declared values`);
          rowCodes[j] = code;
        }
        const p = partIndex.get(partDims.map((j) => rowCodes[j]).join(','));
        if (p === undefined) return bad(`chunk ${ci}: a row falls in no partition of the bundle's HE layout`);
        if (n === partition.length) {
          const grow = <T extends Int32Array | Uint16Array>(a: T): T => {
            const b = new (a.constructor as new (n: number) => T)(a.length * 2);
            b.set(a);
            return b;
          };
          partition = grow(partition);
          codes = codes.map(grow);
        }
        partition[n] = p;
        for (let j = 0; j < dimPos.length; j++) codes[j]![n] = rowCodes[j]!;
        n++;
        // identifiers as the SQL table stores them (TEXT): a 32-bit integer is its decimal text, as the
        // sandbox's per-person row cap reads it, so both cap the same person's rows
        if (idPos >= 0) {
          const id = r[idPos];
          subjects.add(typeof id === 'number' ? (id === (id | 0) ? String(id) : `\uffff${String(id)}`) : id, n);
        }
      }
      plain.rows.length = 0;
    }
    const subjectNumbers = subjects.take();
    return {
      ok: true,
      map: {
        partition: partition.slice(0, n),
        ...(job.identifier !== null ? { subjects: subjectNumbers } : {}),
        dimensions: job.dimensions.map((d, j) => ({ name: d.name, codes: codes[j]!.slice(0, n) })),
      },
      stats: { rows: n, totalMs: performance.now() - t0 },
    };
  } catch (e) {
    const err = e as { type?: string; message?: string };
    return { ok: false, error: { type: typeof err.type === 'string' ? err.type : 'row-map-failed', message: String(err.message ?? e).slice(0, 300) } };
  } finally {
    for (const ch of job.chunks) ch.dataKey.fill(0);
  }
}
// the first message is the job; after it come chunk keys (SandboxKey) and, in an unseal helper, the loader's acks
let jobSeen = false;
parentPort!.on('message', (m: SandboxJob | RowMapJob | UnsealJob | SandboxKey | 'ack') => {
  if (!jobSeen) {
    jobSeen = true;
    void handleJob(m as SandboxJob | RowMapJob | UnsealJob);
  } else if (m === 'ack') onAck?.();
  else if (typeof m === 'object' && m !== null && 'kind' in m && m.kind === 'key' && m.key instanceof Uint8Array && Number.isInteger(m.index)) chunkKeys.add(m.index, m.key);
});

async function handleJob(job: SandboxJob | RowMapJob | UnsealJob): Promise<void> {
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
    chunkKeys.wipe();
    parentPort!.postMessage({ ok: false, error: { type: 'sql-sandbox-failed', message: `sql.js did not start: ${String((e as Error)?.message ?? e).slice(0, 200)}` } } satisfies SandboxReply);
    return;
  }
  const reply = await run(sql, sqlJob, source);
  parentPort!.postMessage(reply);
}
