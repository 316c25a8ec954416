import type { Db } from '../store/db.js';
import { stmt } from '../store/statements.js';
import type { Clock } from '../../contracts/ids.js';
import { insertQueuedJob } from '../store/sqlite/jobs.js';

export interface JobRow {
  id: string;
  tradeId: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  attempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  result: unknown;
  receipt: unknown;
  errorType: string | null;
  errorMessage: string | null;
  createdAt: string;
  updatedAt: string;
}

const COLS = `id, trade_id AS tradeId, state, attempts, lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt,
  result_json, receipt_json, error_type AS errorType, error_message AS errorMessage, created_at AS createdAt, updated_at AS updatedAt`;

function toJob(r: Record<string, unknown> | undefined): JobRow | null {
  if (!r) return null;
  const { result_json, receipt_json, ...rest } = r;
  return {
    ...(rest as unknown as JobRow),
    result: result_json ? JSON.parse(result_json as string) : null,
    receipt: receipt_json ? JSON.parse(receipt_json as string) : null,
  };
}

/**
 * What the worker needs from a queue: the seam where a Redis- or PostgreSQL-backed queue with several
 * workers would replace the embedded one (docs/deploy.md).
 */
export interface DurableQueue {
  enqueue(tradeId: string): JobRow;
  byTrade(tradeId: string): JobRow | null;
  lease(owner: string, leaseMs: number): JobRow | null;
  renew(id: string, owner: string, leaseMs: number): boolean;
  saveRelease(id: string, owner: string, result: unknown, receipt: unknown): boolean;
  finish(id: string, owner: string): boolean;
  fail(id: string, owner: string, errorType: string, message: string): boolean;
  requeue(id: string, owner: string): boolean;
}

/**
 * The durable job queue in SQLite: one job per approved trade (trade_id is UNIQUE, so enqueueing twice
 * is harmless). The job is created by the transaction that approves the trade (contracts/ through its
 * JobStore port), so an approval never commits without its job. A worker leases a job until `lease_expires_at`; if the process dies, the lease expires
 * and the job is leased again. Steps inside a job are idempotent (stored receipt, idempotency keys in
 * the ledger and the enclave's budget), so a re-run never charges twice.
 */
export class JobQueue implements DurableQueue {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  enqueue(tradeId: string): JobRow {
    insertQueuedJob(this.db, tradeId, this.clock.now().toISOString());
    return this.byTrade(tradeId)!;
  }

  byTrade(tradeId: string): JobRow | null {
    return toJob(stmt(this.db, `SELECT ${COLS} FROM jobs WHERE trade_id = ?`).get(tradeId) as Record<string, unknown> | undefined);
  }

  get(id: string): JobRow | null {
    return toJob(stmt(this.db, `SELECT ${COLS} FROM jobs WHERE id = ?`).get(id) as Record<string, unknown> | undefined);
  }

  /** Leases the oldest runnable job: queued, or running with an expired lease. */
  lease(owner: string, leaseMs: number): JobRow | null {
    return this.db.transaction(() => {
      const now = this.clock.now();
      const nowIso = now.toISOString();
      const r = stmt(this.db, 
          `SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_expires_at <= ?) ORDER BY created_at, id LIMIT 1`,
        )
        .get(nowIso) as { id: string } | undefined;
      if (!r) return null;
      stmt(this.db, "UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?")
        .run(owner, new Date(now.getTime() + leaseMs).toISOString(), nowIso, r.id);
      return this.get(r.id);
    })();
  }

  /** Extends a lease the caller still holds; false if it lost it. */
  renew(id: string, owner: string, leaseMs: number): boolean {
    const now = this.clock.now();
    return (
      stmt(this.db, "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'")
        .run(new Date(now.getTime() + leaseMs).toISOString(), now.toISOString(), id, owner).changes === 1
    );
  }

  /** Keeps the enclave's answer so a re-run after a crash delivers it instead of releasing again. */
  saveRelease(id: string, owner: string, result: unknown, receipt: unknown): boolean {
    return (
      stmt(this.db, "UPDATE jobs SET result_json = ?, receipt_json = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'")
        .run(JSON.stringify(result), JSON.stringify(receipt), this.clock.now().toISOString(), id, owner).changes === 1
    );
  }

  finish(id: string, owner: string): boolean {
    return (
      stmt(this.db, "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?")
        .run(this.clock.now().toISOString(), id, owner).changes === 1
    );
  }

  fail(id: string, owner: string, errorType: string, message: string): boolean {
    return (
      stmt(this.db, 
          "UPDATE jobs SET state = 'failed', error_type = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?",
        )
        .run(errorType, message, this.clock.now().toISOString(), id, owner).changes === 1
    );
  }

  /** Gives a job back for another attempt (transient failure). */
  requeue(id: string, owner: string): boolean {
    return (
      stmt(this.db, "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?")
        .run(this.clock.now().toISOString(), id, owner).changes === 1
    );
  }

  /**
   * Embedded mode: one server process owns the data directory, so at start every `running` lease
   * belongs to a dead process and is expired at once instead of waiting out the lease.
   */
  expireLeasesAtStartup(): number {
    return stmt(this.db, "UPDATE jobs SET lease_expires_at = ? WHERE state = 'running'").run(new Date(0).toISOString()).changes;
  }

  /**
   * Queues approved trades that have no job: data written before approval and job creation shared one
   * transaction could hold such a trade, which would otherwise wait for its approval to expire.
   */
  adoptApprovedWithoutJob(): number {
    const orphans = stmt(this.db, "SELECT id FROM trades WHERE state = 'approved' AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.trade_id = trades.id)").all() as { id: string }[];
    for (const o of orphans) this.enqueue(o.id);
    return orphans.length;
  }

  counts(): Record<string, number> {
    return Object.fromEntries((stmt(this.db, 'SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
  }
}
