import Database from 'better-sqlite3';
import { DomainError } from '../../contracts/errors.js';

/**
 * The enclave's own ε/δ ledger (authoritative; the server's copy is informational). One SQLite file in the
 * enclave's data dir. A charge and the release it pays for are written in ONE immediate transaction together
 * with the released output: if producing the output throws, nothing is charged and nothing was released;
 * a retry with the same charge key gets the stored output back (same noise) and pays nothing again.
 * ε is stored in integer micro-ε so that ten charges of 0.1 add up to exactly 1.
 */

const MICRO = 1_000_000;
const toMicro = (eps: number): number => Math.round(eps * MICRO);

export interface ChargeRequest {
  chargeKey: string;
  buyerOrgId: string;
  datasetId: string;
  epsilon: number;
  delta?: number;
  limitEpsilon: number;
  limitDelta?: number;
}

export interface ChargeOutcome<T> {
  result: T;
  /** true when the charge key was already paid and the stored output was returned */
  replayed: boolean;
  epsilonSpent: number;
  epsilonRemaining: number;
}

export class PrivacyBudgetLedger {
  private constructor(private readonly db: Database.Database) {}

  static open(file: string): PrivacyBudgetLedger {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS privacy_charge (
        charge_key    TEXT PRIMARY KEY,
        buyer_org_id  TEXT NOT NULL,
        dataset_id    TEXT NOT NULL,
        epsilon_micro INTEGER NOT NULL CHECK (epsilon_micro >= 0),
        delta         REAL NOT NULL DEFAULT 0,
        output_json   TEXT NOT NULL,
        created_at    TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS privacy_charge_by_pair ON privacy_charge (buyer_org_id, dataset_id);
    `);
    return new PrivacyBudgetLedger(db);
  }

  /** The underlying database, for the other enclave-side privacy tables (differencing state). */
  get database(): Database.Database {
    return this.db;
  }

  spent(buyerOrgId: string, datasetId: string): { epsilon: number; delta: number; charges: number } {
    const r = this.db
      .prepare(
        `SELECT COALESCE(SUM(epsilon_micro),0) AS e, COALESCE(SUM(delta),0) AS d, COUNT(*) AS n
           FROM privacy_charge WHERE buyer_org_id = ? AND dataset_id = ?`,
      )
      .get(buyerOrgId, datasetId) as { e: number; d: number; n: number };
    return { epsilon: r.e / MICRO, delta: r.d, charges: r.n };
  }

  /**
   * Charge `req.epsilon` and run `produce` (which draws the noise and builds the released output) atomically.
   * Refuses with `privacy-budget-exhausted` before `produce` runs when the charge would exceed the limit.
   */
  charge<T>(req: ChargeRequest, produce: () => T): ChargeOutcome<T> {
    if (!(req.epsilon >= 0) || !(req.limitEpsilon >= 0)) {
      throw new DomainError('privacy-invalid-parameter', 'epsilon and its limit must be ≥ 0', { ...req });
    }
    const run = this.db.transaction((): ChargeOutcome<T> => {
      const prior = this.db
        .prepare(`SELECT buyer_org_id, dataset_id, epsilon_micro, output_json FROM privacy_charge WHERE charge_key = ?`)
        .get(req.chargeKey) as { buyer_org_id: string; dataset_id: string; epsilon_micro: number; output_json: string } | undefined;
      const spentBefore = this.spent(req.buyerOrgId, req.datasetId);
      if (prior) {
        if (prior.buyer_org_id !== req.buyerOrgId || prior.dataset_id !== req.datasetId || prior.epsilon_micro !== toMicro(req.epsilon)) {
          throw new DomainError('privacy-charge-conflict', `charge key ${req.chargeKey} was used for a different charge`, {
            chargeKey: req.chargeKey,
          });
        }
        return {
          result: JSON.parse(prior.output_json) as T,
          replayed: true,
          epsilonSpent: req.epsilon,
          epsilonRemaining: Math.max(0, (toMicro(req.limitEpsilon) - toMicro(spentBefore.epsilon)) / MICRO),
        };
      }
      const after = toMicro(spentBefore.epsilon) + toMicro(req.epsilon);
      if (after > toMicro(req.limitEpsilon)) {
        throw new DomainError('privacy-budget-exhausted', `privacy budget spent: ${spentBefore.epsilon} of ε ${req.limitEpsilon} used, this release needs ${req.epsilon}`, {
          buyerOrgId: req.buyerOrgId,
          datasetId: req.datasetId,
          epsilonSpent: spentBefore.epsilon,
          epsilonLimit: req.limitEpsilon,
          epsilonRequested: req.epsilon,
        });
      }
      const delta = req.delta ?? 0;
      if (req.limitDelta !== undefined && spentBefore.delta + delta > req.limitDelta * (1 + 1e-12)) {
        throw new DomainError('privacy-budget-exhausted', `delta budget spent: ${spentBefore.delta} of δ ${req.limitDelta}`, {
          buyerOrgId: req.buyerOrgId,
          datasetId: req.datasetId,
        });
      }
      const result = produce();
      this.db
        .prepare(
          `INSERT INTO privacy_charge (charge_key, buyer_org_id, dataset_id, epsilon_micro, delta, output_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(req.chargeKey, req.buyerOrgId, req.datasetId, toMicro(req.epsilon), delta, JSON.stringify(result), new Date().toISOString());
      return { result, replayed: false, epsilonSpent: req.epsilon, epsilonRemaining: (toMicro(req.limitEpsilon) - after) / MICRO };
    });
    return run.immediate();
  }

  close(): void {
    this.db.close();
  }
}
