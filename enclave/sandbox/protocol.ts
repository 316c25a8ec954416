import type { RowChunkFormat } from '../../formats/row-chunk.js';
import type { PartitionPlan } from '../../query/validate.js';
import type { RowMap } from '../privacy/row-map.js';
import type { PartialState } from './partition-merge.js';

/** Messages between the enclave and its SQL sandbox worker (structured clone; no handles). */
export interface SandboxJob {
  /** every column a sealed chunk must carry (the schema) */
  chunkColumns: string[];
  /** the columns loaded into the table: only those the query needs (data minimisation, and faster) */
  columns: { name: string; type: string; role: string; bounds?: [number, number] }[];
  /**
   * The number of sealed row chunks. They follow in SandboxChunk messages, each with its data key unwrapped
   * by the enclave process, a few at a time (SandboxTaken): the worker never holds the enclave's long-term
   * SM2 unwrap key, only this dataset's per-chunk keys, which it zeroes after use.
   */
  chunkCount: number;
  /** the row chunk format the bundle's manifest says (rows.chunkFormat, absent: 1): a chunk in another is refused */
  rowFormat?: RowChunkFormat;
  executed: string;
  /**
   * With `minSubjects` (k): `executed` without `__subjects`, run first; when every group's row count and a
   * bound on rows per identifier decide "≥ k distinct identifiers" (or "< k") the exact count is skipped
   */
  executedWithoutSubjects?: string;
  minSubjects?: number;
  /** values bound to `?` in `executed` (enclave-built queries such as verify; buyer SQL has none) */
  params?: (string | number | null)[];
  /**
   * A lookup by identifier (verify): only rows whose loaded column `column` holds this text are inserted, as
   * the query reads no other (raw-load.ts lookupRows). The table then holds one record's rows.
   */
  lookup?: { column: number; text: string };
  /** rows kept per identifier value (the first in dataset order); the rest are skipped while loading, never inserted */
  maxRowsPerPerson?: number;
  /**
   * Loaded columns (the checked plan's GROUP BY) to lay the table out on: a WITHOUT ROWID table keyed
   * (these…, __row), so the one query this database runs streams its groups instead of sorting every row.
   * Absent: a rowid table. A NULL in one of them (not allowed in such a key) turns the table back into a
   * rowid table before that chunk is loaded.
   */
  clusterBy?: string[];
  groupCount: number;
  aggregates: number;
  /**
   * With `sliceRows`: the query split over slices of about that many rows (each chunk whole), each in a
   * fresh database whose partial aggregates are merged (PartitionPlan). Without a plan (the query does not
   * decompose) every row goes into one database, and the stats say so.
   */
  partition?: PartitionPlan;
  sliceRows?: number;
  /**
   * With `partition` and `sliceRows`, and the identifier loaded: the run goes over the chunks this many
   * times, each pass keeping only the people whose identifier hashes to it (raw-load.ts PersonPass), so the
   * per-person state (row cap, identifier sets) is about 1/passes of the people; the chunks follow in
   * `chunkCount × personPasses` SandboxChunk messages (chunk i of the dataset at every i + k·chunkCount).
   */
  personPasses?: number;
  /**
   * A share of a run split across enclaves (sandbox.ts runSqlShare): only these passes of `personPasses`, in
   * this order (the chunks follow `chunkCount × passList.length` times), answered as the merged partials
   * (`partialOut`) for the coordinating enclave to merge with the other shares'.
   */
  passList?: number[];
  partialOut?: boolean;
  /**
   * With `partition` and `sliceRows`: slices run in this many slice threads at once (this code, these
   * limits, an empty environment; each its own sql.js and SQLite heap limit, so memory is per thread times
   * the threads), fed by this worker in dataset order and merged in slice order. Absent: one after another here.
   */
  sliceThreads?: { source: string; threads: number; resourceLimits: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number; stackSizeMb: number } };
  sqliteHeapLimitBytes: number;
  /** sql.js's wasm, compiled once by the enclave process (each worker only instantiates it) */
  wasmModule: WebAssembly.Module;
  /**
   * When set, the worker opens and checks the chunks in one helper thread of its own (this code, these
   * limits, an empty environment) while it loads the previous chunk; otherwise it does both itself.
   */
  unsealHelper?: { source: string; /** helper threads when subjects need not be numbered (default 1) */ threads?: number; resourceLimits: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number; stackSizeMb: number } };
}

/**
 * Sealed chunk `index` with its data key (after the SandboxJob, in order; the worker forwards it to the
 * chunk's unseal helper). The enclave reads each from its input as the worker goes: it posts chunk i once
 * fewer than SANDBOX_FEED_WINDOW chunks are posted and not yet taken, so neither side holds the dataset.
 */
