import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { DomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { RowChunkFormat, SealedRowChunk } from '../../formats/row-chunk.js';
import { sm2Decrypt } from '../../crypto/index.js';
import type { SqlPlan } from '../../query/validate.js';
import { SANDBOX_FEED_WINDOW, type MergeSharesJob, type RowMap, type RowMapJob, type RowMapReply, type SandboxChunk, type SandboxJob, type SandboxReply, type SandboxStats } from './protocol.js';
import type { PartialState } from './partition-merge.js';

export type { RowMap, SandboxStats } from './protocol.js';

export interface SandboxLimits {
  /** V8 old-generation heap of the worker (JS objects: decoded chunks, result rows) */
  maxOldGenerationSizeMb: number;
  /** SQLite's own allocations inside sql.js (PRAGMA hard_heap_limit) */
  maxSqliteHeapMb: number;
  /** wall time before the worker is terminated */
  timeoutMs: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { maxOldGenerationSizeMb: 1024, maxSqliteHeapMb: 1024, timeoutMs: 120_000 };

/** A dataset's sealed row chunks read one at a time (from the blob store: row-chunks.ts streamRowChunks), in order. */
export interface SealedChunkStream {
  count: number;
  /** the rows of all chunks together, when the manifest says them (it bounds the people a run may meet) */
  rows?: number;
  read(index: number): Promise<{ sealed: SealedRowChunk; aad: Uint8Array }>;
}

/** Sealed row chunks in memory, or read as the sandbox goes (then at most a few are held at once). */
export type SealedChunks = { sealed: SealedRowChunk; aad: Uint8Array }[] | SealedChunkStream;

const streamOf = (chunks: SealedChunks): SealedChunkStream => (Array.isArray(chunks) ? { count: chunks.length, read: (i) => Promise.resolve(chunks[i]!) } : chunks);

export interface SandboxInput {
  schema: DatasetSchema;
  chunks: SealedChunks;
  /** the row chunk format the bundle's manifest says (rows.chunkFormat ?? 1); absent: each chunk's own */
  rowFormat?: RowChunkFormat;
  unwrapPrivateKey: Uint8Array;
  plan: SqlPlan;
  /** values bound to `?` in the plan's executed query (enclave-built queries only) */
  params?: (string | number | null)[];
  /** a lookup by identifier (enclave-built, with params): only rows whose `column` is stored as `text` are loaded */
  lookup?: { column: string; text: string };
  /** columns to load (default: all); the identifier is added when rows are capped per person */
  columns?: string[];
  /**
   * The output gate's minimum group size k: lets the sandbox skip counting distinct identifiers when row
   * counts already decide the k test (SandboxJob.minSubjects). Without it the count is always exact.
   */
  minGroupSize?: number;
  /** helper threads that open chunks while the worker loads (default 1, with slice threads one per two; 0: the worker opens them itself) */
  unsealThreads?: number;
  /**
   * Keep at most this many rows per identifier value (the first ones in dataset order; the others are
   * never loaded), for exact and DP releases alike; the identifier column is loaded for it. Without an
   * identifier every row is a person: nothing is dropped.
   */
  maxRowsPerPerson?: number;
  /**
   * 'grouped' (default): a grouped plan's table is keyed on its GROUP BY columns (SandboxJob.clusterBy);
   * 'rowid': always a rowid table (tests compare the two layouts)
   */
  tableLayout?: 'grouped' | 'rowid';
  /**
   * Rows per slice of a partitioned run (SandboxJob.partition): SQLite's memory then follows this, not the
   * dataset's size. Default: SHUYU_SANDBOX_SLICE_ROWS, else DEFAULT_SLICE_ROWS; 0 turns slicing off.
   */
  sliceRows?: number;
  /**
   * Slice threads of a partitioned run: slices loaded and queried in this many threads at once, each with
   * its own SQLite heap limit (memory: the limit times the threads). Default: SHUYU_SANDBOX_THREADS, else
   * DEFAULT_SANDBOX_THREADS; 1: the slices one after another in the worker.
   */
  threads?: number;
  /**
   * The people one pass of a partitioned run keeps state for (row cap, identifier sets): a dataset with more
   * rows than this is read in ⌈rows / this⌉ passes, each over the people whose identifier hashes to it
   * (SandboxJob.personPasses). Default: SHUYU_SANDBOX_PEOPLE_PER_PASS, else DEFAULT_PEOPLE_PER_PASS.
   */
  peoplePerPass?: number;
  /** the dataset's row count when `chunks` is an array (a stream says its own) */
  rows?: number;
  limits?: Partial<SandboxLimits>;
  /** a share of a run split across enclaves: these person passes of `of` (runSqlShare) */
  share?: { passes: number[]; of: number };
}

/**
 * People per pass: the row cap's table costs ~50–70 bytes a person with short identifiers (their bytes, hash
 * slots, counts), so a pass holds about 1 GiB of it at most; beyond, another pass over the chunks (each
 * opened once more: time traded for memory).
 */
export const DEFAULT_PEOPLE_PER_PASS = 16_000_000;

/** The people per pass in force: the caller's (at least 1), else the environment's (at least 100,000), else the default. */
export function peoplePerPassOf(input: { peoplePerPass?: number }): number {
  if (input.peoplePerPass !== undefined) return Math.max(1, Math.floor(input.peoplePerPass));
  const env = Number(process.env.SHUYU_SANDBOX_PEOPLE_PER_PASS);
  return Number.isInteger(env) && env > 0 ? Math.max(100_000, env) : DEFAULT_PEOPLE_PER_PASS;
}

/** ~2M rows: a slice's table and query stay well inside the default SQLite heap limit (~91 MiB per 1M rows) */
export const DEFAULT_SLICE_ROWS = 2_000_000;

/** The slice size in force: the caller's, else the environment's, else the default (0: no slicing). */
export function sliceRowsOf(input: { sliceRows?: number }): number {
  const env = Number(process.env.SHUYU_SANDBOX_SLICE_ROWS);
  const n = input.sliceRows ?? (Number.isInteger(env) && env >= 0 && process.env.SHUYU_SANDBOX_SLICE_ROWS ? env : DEFAULT_SLICE_ROWS);
  return Math.max(0, Math.floor(n));
}

/**
 * One slice at a time unless configured: the enclave runs inside the server process in the embedded shape,
 * where its releases, the HE jobs and the HTTP side share the host's cores, and a second slice thread adds
 * a second SQLite heap (the memory limit counts per thread). A dedicated enclave host sets SHUYU_SANDBOX_THREADS.
 */
export const DEFAULT_SANDBOX_THREADS = 1;

/** The slice threads in force: the caller's, else the environment's, else the default (at least 1, at most 16). */
export function threadsOf(input: { threads?: number }): number {
  const env = Number(process.env.SHUYU_SANDBOX_THREADS);
  const n = input.threads ?? (Number.isInteger(env) && env >= 1 ? env : DEFAULT_SANDBOX_THREADS);
  return Math.max(1, Math.min(16, Math.floor(n)));
}

export interface SandboxOutput {
  columns: string[];
  rows: (string | number | null)[][];
  /**
   * wallMs: from the call (key unwrap included) to the answer; keyUnwrapMs: SM2 unwrap of the chunk keys,
   * overlapped with the worker; sealedChunksHeldPeak: the most chunks read from the input and not yet taken
   * by the worker's loader at once (at most SANDBOX_FEED_WINDOW, whatever the dataset's size)
   */
  stats: SandboxStats & { workerStartMs: number; wallMs: number; keyUnwrapMs: number; rssPeakDeltaBytes: number; sealedChunksHeldPeak: number };
  /** a share's answer (SandboxInput.share): its merged partials, no output rows */
  partial?: PartialState;
}

/**
 * One share of a run split across enclaves: the passes `share.passes` of `share.of` person passes over every
 * chunk, answered as merged partial aggregates (no outputs computed). Shares over disjoint passes cover
 * disjoint people, so mergeSharesInSandbox over all of them gives the one-database answer.
 */
export async function runSqlShare(input: SandboxInput & { share: { passes: number[]; of: number } }): Promise<{ partial: PartialState; stats: SandboxOutput['stats'] }> {
  const out = await runOnce(input);
  if (!out.partial) throw new DomainError('sql-sandbox-failed', 'the share answered no partials');
  return { partial: out.partial, stats: out.stats };
}

/** The shares of one run merged in share order, and the query's outputs computed in a fresh worker. */
export async function mergeSharesInSandbox(input: { plan: SqlPlan; states: PartialState[]; onePerPerson: boolean; limits?: Partial<SandboxLimits> }): Promise<{ columns: string[]; rows: (string | number | null)[][] }> {
  if (!input.plan.partition) throw new DomainError('sql-share-unsupported', 'the query does not decompose into partial aggregates');
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...input.limits };
  const job: MergeSharesJob = {
    kind: 'merge-shares',
    partition: input.plan.partition,
    states: input.states,
    onePerPerson: input.onePerPerson,
    sqliteHeapLimitBytes: limits.maxSqliteHeapMb * 1024 * 1024,
    wasmModule: sqlWasmModule(),
  };
  const reply = await runWorkerJob<SandboxReply>(job, [], limits);
  if (!reply.ok) throw new DomainError(reply.error.type, reply.error.message);
  return { columns: reply.columns, rows: reply.rows };
}

/** SM2-unwrap one chunk's data key in the enclave process (GB/T 32918.4 decryption, C1C3C2). */
function unwrapChunkKey(wrappedKey: Uint8Array, unwrapPrivateKey: Uint8Array, index: number): Uint8Array {
  let key: Uint8Array;
  try {
    key = sm2Decrypt(unwrapPrivateKey, wrappedKey);
  } catch {
    throw new DomainError('row-chunk-invalid', `the key of row chunk ${index} cannot be unwrapped with this enclave key`);
  }
  if (key.length !== 32) throw new DomainError('row-chunk-invalid', `the key of row chunk ${index} has the wrong length`);
  return key;
}

/** Unwrap every chunk's data key; on failure the keys already unwrapped are zeroed. */
function unwrapAll(chunks: { sealed: SealedRowChunk }[], unwrapPrivateKey: Uint8Array): Uint8Array[] {
  const keys: Uint8Array[] = [];
  try {
    for (let i = 0; i < chunks.length; i++) keys.push(unwrapChunkKey(chunks[i]!.sealed.wrappedKey, unwrapPrivateKey, i));
  } catch (e) {
    for (const k of keys) k.fill(0);
    throw e;
  }
  return keys;
}

let bundled: string | undefined;
/**
 * The worker's code: worker.ts and the crypto it imports, bundled by esbuild (by `npm run build`, or once
 * per process under tsx) into one CommonJS script (sql.js stays an external require of its installed file).
 * Starting a worker on this takes ~0.1 s instead of ~0.5 s through tsx's loader, which ran the module hooks
 * on an extra thread and transpiled every import again in each fresh worker. Same source, no second copy.
 */
function workerSource(): string {
  if (bundled !== undefined) return bundled;
  const require = createRequire(import.meta.url);
  const sqlJsPath = require.resolve('sql.js');
  // compiled (dist/): the bundle `npm run build` wrote beside this module; under tsx: the same bundle, made now
  const code = import.meta.url.endsWith('.js')
    ? readFileSync(new URL('./worker.bundle.cjs', import.meta.url), 'utf8')
    : (require('esbuild') as typeof import('esbuild')).buildSync({
        entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
        bundle: true,
        format: 'cjs',
        platform: 'node',
        target: 'node20',
        write: false,
        logLevel: 'silent',
        external: ['sql.js'],
      }).outputFiles[0]!.text;
  // an eval'd worker resolves bare requires from the cwd: point the one external at sql.js's installed file
  const bare = 'require("sql.js")';
  if (code.split(bare).length !== 2) throw new DomainError('sql-sandbox-failed', 'the SQL sandbox worker bundle does not require sql.js exactly once');
  bundled = code.replace(bare, `require(${JSON.stringify(sqlJsPath)})`);
  return bundled;
}

let wasmModule: WebAssembly.Module | undefined;
/** sql.js's wasm compiled once per process; every sandbox worker instantiates this module (no compile, no file read). */
function sqlWasmModule(): WebAssembly.Module {
  if (wasmModule) return wasmModule;
  const require = createRequire(import.meta.url);
  wasmModule = new WebAssembly.Module(readFileSync(require.resolve('sql.js/dist/sql-wasm.wasm')));
  return wasmModule;
}

const workerResourceLimits = (limits: SandboxLimits) => ({ maxOldGenerationSizeMb: limits.maxOldGenerationSizeMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 });

/**
 * Run a checked query over sealed rows in a fresh worker thread with resource limits and a wall-time limit.
 * Only aggregate rows come back.
 */
export async function runSqlInSandbox(input: SandboxInput): Promise<SandboxOutput> {
  try {
    return await runOnce(input);
  } catch (e) {
    // the slices could not count people exactly (see run.ts): the whole run again in one database
    if (!(e instanceof DomainError) || e.type !== 'sql-partition-unsupported') throw e;
    const out = await runOnce({ ...input, sliceRows: 0 });
    return { ...out, stats: { ...out.stats, partitionFallback: e.message } };
  }
}

async function runOnce(input: SandboxInput): Promise<SandboxOutput> {
  const t0 = performance.now();
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...input.limits };
  const stream = streamOf(input.chunks);
  const partitioned = sliceRowsOf(input) > 0 && !input.params && input.plan.partition;
  const sliceThreads = partitioned ? threadsOf(input) : 1;
  const unsealThreads = input.unsealThreads ?? Math.ceil(sliceThreads / 2);
  const columns = input.schema.columns.filter((c) => !input.columns || input.columns.includes(c.name) || (input.maxRowsPerPerson !== undefined && c.role === 'identifier'));
  // state per person (the row cap, k's identifier sets) bounded by configuration: more people than a pass holds, more passes
  const perPerson = columns.some((c) => c.role === 'identifier') && (input.maxRowsPerPerson !== undefined || input.minGroupSize !== undefined);
  const rows = stream.rows ?? input.rows;
  if (input.share && !(partitioned && perPerson && input.share.of > 1)) throw new DomainError('sql-share-unsupported', 'only a partitioned run over identified people can be split into shares');
  const passes = input.share ? input.share.of : partitioned && perPerson && rows !== undefined && Number.isSafeInteger(rows) && rows > 0 ? Math.ceil(rows / peoplePerPassOf(input)) : 1;
  /** the passes this job reads the chunks for: its share's, else all */
  const reads = input.share ? input.share.passes.length : passes;
  const job: SandboxJob = {
    chunkColumns: input.schema.columns.map((c) => c.name),
    columns: columns.map((c) => ({ name: c.name, type: c.type, role: c.role, ...(c.bounds ? { bounds: [c.bounds[0], c.bounds[1]] as [number, number] } : {}) })),
    chunkCount: stream.count,
    ...(passes > 1 ? { personPasses: passes } : {}),
    ...(input.share ? { passList: [...input.share.passes], partialOut: true } : {}),
    ...(input.rowFormat ? { rowFormat: input.rowFormat } : {}),
    executed: input.plan.executed,
    // a share counts its people exactly: bounds on rows per person do not add up across shares
    ...(input.plan.executedWithoutSubjects && input.minGroupSize !== undefined && !input.params && !input.share
      ? { executedWithoutSubjects: input.plan.executedWithoutSubjects, minSubjects: input.minGroupSize }
      : {}),
    ...(input.params ? { params: input.params } : {}),
    ...(input.lookup && columns.some((c) => c.name === input.lookup!.column) ? { lookup: { column: columns.findIndex((c) => c.name === input.lookup!.column), text: input.lookup.text } } : {}),
    ...(input.maxRowsPerPerson !== undefined ? { maxRowsPerPerson: input.maxRowsPerPerson } : {}),
    ...(input.tableLayout !== 'rowid' && input.plan.groupBy.length > 0 ? { clusterBy: [...input.plan.groupBy] } : {}),
    groupCount: input.plan.groupBy.length,
    aggregates: input.plan.aggregates,
    // enclave-built queries with bound values run whole: their plan's partial forms take no parameters
    ...(sliceRowsOf(input) > 0 && !input.params ? { sliceRows: sliceRowsOf(input), ...(input.plan.partition ? { partition: input.plan.partition } : {}) } : {}),
    ...(sliceThreads > 1 ? { sliceThreads: { source: workerSource(), threads: sliceThreads, resourceLimits: workerResourceLimits(limits) } } : {}),
    sqliteHeapLimitBytes: limits.maxSqliteHeapMb * 1024 * 1024,
    wasmModule: sqlWasmModule(),
    // two or more chunks: open chunk i+1 in the worker's helper thread while chunk i is loaded
    // one helper by default: on 2 busy shared cores a second one measured no faster (it only added CPU)
    // with slice threads, one helper per two of them by default: opening a chunk costs about half of loading it
    ...(stream.count * reads > 1 && unsealThreads > 0 ? { unsealHelper: { source: workerSource(), threads: unsealThreads, resourceLimits: workerResourceLimits(limits) } } : {}),
  };
  const rss0 = process.memoryUsage.rss();
  let rssPeak = rss0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 25);
  let startedAt = 0;
  let unwrapMs = 0;
  let held = 0;
  // each chunk is read from the input and its key unwrapped here while the worker starts and works, and
  // sent once the worker has taken all but a few of those sent before (our copy of the key zeroed once
  // posted: postMessage has cloned it); the enclave holds no more sealed chunks than that at once
  // A run split by person reads them once per pass (position i is the dataset's chunk i mod count); each
  // chunk's key is unwrapped once and kept for the run (32 bytes a chunk), zeroed when it ends.
  const kept: (Uint8Array | undefined)[] = [];
  const feedChunks = async (post: (m: SandboxChunk) => void, stopped: () => boolean, taken: Taken): Promise<void> => {
    for (let i = 0; i < stream.count * reads && !stopped(); i++) {
      await taken.atLeast(i + 1 - SANDBOX_FEED_WINDOW);
      if (stopped()) return;
      const ci = i % stream.count;
      const c = await stream.read(ci);
      let key = kept[ci];
      if (!key) {
        const u0 = performance.now();
        key = unwrapChunkKey(c.sealed.wrappedKey, input.unwrapPrivateKey, ci);
        unwrapMs += performance.now() - u0;
        if (stopped()) return void key.fill(0); // the job ended while this was read: nothing will zero it later
        if (reads > 1) kept[ci] = key;
      }
      try {
        post({ kind: 'chunk', index: i, box: c.sealed.box, aad: c.aad, key });
      } finally {
        if (reads === 1) key.fill(0);
      }
      held = Math.max(held, i + 1 - taken.count());
      if (i % 4 === 3) await new Promise<void>((r) => setImmediate(r)); // let the enclave's other work in
    }
  };
  let reply: SandboxReply;
  try {
    reply = await runWorkerJob<SandboxReply>(job, [], limits, () => (startedAt = performance.now()), feedChunks);
  } finally {
    clearInterval(sampler);
    for (const k of kept) k?.fill(0);
  }
  if (!reply.ok) throw new DomainError(reply.error.type, reply.error.message);
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  return {
    ...(reply.partial ? { partial: reply.partial } : {}),
    columns: reply.columns,
    rows: reply.rows,
    stats: {
      ...reply.stats,
      workerStartMs: reply.stats.totalMs > 0 ? performance.now() - startedAt - reply.stats.totalMs : 0,
      wallMs: performance.now() - t0,
      keyUnwrapMs: unwrapMs,
      rssPeakDeltaBytes: rssPeak - rss0,
      sealedChunksHeldPeak: held,
    },
  };
}

