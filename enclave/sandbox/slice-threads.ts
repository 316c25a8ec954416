import { parentPort, Worker } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { DomainError } from '../../contracts/errors.js';
import type { EncodedChunk } from './encoded-chunk.js';
import type { PartitionPlan } from '../../query/validate.js';
import type { SandboxJob } from './protocol.js';
import { errorOf, partialOf, SliceDb, startSql, wholeQuery, type ExecResult, type TableSpec } from './slice-db.js';

/**
 * Slice threads of a partitioned run (SandboxJob.sliceThreads): the thread's side (sliceWorker: each slice
 * into a fresh database, its partials answered) and the run's side (SliceThread: rows posted, answers awaited).
 */

/** A slice thread's job: the table, and the queries of its slices. Then SliceMessages, one slice at a time. */
export interface SliceJob extends TableSpec {
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

export interface SliceStats {
  loadMs: number;
  queryMs: number;
  tableLayout: 'clustered' | 'rowid';
  wasmMemoryBytes: number;
  jsHeapBytes: number;
}

type SliceReply =
  | { kind: 'done'; partial?: ExecResult; pairs?: ExecResult; whole?: { res: ExecResult; subjectsCount: 'exact' | 'bound' }; stats: SliceStats }
  | { kind: 'error'; error: { type: string; message: string } };

export type SliceDone = Extract<SliceReply, { kind: 'done' }>;

/** Messages for this thread after its job, when it is a slice thread. */
let sliceInbox: { push(m: SliceMessage): void } | null = null;

/** A message after the job, for this thread's slices when it is a slice thread (false: it is not one). */
export function deliverToSlice(m: unknown): boolean {
  if (!sliceInbox) return false;
  sliceInbox.push(m as SliceMessage);
  return true;
}

/** A slice thread: each slice into a fresh database of this thread's sql.js, its partials (or whole result) answered. */
export async function sliceWorker(job: SliceJob): Promise<void> {
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
export class SliceThread {
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