export interface SandboxChunk {
  kind: 'chunk';
  index: number;
  box: Uint8Array;
  aad: Uint8Array;
  key: Uint8Array;
}

/** Worker → enclave: the loader took one more opened chunk (the enclave may post one more). */
export interface SandboxTaken {
  kind: 'taken';
}

/** Sealed chunks posted to the worker and not yet taken: enough to keep the unseal helpers and slice threads busy. */
export const SANDBOX_FEED_WINDOW = 8;

export interface SandboxStats {
  /** rows read from the chunks (with the DP row cap, the skipped ones included) */
  rowsLoaded: number;
  /** rows the per-person row cap skipped (never inserted) */
  rowsCapped?: number;
  /** the row cap's table at its largest (identifier bytes, hash slots, counts): the per-person state of a pass */
  personTableBytes?: number;
  /** time the row cap took while loading (counting rows per person), inside loadMs */
  capMs?: number;
  /** time spent opening, decoding and checking chunks (SM4-CTR + HMAC-SM3, v2 columns or v1 JSON, per-value checks), in whichever thread did it */
  unsealMs: number;
  /** time the loader waited for the next opened chunk (with a helper thread: the unseal cost not hidden behind loading) */
  unsealWaitMs?: number;
  unsealThread?: 'helper' | 'worker';
  /**
   * 'exact': `__subjects` is COUNT(DISTINCT identifier). 'bound': k was decided by bounds, and `__subjects`
   * is a bound on that count on the same side of k (the row count below k, or ⌈(rows − rows without an
   * identifier) / most rows of one identifier⌉ at or above k): the gate's k test, its only use, is unchanged.
   */
  subjectsCount?: 'exact' | 'bound';
  /** partitioned runs: the slices the rows were cut into (1: the rows fitted one slice, the single path) */
  slices?: number;
  /** a run split by person: the passes over the chunks, each with its own people (SandboxJob.personPasses) */
  personPasses?: number;
  /** a run split across enclaves (enclave/sql/shares.ts): its shares, and how many other enclaves ran */
  shares?: number;
  sharesElsewhere?: number;
  /** slice threads that ran the slices (absent: the slices ran one after another in the worker) */
  threads?: number;
  /** why a run with more rows than a slice still used one database */
  partitionFallback?: string;
  /** how the table was laid out: keyed on the GROUP BY columns, or by row */
  tableLayout?: 'clustered' | 'rowid';
  loadMs: number;
  queryMs: number;
  totalMs: number;
  jsHeapBytes: number;
  jsHeapPeakMallocedBytes: number;
  /**
   * the worker's wasm linear memory at the end (SQLite's pages and heap live there, outside the JS heap);
   * with slice threads, the largest of theirs (each thread's own peak)
   */
  wasmMemoryBytes?: number;
  /** variables in the worker's environment (0: it inherits no secrets) */
  envKeys: number;
}

export type SandboxReply =
  | { ok: true; columns: string[]; rows: (string | number | null)[][]; stats: SandboxStats; partial?: PartialState }
  | { ok: false; error: { type: string; message: string } };

/** The shares of one run merged and its outputs computed (no rows: partial aggregates only). */
export interface MergeSharesJob {
  kind: 'merge-shares';
  partition: PartitionPlan;
  states: PartialState[];
  onePerPerson: boolean;
  sqliteHeapLimitBytes: number;
  wasmModule: WebAssembly.Module;
}

/**
 * The row map job (differencing defence, docs/privacy.md §4): the worker opens the sealed row chunks and
 * answers, per dataset row (1..rowCount in chunk order, the SQL path's numbering), the index of the HE layout
 * partition the row was sealed into, the code of each dimension's value and, when the schema has an
 * identifier, a dense subject number. Never a value.
 */
export interface RowMapJob {
  kind: 'row-map';
  chunkColumns: string[];
  chunks: { dataKey: Uint8Array; box: Uint8Array; aad: Uint8Array }[];
  /** as SandboxJob.rowFormat */
  rowFormat?: RowChunkFormat;
  /** the layout's partitionBy dimensions, each with its declared values (code = index in values) */
  partitionBy: { name: string; values: string[] }[];
  /** the layout's partitions in order: key = codes joined by ',' */
  partitionKeys: string[];
  /** the identifier column whose values number the subjects (null: rows are the subjects) */
  identifier: string | null;
  /** every dimension with its declared values: each row's code of each (a value not declared is refused) */
  dimensions: { name: string; values: string[]; numeric?: boolean }[];
}

export type { RowMap };
export type RowMapReply = { ok: true; map: RowMap; stats: { rows: number; totalMs: number } } | { ok: false; error: { type: string; message: string } };
