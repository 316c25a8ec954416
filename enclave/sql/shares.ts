import { DomainError, isDomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { newId } from '../../contracts/ids.js';
import { fromB64, fromUtf8, hmacSm3, openBox, sealBox, toB64, utf8 } from '../../crypto/index.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { validateSql, type SqlMode } from '../../query/validate.js';
import type { BlobReader } from '../release/blob-reader.js';
import { streamRowChunks } from '../release/row-chunks.js';
import type { PartialState } from '../sandbox/partition-merge.js';
import {
  DEFAULT_SANDBOX_LIMITS,
  mergeSharesInSandbox,
  peoplePerPassOf,
  runSqlInSandbox,
  runSqlShare,
  sliceRowsOf,
  type SandboxInput,
  type SandboxLimits,
  type SandboxOutput,
} from '../sandbox/sandbox.js';
import type { ShareQueue, ShareRow } from '../state/share-queue.js';

/**
 * A SQL run split across the enclaves of a cluster. The run's person passes (sandbox.ts: pass p keeps the
 * people whose identifier hashes to p) are dealt out as shares: share h of H runs passes h, h + H, …, so no
 * person is in two shares and their merged partials add up to the one-database answer exactly as passes do.
 * The coordinating enclave queues shares 1..H−1 in the enclaves' state store (enclave/state/share-queue.ts), runs share 0
 * itself, takes back any share no other enclave has leased by then, and merges all of them before the gate.
 * Payloads and partials are sealed under a key derived from the keystore the cluster's enclaves share: the
 * state store only ever holds ciphertext, and a payload or partial written by anything but an enclave fails
 * to open. Each share reads every chunk (each its own people); time per share falls with H, opening does not.
 */

/** Everything another enclave needs to run a share: the checked query is re-validated there, the rows re-read. */
export interface ShareTask {
  v: 1;
  query: string;
  mode: SqlMode;
  clamp?: Record<string, [number, number]>;
  queryHash: string;
  schema: DatasetSchema;
  manifest: BundleManifest;
  columns: string[];
  maxRowsPerPerson?: number;
  minGroupSize?: number;
  passes: number[];
  of: number;
  /** the coordinator's slice size: every share slices alike */
  sliceRows: number;
  limits?: Partial<SandboxLimits>;
}

const SHARE_KEY_LABEL = 'shuyu.sandbox-share.v1';

/** The key sealing shares' payloads and partials, derived from the keystore's unwrap key (every enclave of the cluster has it). */
export const shareKeyOf = (unwrapPrivateKey: Uint8Array): Uint8Array => hmacSm3(unwrapPrivateKey, SHARE_KEY_LABEL);

/** A share's payload or partial sealed for the state store, bound to its task (the aad). */
export const sealShare = (key: Uint8Array, value: unknown, aad: string): string => toB64(sealBox(key, utf8(JSON.stringify(value)), utf8(aad)));

function openJson<T>(key: Uint8Array, text: string, aad: string): T {
  try {
    return JSON.parse(fromUtf8(openBox(key, fromB64(text), utf8(aad)))) as T;
  } catch {
    throw new DomainError('sql-share-invalid', 'a share of the run was not sealed by an enclave of this cluster');
  }
}

const resultAad = (taskId: string): string => `${taskId}:partial`;

/** Shares a run is split into: SHUYU_SANDBOX_SHARES (1: no split), at most 64. */
export function sharesOf(): number {
  const n = Number(process.env.SHUYU_SANDBOX_SHARES);
  return Number.isInteger(n) && n > 1 ? Math.min(64, n) : 1;
}

/** The fewest rows a run must have to be split: SHUYU_SANDBOX_SHARE_MIN_ROWS, else one slice's rows. */
function minRowsOf(input: SandboxInput): number {
  const n = Number(process.env.SHUYU_SANDBOX_SHARE_MIN_ROWS);
  return Number.isInteger(n) && n >= 0 && process.env.SHUYU_SANDBOX_SHARE_MIN_ROWS ? n : sliceRowsOf(input);
}

/** The person passes of share `h` of `shares`, out of `of` passes in all. */
export const passesOfShare = (h: number, shares: number, of: number): number[] => Array.from({ length: Math.ceil((of - h) / shares) }, (_, i) => h + i * shares);

export interface SharedRun {
  queue: ShareQueue;
  shares: number;
  key: Uint8Array;
  /** this enclave's name in leases */
  worker: string;
  task: Omit<ShareTask, 'v' | 'passes' | 'of' | 'sliceRows' | 'limits'>;
  /** how often the coordinator looks at its shares (default 100 ms) */
  pollMs?: number;
  /** how long a lease lasts before another enclave may take the share (default 30 s, renewed every third) */
  leaseMs?: number;
  /** how long a share no enclave leased is left to them once this enclave's own share is done (default: SHUYU_SANDBOX_SHARE_WAIT_MS, else 0) */
  takeBackAfterMs?: number;
}

/** SHUYU_SANDBOX_SHARE_WAIT_MS: by default a share nobody leased is taken back at once (the others were busy). */
function takeBackAfterMsOf(): number {
  const n = Number(process.env.SHUYU_SANDBOX_SHARE_WAIT_MS);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

const DEFAULT_LEASE_MS = 30_000;
/** a run's shares outlive any sandbox wall-time limit by far after this: their coordinator is gone */
const ABANDONED_AFTER_MS = 6 * 3600_000;
const SWEEP_EVERY_MS = 60_000;

/** Can this run be split? A partitioned plan over identified people (the passes are by identifier), and rows enough. */
function splittable(input: SandboxInput, shares: number): boolean {
  if (shares < 2 || !input.plan.partition || sliceRowsOf(input) === 0 || input.params) return false;
  const identified = input.schema.columns.some((c) => c.role === 'identifier' && (input.maxRowsPerPerson !== undefined || (input.columns ?? []).includes(c.name)));
  if (!identified || (input.maxRowsPerPerson === undefined && input.minGroupSize === undefined)) return false;
  const rows = Array.isArray(input.chunks) ? input.rows : (input.chunks.rows ?? input.rows);
  return rows !== undefined && rows >= Math.max(1, minRowsOf(input));
}

/**
 * The run, split into `shared.shares` shares when it can be (else runSqlInSandbox as before). The answer is
 * the one-database answer; its stats are this enclave's share's, with the shares run elsewhere counted.
 */
export async function runSqlShared(input: SandboxInput, shared: SharedRun): Promise<SandboxOutput> {
  if (!splittable(input, shared.shares)) return runSqlInSandbox(input);
  const t0 = performance.now();
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...input.limits };
  const rows = Array.isArray(input.chunks) ? input.rows! : (input.chunks.rows ?? input.rows!);
  const H = shared.shares;
  const of = H * Math.ceil(Math.max(1, Math.ceil(rows / peoplePerPassOf(input))) / H);
  const runId = newId();
  const leaseMs = shared.leaseMs ?? DEFAULT_LEASE_MS;
  const taskIds = Array.from({ length: H }, (_, h) => `${runId}:${h}`);
  await shared.queue.enqueue(
    runId,
    taskIds.slice(1).map((taskId, i) => {
      const task: ShareTask = { v: 1, ...shared.task, passes: passesOfShare(i + 1, H, of), of, sliceRows: sliceRowsOf(input), ...(input.limits ? { limits: input.limits } : {}) };
      return { taskId, shareIndex: i + 1, payload: sealShare(shared.key, task, taskId) };
    }),
  );
  const states: (PartialState | undefined)[] = Array.from({ length: H }, () => undefined);
  let remote = 0;
  try {
    const own = await runSqlShare({ ...input, share: { passes: passesOfShare(0, H, of), of } });
    states[0] = own.partial;
    const deadline = t0 + limits.timeoutMs;
    const takeBackAt = performance.now() + (shared.takeBackAfterMs ?? takeBackAfterMsOf());
    while (states.some((s) => s === undefined)) {
      if (performance.now() > deadline) throw new DomainError('sql-timeout', `the SQL sandbox exceeded its ${limits.timeoutMs} ms wall-time limit and was stopped`);
      let waiting = false;
      for (const row of await shared.queue.shares(runId)) {
        if (states[row.shareIndex]) continue;
        if (row.state === 'done') {
          states[row.shareIndex] = openJson<PartialState>(shared.key, row.result!, resultAad(row.taskId));
          remote++;
        } else if (row.state === 'failed') throw new DomainError(row.errorType ?? 'sql-sandbox-failed', 'a share of the run was refused by the enclave that ran it');
        else if (row.state === 'queued' && performance.now() < takeBackAt) waiting = true;
        else if (await shared.queue.lease(row.taskId, shared.worker, leaseMs)) {
          // nobody took it (or its enclave went away): run it here, over this enclave's own stream of the rows
          const mine = await runSqlShare({ ...input, share: { passes: passesOfShare(row.shareIndex, H, of), of } });
          states[row.shareIndex] = mine.partial;
        } else waiting = true;
      }
      if (waiting) await new Promise((r) => setTimeout(r, shared.pollMs ?? 100));
    }
    const merged = await mergeSharesInSandbox({ plan: input.plan, states: states as PartialState[], onePerPerson: input.maxRowsPerPerson === 1, limits });
    return { columns: merged.columns, rows: merged.rows, stats: { ...own.stats, shares: H, sharesElsewhere: remote, wallMs: performance.now() - t0 } };
  } catch (e) {
    // numbers SQLite could store as another identifier's text: people cannot be told apart by hash, one database
    if (isDomainError(e) && e.type === 'sql-partition-unsupported') {
      const out = await runSqlInSandbox({ ...input, sliceRows: 0 });
      return { ...out, stats: { ...out.stats, partitionFallback: e.message } };
    }
    throw e;
  } finally {
    await shared.queue.drop(runId);
  }
}

/**
 * Runs other enclaves' shares: each enclave of a cluster leases the oldest share waiting, re-validates its
 * query (the hash must be the coordinator's), reads and re-hashes the rows from the blob store itself, runs
 * its passes and stores the sealed partials. The lease is renewed while it runs.
 */
export class ShareExecutor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** shares this enclave ran to completion */
  ran = 0;

  constructor(
    private readonly deps: {
      queue: ShareQueue;
      key: Uint8Array;
      worker: string;
      blobs: BlobReader;
      unwrapPrivateKey: Uint8Array;
      pollMs?: number;
      leaseMs?: number;
      /** errors of the queue itself (the state store away): logged by the caller, the next poll tries again */
      onError?: (e: unknown) => void;
    },
  ) {}

  /** Poll for shares until stopped. */
  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.runOnce()
        .catch((e: unknown) => this.deps.onError?.(e))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.deps.pollMs ?? 250);
        });
    };
    this.timer = setTimeout(tick, this.deps.pollMs ?? 250);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }

  private lastSweep = 0;

  /** Lease and run one waiting share; true when there was one. */
  async runOnce(): Promise<boolean> {
    const leaseMs = this.deps.leaseMs ?? DEFAULT_LEASE_MS;
    if (Date.now() - this.lastSweep > SWEEP_EVERY_MS) {
      this.lastSweep = Date.now();
      await this.deps.queue.sweep(ABANDONED_AFTER_MS);
    }
    const row = await this.deps.queue.leaseNext(this.deps.worker, leaseMs);
    if (!row) return false;
    const renew = setInterval(() => void this.deps.queue.renew(row.taskId, this.deps.worker, leaseMs).catch(() => undefined), Math.max(50, Math.floor(leaseMs / 3)));
    try {
      const partial = await this.run(row);
      if (await this.deps.queue.complete(row.taskId, this.deps.worker, sealShare(this.deps.key, partial, resultAad(row.taskId)))) this.ran++;
    } catch (e) {
      await this.deps.queue.fail(row.taskId, this.deps.worker, isDomainError(e) ? e.type : 'sql-sandbox-failed');
    } finally {
      clearInterval(renew);
    }
    return true;
  }

  private async run(row: ShareRow): Promise<PartialState> {
    const task = openJson<ShareTask>(this.deps.key, row.payload, row.taskId);
    const v = validateSql(task.query, task.schema, { mode: task.mode, ...(task.clamp ? { clamp: task.clamp } : {}) });
    if (!v.ok || v.hash !== task.queryHash) throw new DomainError('computation-hash-mismatch', 'the share does not run the query that was approved');
    const out = await runSqlShare({
      schema: task.schema,
      chunks: streamRowChunks(task.manifest, this.deps.blobs),
      unwrapPrivateKey: this.deps.unwrapPrivateKey,
      plan: v.plan,
      columns: task.columns,
      ...(task.maxRowsPerPerson !== undefined ? { maxRowsPerPerson: task.maxRowsPerPerson } : {}),
      ...(task.minGroupSize !== undefined ? { minGroupSize: task.minGroupSize } : {}),
      ...(task.limits ? { limits: task.limits } : {}),
      sliceRows: task.sliceRows,
      share: { passes: task.passes, of: task.of },
    });
    return out.partial;
  }
}
