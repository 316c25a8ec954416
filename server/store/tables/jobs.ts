import type { JobStore } from '../../../contracts/store.js';
import { newId } from '../../../contracts/ids.js';
import type { Db } from '../db.js';

/** The one statement that creates a trade's job (trade_id is UNIQUE: enqueueing twice is harmless). */
export async function insertQueuedJob(db: Db, tradeId: string, at: string): Promise<void> {
  await db.run("INSERT INTO jobs (id, trade_id, state, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?) ON CONFLICT (trade_id) DO NOTHING", newId(), tradeId, at, at);
}

/** contracts/' view of the jobs table: the approval transaction creates the job (server/jobs/queue.ts runs it). */
export function jobStore(db: Db): JobStore {
  return { enqueue: (tradeId, at) => insertQueuedJob(db, tradeId, at) };
}