export interface RowMapInput {
  schema: DatasetSchema;
  /** the manifest layout's partitionBy and partitions (he/layout.ts planLayout / the sealer) */
  layout: { partitionBy: string[]; partitions: { key: number[] }[] };
  chunks: { sealed: SealedRowChunk; aad: Uint8Array }[];
  /** as SandboxInput.rowFormat */
  rowFormat?: RowChunkFormat;
  unwrapPrivateKey: Uint8Array;
  limits?: Partial<SandboxLimits>;
}

/**
 * The row map of a dataset, computed in a fresh sandbox worker from its sealed row chunks: per row its HE
 * partition, the code of every dimension (a value not declared is refused: row-chunk-invalid) and a subject
 * number — typed arrays of indexes only, never values.
 */
export async function mapRowsInSandbox(input: RowMapInput): Promise<RowMap> {
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...input.limits };
  const keys = unwrapAll(input.chunks, input.unwrapPrivateKey);
  const dims = input.layout.partitionBy.map((name) => {
    const c = input.schema.columns.find((x) => x.name === name);
    if (!c?.values) throw new DomainError('row-map-failed', `partition column "${name}" is not a dimension with declared values`);
    return { name, values: [...c.values] };
  });
  const job: RowMapJob = {
    kind: 'row-map',
    chunkColumns: input.schema.columns.map((c) => c.name),
    chunks: input.chunks.map((c, i) => ({ dataKey: keys[i]!, box: c.sealed.box, aad: c.aad })),
    ...(input.rowFormat ? { rowFormat: input.rowFormat } : {}),
    partitionBy: dims,
    partitionKeys: input.layout.partitions.map((p) => p.key.join(',')),
    identifier: input.schema.columns.find((c) => c.role === 'identifier')?.name ?? null,
    dimensions: input.schema.columns
      .filter((c) => c.role === 'dimension' && c.values)
      .map((c) => ({ name: c.name, values: [...c.values!], ...(c.type === 'int' || c.type.startsWith('decimal') ? { numeric: true } : {}) })),
  };
  const reply = await runWorkerJob<RowMapReply>(job, keys, limits);
  if (!reply.ok) throw new DomainError(reply.error.type, reply.error.message);
  return reply.map;
}

