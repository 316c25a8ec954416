import { parentPort, Worker } from 'node:worker_threads';
import { DomainError } from '../../contracts/errors.js';
import { ChunkDecoder, type EncodedChunk } from './encoded-chunk.js';
import type { SandboxChunk, SandboxJob, SandboxTaken } from './protocol.js';

/**
 * Where a sandbox job's opened chunks come from: the sealed chunks the enclave posts after the job (the
 * feed), opened and checked in this thread or in unseal helper threads, in dataset order (once per person
 * pass), each taken by the one loader.
 */

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

/** This thread's chunks: filled by the worker's message handler (worker.ts). */
export const chunkFeed = new ChunkFeed();

/** Where the loader gets its chunks from: the unseal helper thread, or this thread. */
export interface ChunkSource {
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

/** The chunks a job reads: the dataset's, once per person pass it runs (SandboxJob.personPasses, passList). */
const chunksRead = (job: SandboxJob): number => job.chunkCount * (job.passList?.length ?? job.personPasses ?? 1);

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

export interface UnsealJob {
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

/** The helper's acks from the loader (one per chunk taken). */
let onAck: (() => void) | null = null;

/** An ack from the loader, for an unseal helper (the worker's message handler calls it). */
export function unsealAck(): void {
  onAck?.();
}

/** The helper's side: decode every chunk in order, at most HELPER_WINDOW ahead of the loader's acks. */
export async function unsealAll(job: UnsealJob): Promise<void> {
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

/** The job's chunk source: started before sql.js so that the unseal helper boots while the wasm instantiates. */
export function chunkSource(job: SandboxJob): ChunkSource {
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
