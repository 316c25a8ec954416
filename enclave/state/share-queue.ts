import type { Store } from '../../store/engine.js';

/**
 * The queue of a cluster's SQL shares (table sandbox_share, in the enclaves' own state store): the state of
 * each share is the work queue. A share is queued → running (leased by one enclave, the lease renewed while
 * it runs) → done | failed; a running share whose lease lapsed is queued again in effect. Every change is a
 * compare-and-set on the state and lease, so two enclaves never both run one share to completion, on
 * PostgreSQL or SQLite alike, without holding a lock while they work.
 */

export type ShareState = 'queued' | 'running' | 'done' | 'failed';

export interface ShareRow {
  taskId: string;
  runId: string;
  shareIndex: number;
  payload: string;
  state: ShareState;
  worker: string | null;
  leaseUntil: number;
  result: string | null;
  errorType: string | null;
}

interface Raw {
  task_id: string;
  run_id: string;
  share_index: number | string;
  payload: string;
  state: ShareState;
  worker: string | null;
  lease_until: number | string;
  result: string | null;
  error_type: string | null;
}

const rowOf = (r: Raw): ShareRow => ({
  taskId: r.task_id,
  runId: r.run_id,
  shareIndex: Number(r.share_index),
  payload: r.payload,
  state: r.state,
  worker: r.worker,
  leaseUntil: Number(r.lease_until),
  result: r.result,
  errorType: r.error_type,
});

export class ShareQueue {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** The shares of one run, queued (payloads already sealed by the caller). */
  async enqueue(runId: string, shares: { taskId: string; shareIndex: number; payload: string }[]): Promise<void> {
    const at = new Date(this.now()).toISOString();
    await this.store.transaction(async () => {
      for (const s of shares) {
        await this.store.run(
          'INSERT INTO sandbox_share (task_id, run_id, share_index, payload, state, worker, lease_until, result, error_type, created_at) VALUES (?, ?, ?, ?, ?, NULL, 0, NULL, NULL, ?)',
          s.taskId,
          runId,
          s.shareIndex,
          s.payload,
          'queued',
          at,
        );
      }
    });
  }

  /** Lease `taskId` for `worker` if it is queued or its lease lapsed; true when this call took it. */
  async lease(taskId: string, worker: string, leaseMs: number): Promise<boolean> {
    const now = this.now();
    const n = await this.store.run(
      "UPDATE sandbox_share SET state = 'running', worker = ?, lease_until = ? WHERE task_id = ? AND (state = 'queued' OR (state = 'running' AND lease_until < ?))",
      worker,
      now + leaseMs,
      taskId,
      now,
    );
    return n === 1;
  }

  /** The oldest share any enclave may take now (queued, or running with a lapsed lease), leased for `worker`. */
  async leaseNext(worker: string, leaseMs: number): Promise<ShareRow | undefined> {
    for (let tries = 0; tries < 3; tries++) {
      const r = await this.store.get<Raw>(
        "SELECT * FROM sandbox_share WHERE state = 'queued' OR (state = 'running' AND lease_until < ?) ORDER BY created_at, share_index LIMIT 1",
        this.now(),
      );
      if (!r) return undefined;
      if (await this.lease(r.task_id, worker, leaseMs)) return { ...rowOf(r), state: 'running', worker };
    }
    return undefined; // others took the candidates first: the next poll looks again
  }

  /** Extend a lease this worker still holds; false when it lost it (the share went to another enclave). */
  async renew(taskId: string, worker: string, leaseMs: number): Promise<boolean> {
    const n = await this.store.run("UPDATE sandbox_share SET lease_until = ? WHERE task_id = ? AND state = 'running' AND worker = ?", this.now() + leaseMs, taskId, worker);
    return n === 1;
  }

  /** The share's sealed result, if this worker still holds its lease. */
  async complete(taskId: string, worker: string, result: string): Promise<boolean> {
    const n = await this.store.run("UPDATE sandbox_share SET state = 'done', result = ? WHERE task_id = ? AND state = 'running' AND worker = ?", result, taskId, worker);
    return n === 1;
  }

  /** The share could not be run (a typed refusal of the sandbox): the coordinator fails or falls back on it. */
  async fail(taskId: string, worker: string, errorType: string): Promise<boolean> {
    const n = await this.store.run("UPDATE sandbox_share SET state = 'failed', error_type = ? WHERE task_id = ? AND state = 'running' AND worker = ?", errorType, taskId, worker);
    return n === 1;
  }

  async shares(runId: string): Promise<ShareRow[]> {
    return (await this.store.all<Raw>('SELECT * FROM sandbox_share WHERE run_id = ? ORDER BY share_index', runId)).map(rowOf);
  }

  /** Shares of runs older than `maxAgeMs` deleted: a coordinator that died never merges or drops them. */
  async sweep(maxAgeMs: number): Promise<number> {
    return this.store.run('DELETE FROM sandbox_share WHERE created_at < ?', new Date(this.now() - maxAgeMs).toISOString());
  }

  /** The run's shares forgotten (merged, or the run ended): no partial outlives its run. */
  async drop(runId: string): Promise<void> {
    await this.store.run('DELETE FROM sandbox_share WHERE run_id = ?', runId);
  }
}