/** The chunks the worker has taken so far (SandboxTaken), and a wait for more (or for the job's end). */
interface Taken {
  count(): number;
  atLeast(n: number): Promise<void>;
}

/**
 * One job in a fresh worker with the resource limits and the wall-time limit; the worker is terminated
 * after its one answer (or on timeout, error, exit, or `feed` failing), and the data keys we hold
 * (`keys`) are zeroed in every case. `feed` posts further messages after the job (the sealed chunks),
 * pacing itself on the chunks the worker says it took (SandboxTaken).
 */
function runWorkerJob<R>(
  job: object,
  keys: Uint8Array[],
  limits: SandboxLimits,
  onCreated?: () => void,
  feed?: (post: (m: SandboxChunk) => void, stopped: () => boolean, taken: Taken) => Promise<void>,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const worker = new Worker(workerSource(), {
      eval: true,
      env: {}, // no master secret, no configuration: the worker sees an empty environment
      stdout: true,
      stderr: true,
      resourceLimits: workerResourceLimits(limits),
    });
    onCreated?.();
    let settled = false;
    let taken = 0;
    let wake: (() => void) | null = null;
    const wakeFeed = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const k of keys) k.fill(0); // the worker zeroes its copies; these are ours
      void worker.terminate();
      wakeFeed();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => reject(new DomainError('sql-timeout', `the SQL sandbox exceeded its ${limits.timeoutMs} ms wall-time limit and was stopped`))),
      limits.timeoutMs,
    );
    // posted now (queued until the worker listens), so that `feed` runs while the worker starts
    worker.postMessage(job);
    const progress: Taken = {
      count: () => taken,
      async atLeast(n) {
        while (taken < n && !settled) await new Promise<void>((r) => (wake = r));
      },
    };
    feed?.((m) => worker.postMessage(m), () => settled, progress).catch((e: unknown) => finish(() => reject(e)));
    worker.on('message', (m: R | { kind: 'taken' }) => {
      if (typeof m === 'object' && m !== null && (m as { kind?: string }).kind === 'taken') {
        taken++;
        wakeFeed();
      } else finish(() => resolve(m as R));
    });
    worker.once('error', (e: Error & { code?: string }) =>
      finish(() =>
        reject(
          e.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new DomainError('sql-resource-limit', 'the SQL sandbox ran out of its memory limit and was stopped')
            : new DomainError('sql-sandbox-failed', `the SQL sandbox failed: ${e.message}`),
        ),
      ),
    );
    worker.once('exit', (code) => finish(() => reject(new DomainError('sql-sandbox-failed', `the SQL sandbox exited (code ${code}) without an answer`))));
  });
}
