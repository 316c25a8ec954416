import type { Db } from '../store/db.js';
import { sm3Hex, canonicalJson } from '../../crypto/index.js';
import { HttpProblem } from './problems.js';

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9_\-.:]{8,200}$/;

export type IdemBegin = { kind: 'new' } | { kind: 'replay'; status: number; body: unknown };

/**
 * HTTP-level idempotency for POSTs that move money or budget (Stripe-style): the first request with a
 * key reserves it; a retry with the same key and the same request gets the stored response; the same
 * key with a different request is refused (409) so a client bug cannot silently do something else.
 */
export class IdempotencyStore {
  /**
   * `staleAfterMs`: a reservation still pending after this long belongs to a request whose server died (a
   * live one answers within its request timeout); the next request with the key takes it over, on any server.
   */
  constructor(
    private readonly db: Db,
    private readonly staleAfterMs = 120_000,
  ) {}

  static requestHash(params: unknown, body: unknown): string {
    return sm3Hex(canonicalJson({ params: params ?? null, body: body ?? null }));
  }

  async begin(userId: string, routeId: string, key: string, bodyHash: string, now: string): Promise<IdemBegin> {
    // The reservation is one insert that either wins or finds the row: two servers racing on one key
    // cannot both start the request (the primary key decides), whichever process they run in.
    const won = await this.db.run(
      "INSERT INTO http_idempotency (user_id, route_id, idem_key, body_hash, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (user_id, route_id, idem_key) DO NOTHING",
      userId,
      routeId,
      key,
      bodyHash,
      now,
    );
    if (won === 1) return { kind: 'new' };
    {
      const row = await this.db.get<{ body_hash: string; state: string; status: number | null; response_json: string | null }>(
        'SELECT body_hash, state, status, response_json FROM http_idempotency WHERE user_id = ? AND route_id = ? AND idem_key = ?',
        userId,
        routeId,
        key,
      );
      if (!row) throw new HttpProblem('idempotency-in-progress', `a request with Idempotency-Key "${key}" is being retried meanwhile; retry shortly`);
      if (row.body_hash !== bodyHash) {
        throw new HttpProblem('idempotency-key-reused', `Idempotency-Key "${key}" was already used for a different request; use a new key for a new request`);
      }
      if (row.state === 'pending') {
        const stale = new Date(Date.parse(now) - this.staleAfterMs).toISOString();
        const taken = await this.db.run(
          "UPDATE http_idempotency SET created_at = ? WHERE user_id = ? AND route_id = ? AND idem_key = ? AND state = 'pending' AND created_at <= ?",
          now,
          userId,
          routeId,
          key,
          stale,
        );
        if (taken === 1) return { kind: 'new' };
        throw new HttpProblem('idempotency-in-progress', `a request with Idempotency-Key "${key}" is still being processed; retry shortly`);
      }
      return { kind: 'replay', status: row.status!, body: row.response_json ? JSON.parse(row.response_json) : null };
    }
  }

  async finish(userId: string, routeId: string, key: string, status: number, body: unknown): Promise<void> {
    await this.db.run("UPDATE http_idempotency SET state = 'done', status = ?, response_json = ? WHERE user_id = ? AND route_id = ? AND idem_key = ?", status, JSON.stringify(body ?? null), userId, routeId, key);
  }

  /** Server-side failures do not consume the key: the client may retry. */
  async release(userId: string, routeId: string, key: string): Promise<void> {
    await this.db.run("DELETE FROM http_idempotency WHERE user_id = ? AND route_id = ? AND idem_key = ? AND state = 'pending'", userId, routeId, key);
  }

  /** Embedded mode, after a crash: pending reservations belong to requests that will never finish. */
  async clearPending(): Promise<number> {
    return this.db.run("DELETE FROM http_idempotency WHERE state = 'pending'");
  }
}
