import type { Db } from '../store/db.js';
import { stmt } from '../store/statements.js';
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
  constructor(private readonly db: Db) {}

  static requestHash(params: unknown, body: unknown): string {
    return sm3Hex(canonicalJson({ params: params ?? null, body: body ?? null }));
  }

  begin(userId: string, routeId: string, key: string, bodyHash: string, now: string): IdemBegin {
    return this.db.transaction((): IdemBegin => {
      const row = stmt(this.db, 'SELECT body_hash, state, status, response_json FROM http_idempotency WHERE user_id = ? AND route_id = ? AND idem_key = ?')
        .get(userId, routeId, key) as { body_hash: string; state: string; status: number | null; response_json: string | null } | undefined;
      if (!row) {
        stmt(this.db, "INSERT INTO http_idempotency (user_id, route_id, idem_key, body_hash, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)")
          .run(userId, routeId, key, bodyHash, now);
        return { kind: 'new' };
      }
      if (row.body_hash !== bodyHash) {
        throw new HttpProblem('idempotency-key-reused', `Idempotency-Key "${key}" was already used for a different request; use a new key for a new request`);
      }
      if (row.state === 'pending') {
        throw new HttpProblem('idempotency-in-progress', `a request with Idempotency-Key "${key}" is still being processed; retry shortly`);
      }
      return { kind: 'replay', status: row.status!, body: row.response_json ? JSON.parse(row.response_json) : null };
    })();
  }

  finish(userId: string, routeId: string, key: string, status: number, body: unknown): void {
    stmt(this.db, "UPDATE http_idempotency SET state = 'done', status = ?, response_json = ? WHERE user_id = ? AND route_id = ? AND idem_key = ?")
      .run(status, JSON.stringify(body ?? null), userId, routeId, key);
  }

  /** Server-side failures do not consume the key: the client may retry. */
  release(userId: string, routeId: string, key: string): void {
    stmt(this.db, "DELETE FROM http_idempotency WHERE user_id = ? AND route_id = ? AND idem_key = ? AND state = 'pending'").run(userId, routeId, key);
  }

  /** After a crash, pending reservations belong to requests that will never finish. */
  clearPending(): number {
    return stmt(this.db, "DELETE FROM http_idempotency WHERE state = 'pending'").run().changes;
  }
}
