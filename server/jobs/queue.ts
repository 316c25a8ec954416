import type { Db } from '../store/db.js';
import type { Clock } from '../../contracts/ids.js';
import { insertQueuedJob } from '../store/tables/jobs.js';

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

const COLS = `id, trade_id AS "tradeId", state, attempts, lease_owner AS "leaseOwner", lease_expires_at AS "leaseExpiresAt",
  result_json, receipt_json, error_type AS "errorType", error_message AS "errorMessage", created_at AS "createdAt", updated_at AS "updatedAt"`;

function toJob(r: Record<string, unknown> | undefined): JobRow | null {
  if (!r) return null;
  const { result_json, receipt_json, ...rest } = r;
  return {
    ...(rest as unknown as JobRow),
    result: result_json ? JSON.parse(result_json as string) : null,
    receipt: receipt_json ? JSON.parse(receipt_json as string) : null,
  };
}

/** What the worker needs from a queue; the store's jobs table on either engine implements it. */
export interface DurableQueue {
  enqueue(tradeId: string): Promise<JobRow>;
  byTrade(tradeId: string): Promise<JobRow | null>;
  lease(owner: string, leaseMs: number): Promise<JobRow | null>;
  renew(id: string, owner: string, leaseMs: number): Promise<boolean>;
  saveRelease(id: string, owner: string, result: unknown, receipt: unknown): Promise<boolean>;
  finish(id: string, owner: string): Promise<boolean>;
  fail(id: string, owner: string, errorType: string, message: string): Promise<boolean>;
  requeue(id: string, owner: string): Promise<boolean>;
}

/**
 * The durable job queue in the store: one job per approved trade (trade_id is UNIQUE, so enqueueing twice
 * is harmless). The job is created by the transaction that approves the trade (contracts/ through its
 * JobStore port), so an approval never commits without its job. A worker leases a job until
 * `lease_expires_at` and renews the lease while it runs; if its process dies, the lease expires and another
 * worker (any process on the same database) leases the job again. On PostgreSQL the lease is one
 * statement whose candidate row is taken `FOR UPDATE SKIP LOCKED`, so workers never wait on each other
 * and never take the same job. Steps inside a job are idempotent (stored receipt, idempotency keys in
 * the ledger and the enclave's budget), so a re-run never charges twice.
 */
export class JobQueue implements DurableQueue {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async enqueue(tradeId: string): Promise<JobRow> {
    await insertQueuedJob(this.db, tradeId, this.clock.now().toISOString());
    return (await this.byTrade(tradeId))!;
  }

  async byTrade(tradeId: string): Promise<JobRow | null> {
    return toJob(await this.db.get(`SELECT ${COLS} FROM jobs WHERE trade_id = ?`, tradeId));
  }

  async get(id: string): Promise<JobRow | null> {
    return toJob(await this.db.get(`SELECT ${COLS} FROM jobs WHERE id = ?`, id));
  }

  /** Leases the oldest runnable job: queued, or running with an expired lease. */
  async lease(owner: string, leaseMs: number): Promise<JobRow | null> {
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const skipLocked = this.db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const r = await this.db.get<{ id: string }>(
      `UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1, updated_at = ?
       WHERE id = (SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_expires_at <= ?) ORDER BY created_at, id LIMIT 1${skipLocked})
       RETURNING id`,
      owner,
      new Date(now.getTime() + leaseMs).toISOString(),
      nowIso,
      nowIso,
    );
    return r ? this.get(r.id) : null;
  }

  /** Extends a lease the caller still holds; false if it lost it. */
  async renew(id: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.clock.now();
    return (
      (await this.db.run("UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'", new Date(now.getTime() + leaseMs).toISOString(), now.toISOString(), id, owner)) === 1
    );
  }

  /** Keeps the enclave's answer so a re-run after a crash delivers it instead of releasing again. */
  async saveRelease(id: string, owner: string, result: unknown, receipt: unknown): Promise<boolean> {
    return (
      (await this.db.run(
        "UPDATE jobs SET result_json = ?, receipt_json = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
        JSON.stringify(result),
        JSON.stringify(receipt),
        this.clock.now().toISOString(),
        id,
        owner,
      )) === 1
    );
  }

  async finish(id: string, owner: string): Promise<boolean> {
    return (await this.db.run("UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?", this.clock.now().toISOString(), id, owner)) === 1;
  }

  async fail(id: string, owner: string, errorType: string, message: string): Promise<boolean> {
    return (
      (await this.db.run(
        "UPDATE jobs SET state = 'failed', error_type = ?, error_message = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?",
        errorType,
        message,
        this.clock.now().toISOString(),
        id,
        owner,
      )) === 1
    );
  }

  /** Gives a job back for another attempt (transient failure). */
  async requeue(id: string, owner: string): Promise<boolean> {
    return (await this.db.run("UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_owner = ?", this.clock.now().toISOString(), id, owner)) === 1;
  }

  /**
   * Embedded mode: one server process owns the data directory, so at start every `running` lease
   * belongs to a dead process and is expired at once instead of waiting out the lease. (A cluster never
   * does this: other workers' leases are alive; a dead worker's lease simply runs out.)
   */
  async expireLeasesAtStartup(): Promise<number> {
    return this.db.run("UPDATE jobs SET lease_expires_at = ? WHERE state = 'running'", new Date(0).toISOString());
  }

  /**
   * Queues approved trades that have no job: data written before approval and job creation shared one
   * transaction could hold such a trade, which would otherwise wait for its approval to expire.
   */
  async adoptApprovedWithoutJob(): Promise<number> {
    const orphans = await this.db.all<{ id: string }>("SELECT id FROM trades WHERE state = 'approved' AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.trade_id = trades.id)");
    for (const o of orphans) await this.enqueue(o.id);
    return orphans.length;
  }

  async counts(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.db.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')).map((r) => [r.state, r.n]));
  }
}
