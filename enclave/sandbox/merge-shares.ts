import { PartialMerge } from './partition-merge.js';
import type { MergeSharesJob, SandboxReply } from './protocol.js';
import { errorOf, startSql } from './slice-db.js';

/**
 * The last step of a run split across enclaves: every share's merged partials (each over people no other
 * share has) folded in share order, and the query's outputs computed over the merged groups in a fresh
 * database. No row is read here: the shares' partial aggregates are all it sees.
 */
export async function mergeShares(job: MergeSharesJob): Promise<SandboxReply> {
  const t0 = performance.now();
  const merge = new PartialMerge(job.partition);
  for (const s of job.states) merge.absorb(s);
  let db: import('sql.js').Database | undefined;
  try {
    const sql = await startSql(job.wasmModule);
    db = new sql.SQL.Database();
    db.exec(`PRAGMA hard_heap_limit=${job.sqliteHeapLimitBytes}`);
    const res = merge.finish(db, job.onePerPerson);
    const ms = performance.now() - t0;
    return {
      ok: true,
      columns: res?.columns ?? [],
      rows: (res?.values ?? []) as (string | number | null)[][],
      stats: { rowsLoaded: 0, unsealMs: 0, loadMs: 0, queryMs: ms, totalMs: ms, jsHeapBytes: 0, jsHeapPeakMallocedBytes: 0, envKeys: Object.keys(process.env).length, subjectsCount: 'exact', slices: merge.slices },
    };
  } catch (e) {
    return { ok: false, error: errorOf(e, true) };
  } finally {
    db?.close();
  }
}
