import { DomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import type { Store } from '../../store/engine.js';

/**
 * The enclave's own record of verification calls: every call is written (answered or refused) and calls are
 * rate-limited per buyer per dataset in a sliding window — the limit lives where the answers are produced,
 * so a server bug cannot turn verify into a bulk lookup. Only column NAMES are recorded, never the values.
 */

export interface VerifyRateLimit {
  maxCalls: number;
  windowMs: number;
}

export const DEFAULT_VERIFY_RATE_LIMIT: VerifyRateLimit = { maxCalls: 60, windowMs: 60 * 60 * 1000 };

/**
 * The limit a call is admitted under. The approval states no verify limit, so the enclave's own is the ceiling:
 * the server may ask for a tighter one (an offer's stricter per-buyer limit: no more calls in no shorter a window)
 * and never a looser one, which is refused from the request alone. Every call admitted under a tighter limit
 * passes the ceiling's check too: a window of the ceiling's length lies inside one of the tighter limit's.
 */
export function verifyRateLimitOf(requested: VerifyRateLimit | undefined): VerifyRateLimit {
  const ceiling = DEFAULT_VERIFY_RATE_LIMIT;
  if (!requested) return ceiling;
  if (requested.maxCalls > ceiling.maxCalls || requested.windowMs < ceiling.windowMs) {
    throw new DomainError(
      'release-refused',
      `a verify rate limit looser than the enclave's (${ceiling.maxCalls} per ${ceiling.windowMs / 60000} min per buyer and dataset) is refused: the approval states none`,
      { maxCalls: requested.maxCalls, windowMs: requested.windowMs },
    );
  }
  return requested;
}

export class VerifyCallLog {
  /** `db`: the enclave's state store (PrivacyBudgetLedger.store). */
  constructor(private readonly db: Store) {}

  /** Reserve a call slot (atomically) or refuse with `verify-rate-limited`; the refusal is recorded too. */
  async admit(c: { tradeId: string; buyerOrgId: string; datasetId: string; columns: string[]; now: Date; limit: VerifyRateLimit }): Promise<string> {
    const id = newId();
    // PostgreSQL: one buyer's calls on one dataset queue on an advisory lock, so two enclaves never both take the last slot
    const outcome = await this.db.transaction(async (): Promise<string> => {
      const since = c.now.getTime() - c.limit.windowMs;
      const used = Number(
        (await this.db.get<{ n: number }>(
          `SELECT COUNT(*) AS n FROM verify_call WHERE buyer_org_id = ? AND dataset_id = ? AND at_ms > ? AND outcome <> 'rate-limited'`,
          c.buyerOrgId,
          c.datasetId,
          since,
        ))!.n,
      );
      const outcome = used >= c.limit.maxCalls ? 'rate-limited' : 'answered';
      await this.db.run(
        `INSERT INTO verify_call (id, trade_id, buyer_org_id, dataset_id, columns, outcome, at, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        id,
        c.tradeId,
        c.buyerOrgId,
        c.datasetId,
        JSON.stringify([...c.columns].sort()),
        outcome,
        c.now.toISOString(),
        c.now.getTime(),
      );
      return outcome;
    }, { lock: `shuyu:enclave-verify:${c.buyerOrgId}:${c.datasetId}` });
    if (outcome === 'rate-limited') {
      throw new DomainError('verify-rate-limited', `at most ${c.limit.maxCalls} verifications per ${Math.round(c.limit.windowMs / 60000)} min for this buyer on this dataset`, {
        retryAfterMs: c.limit.windowMs,
      });
    }
    return id;
  }

  /** Mark a reserved call as failed (it still counts against the limit: the rows were opened). */
  async failed(id: string): Promise<void> {
    await this.db.run(`UPDATE verify_call SET outcome = 'failed' WHERE id = ?`, id);
  }

  async calls(buyerOrgId: string, datasetId: string): Promise<{ id: string; tradeId: string; columns: string[]; outcome: string; at: string }[]> {
    const rows = await this.db.all<{ id: string; tradeId: string; columns: string; outcome: string; at: string }>(
      `SELECT id, trade_id AS "tradeId", columns, outcome, at FROM verify_call WHERE buyer_org_id = ? AND dataset_id = ? ORDER BY at_ms, id`,
      buyerOrgId,
      datasetId,
    );
    return rows.map((r) => ({ ...r, columns: JSON.parse(r.columns) as string[] }));
  }
}
