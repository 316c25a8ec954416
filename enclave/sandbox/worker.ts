import { parentPort } from 'node:worker_threads';
import { mapRows } from './row-map-job.js';
import type { MergeSharesJob, RowMapJob, SandboxChunk, SandboxJob, SandboxReply } from './protocol.js';
import { chunkFeed, chunkSource, unsealAck, unsealAll, type UnsealJob } from './chunk-source.js';
import { startSql, type SqlWasm } from './slice-db.js';
import { deliverToSlice, sliceWorker, type SliceJob } from './slice-threads.js';
import { run } from './run.js';
import { mergeShares } from './merge-shares.js';

/**
 * The SQL sandbox worker: started for ONE job, then terminated. It receives everything by message (sealed
 * chunks, the unwrap key, the checked query) and answers only aggregate rows; a row-map job answers each
 * row's partition, dimension codes and subject number for the differencing defence (never values).
 * It is given an empty environment (no master secret) and no handles; see docs/privacy.md for what a
 * worker thread does and does not isolate.
 */

// No top-level await: the sandbox runs this file as one CommonJS bundle (see sandbox.ts workerSource).

// the first message is the job; after it come the sealed chunks (SandboxChunk) and, in an unseal helper, the
// loader's acks (in a slice thread: the slices' messages)
let jobSeen = false;
parentPort!.on('message', (m: SandboxJob | RowMapJob | MergeSharesJob | UnsealJob | SliceJob | SandboxChunk | 'ack') => {
  if (!jobSeen) {
    jobSeen = true;
    void handleJob(m as SandboxJob | RowMapJob | MergeSharesJob | UnsealJob | SliceJob);
  } else if (deliverToSlice(m)) return;
  else if (m === 'ack') unsealAck();
  else if (typeof m === 'object' && m !== null && 'kind' in m && m.kind === 'chunk' && m.key instanceof Uint8Array && m.box instanceof Uint8Array && m.aad instanceof Uint8Array && Number.isInteger(m.index)) {
    chunkFeed.add(m.index, { box: m.box, aad: m.aad, key: m.key });
  }
});

async function handleJob(job: SandboxJob | RowMapJob | MergeSharesJob | UnsealJob | SliceJob): Promise<void> {
  if ('kind' in job && job.kind === 'merge-shares') {
    parentPort!.postMessage(await mergeShares(job));
    return;
  }
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
