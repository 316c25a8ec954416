import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DurableQueue, JobRow } from './queue.js';
import { isDomainError } from '../../contracts/errors.js';

export interface JobContext {
  job: JobRow;
  owner: string;
  /** Saves the enclave's release with the job (see JobQueue.saveRelease). */
  saveRelease(result: unknown, receipt: unknown): Promise<unknown>;
}

/** Thrown by a job runner for a failure that another attempt could fix (enclave restarting…). */
export class TransientJobError extends Error {}

export interface WorkerOptions {
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
}

/**
 * The worker loop: lease a job, run it with a lease-renewal heartbeat, then finish / requeue / fail.
 * Domain refusals are final (the trade fails with a buyer-readable reason, `onFinalFailure`); other
 * errors are retried up to maxAttempts.
 */
export class JobWorker {
  readonly owner = `worker-${process.pid}-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly queue: DurableQueue,
    private readonly run: (ctx: JobContext) => Promise<void>,
    private readonly onFinalFailure: (job: JobRow, type: string, reason: string) => Promise<void> | void,
    private readonly opts: WorkerOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Wakes the loop now (e.g. right after a trade was approved). */
  kick(): void {
    if (!this.stopped && !this.running) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, ms);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    let didWork = false;
    try {
      const job = await this.queue.lease(this.owner, this.opts.leaseMs);
      if (job) {
        didWork = true;
        await this.runOne(job);
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'job loop error');
    }
    this.schedule(didWork ? 0 : this.opts.pollMs);
  }

  private async runOne(job: JobRow): Promise<void> {
    // A lease that expired (the process died mid-job, e.g. a job that crashes or exhausts the server) is
    // leased again with attempts + 1: past maxAttempts the job fails instead of running once more, so one
    // such job cannot crash the server forever. A job whose release is already saved only delivers it.
    if (job.attempts > this.opts.maxAttempts && !job.receipt) {
      this.log.warn({ job: job.id, trade: job.tradeId, attempt: job.attempts }, 'job interrupted too often; failing it');
      try {
        await this.onFinalFailure(job, 'execution-failed', `the job was interrupted ${job.attempts - 1} times (limit ${this.opts.maxAttempts})`);
        await this.queue.fail(job.id, this.owner, 'execution-failed', `interrupted ${job.attempts - 1} times; attempts are limited to ${this.opts.maxAttempts}`);
      } catch (e) {
        this.log.error({ job: job.id, err: (e as Error).message }, 'could not record the failure; the job will be retried');
        await this.requeue(job);
      }
      return;
    }
    const heartbeat = setInterval(() => void this.queue.renew(job.id, this.owner, this.opts.leaseMs).catch(() => {}), Math.max(50, this.opts.leaseMs / 3));
    heartbeat.unref?.();
    const started = Date.now();
    try {
      await this.run({ job, owner: this.owner, saveRelease: (result, receipt) => this.queue.saveRelease(job.id, this.owner, result, receipt) });
      await this.queue.finish(job.id, this.owner);
      this.log.info({ job: job.id, trade: job.tradeId, attempt: job.attempts, ms: Date.now() - started }, 'job done');
    } catch (e) {
      const final = isDomainError(e) || job.attempts >= this.opts.maxAttempts;
      const type = isDomainError(e) ? e.type : e instanceof TransientJobError ? 'transient' : 'execution-failed';
      const reason = e instanceof Error ? e.message : String(e);
      this.log.warn({ job: job.id, trade: job.tradeId, attempt: job.attempts, type, final }, 'job failed');
      if (final) {
        try {
          await this.onFinalFailure(job, type, reason);
          await this.queue.fail(job.id, this.owner, type, reason);
        } catch (e2) {
          this.log.error({ job: job.id, err: (e2 as Error).message }, 'could not record the failure; the job will be retried');
          await this.requeue(job);
        }
      } else {
        await this.requeue(job);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Gives the job back; if even that fails (the store is down), its lease runs out and it is leased again. */
  private async requeue(job: JobRow): Promise<void> {
    try {
      await this.queue.requeue(job.id, this.owner);
    } catch (e) {
      this.log.warn({ job: job.id, err: (e as Error).message }, 'could not give the job back; it is leased again when its lease runs out');
    }
  }
}
