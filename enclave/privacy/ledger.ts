import { DomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import type { Store } from '../../store/engine.js';
import { openEnclaveState, type EnclaveState, type OpenEnclaveStateOptions } from '../state/state.js';

/**
 * The enclave's own ε/δ ledger (authoritative; the server's copy is informational), in the enclave's state store
 * (enclave/state: a SQLite file in the enclave's data dir, or its PostgreSQL schema in a cluster). A charge and the
 * release it pays for are written in ONE transaction together
 * with the released output: if producing the output throws, nothing is charged and nothing was released;
 * a retry with the same charge key gets the stored output back (same noise) and pays nothing again.
 * ε is stored in integer micro-ε so that ten charges of 0.1 add up to exactly 1.
 *
 * Budgets are kept on what was sealed — the dataset's content commitment — not on the listing: the same
 * bundle published twice shares one per-buyer budget and one dataset-wide budget. The same store records the
 * data-dependent refusals each buyer received (type and time, never values), which are limited per buyer.
 */

const MICRO = 1_000_000;
const toMicro = (eps: number): number => Math.round(eps * MICRO);
// ε is never charged below what the mechanisms draw (mechanisms.ts epsilonRational), nor a limit read above what
// was set: a charge rounds up to whole micro-ε (at least one), a limit down — past a double's representation
// error, as epsilonRational reads a whole number of micro-ε, so 0.3 stays 300,000
const dust = (x: number): number => 4 * Number.EPSILON * Math.max(1, x);
const chargeMicro = (eps: number): number => (eps > 0 ? Math.max(1, Math.ceil(eps * MICRO - dust(eps * MICRO))) : 0);
const limitMicro = (eps: number): number => Math.floor(eps * MICRO + dust(eps * MICRO));

export interface ChargeRequest {
  chargeKey: string;
  /** the approved trade the key is bound to (bindChargeKey); a charge under the key for another trade is refused */
  tradeId?: string;
  buyerOrgId: string;
  /** the listing the release was made under (recorded; matches charges made before budgets were keyed on content) */
  datasetId: string;
  /** what the budget is kept on: the dataset's content commitment; defaults to datasetId */
  datasetKey?: string;
  epsilon: number;
  delta?: number;
  /** this buyer's budget on the dataset */
  limitEpsilon: number;
  limitDelta?: number;
  /** the dataset-wide budget, across all buyers */
  datasetLimitEpsilon?: number;
  datasetLimitDelta?: number;
}

export interface ChargeOutcome<T> {
  result: T;
  /** true when the charge key was already paid and the stored output was returned */
  replayed: boolean;
  epsilonSpent: number;
  epsilonRemaining: number;
}

/**
 * Refusals whose occurrence depends on the data (or on other buyers' use of it): each is recorded against the
 * buyer and counts towards the offer's refusal allowance. Data-independent refusals (a malformed query, an
 * allowance already used up) are not.
 */
export const RECORDED_REFUSALS: ReadonlySet<string> = new Set([
  'privacy-differencing-refused',
  'privacy-budget-exhausted',
  'privacy-min-group-refused',
  'privacy-all-withheld',
  // whether some person has more rows than the per-person cap is a fact about the data
  'privacy-contribution-unbounded',
  // the buyer's query failed over the rows (enclave/sql/run.ts): whether it does is a fact about the data
  'privacy-execution-refused',
]);

/** A release's charge key: the server's, else one derived from the trade (bound to the trade either way). */
export const chargeKeyOf = (req: { trade: { tradeId: string }; budget?: { chargeKey: string } | undefined }): string => req.budget?.chargeKey ?? `trade:${req.trade.tradeId}`;

export interface RefusalRecord {
  /** the release's idempotency key (the trade): a retried job records its refusal once */
  chargeKey: string;
  tradeId: string;
  buyerOrgId: string;
  datasetKey: string;
  type: string;
}

/** A release's slot of the refusal allowance (reserveRefusalAllowance). */
export interface RefusalReservation {
  /** ends the slot of a release that was not refused (a refused one's slot became its refusal) */
  release(): Promise<void>;
}

const refusalLock = (buyerOrgId: string, datasetKey: string): string => `shuyu:enclave-refusal:${buyerOrgId}:${datasetKey}`;

/**
 * How long a slot of the refusal allowance holds without its release ending it: far beyond any release (the
 * sandbox's wall-time limit stops a run in minutes), so only a release that died is let go — one whose
 * buyer saw no answer — and a job that failed for good does not take a slot for ever.
 */
export const REFUSAL_SLOT_HOLD_MS = 24 * 3_600_000;

export class PrivacyBudgetLedger {
  constructor(
    private readonly state: EnclaveState,
    private readonly owned = false,
  ) {}

  /** Opens (and migrates) a state store of its own: a SQLite file path, ':memory:' or a postgres:// URL. */
  static async open(location: string, o: Omit<OpenEnclaveStateOptions, 'location'> = {}): Promise<PrivacyBudgetLedger> {
    return new PrivacyBudgetLedger(await openEnclaveState({ location, ...o }), true);
  }

  /** The enclave's state store, for the other enclave-side privacy tables (differencing, row maps, caps, 核验). */
  get store(): Store {
    return this.state.store;
  }

  /**
   * Bind a release's charge key to its approved trade and computation, or refuse with `privacy-charge-conflict`.
   * The key comes from the server, and it decides which stored output a release replays and which refusal is
   * the release's own (not counted against the allowance); the approval binds the trade id to one computation.
   * Keys and trades are bound one to one, at first use, before any row is read: a key used by another trade,
   * a trade sent under another key, or a key sent with another computation is refused, so every key stands for
   * exactly one approved trade. Decided from the requests alone: neither recorded nor charged.
   */
  async bindChargeKey(c: { chargeKey: string; tradeId: string; computationHash: string }): Promise<void> {
    const db = this.store;
    const conflict = await db.transaction(async (): Promise<string | null> => {
      const byKey = await db.get<{ trade_id: string; computation_hash: string }>(`SELECT trade_id, computation_hash FROM privacy_charge_key WHERE charge_key = ?`, c.chargeKey);
      if (byKey) {
        if (byKey.trade_id !== c.tradeId) return 'was used by another trade';
        if (byKey.computation_hash !== c.computationHash) return 'was used for another computation';
        return null;
      }
      const byTrade = await db.get<{ charge_key: string }>(`SELECT charge_key FROM privacy_charge_key WHERE trade_id = ?`, c.tradeId);
      if (byTrade) return 'is not the key this trade was released under';
      // keys used before binding: a refusal recorded under the key names its trade; a charge made then names
      // none, and the server keyed those by trade id, so only that trade may replay it
      const legacy = await db.get<{ trade_id: string }>(`SELECT trade_id FROM privacy_refusal WHERE charge_key = ?`, c.chargeKey);
      if (legacy && legacy.trade_id !== c.tradeId) return 'was used by another trade';
      const charged = await db.get<{ trade_id: string | null }>(`SELECT trade_id FROM privacy_charge WHERE charge_key = ?`, c.chargeKey);
      if (charged && (charged.trade_id ?? (c.chargeKey === `trade:${c.tradeId}` ? c.tradeId : null)) !== c.tradeId) return 'was used by another trade';
      await db.run(`INSERT INTO privacy_charge_key (charge_key, trade_id, computation_hash, created_at) VALUES (?, ?, ?, ?)`, c.chargeKey, c.tradeId, c.computationHash, new Date().toISOString());
      return null;
    }, { lock: `shuyu:enclave-charge-key:${c.chargeKey}` });
    if (conflict) {
      throw new DomainError('privacy-charge-conflict', `release refused: the charge key ${conflict}; a charge key belongs to one approved trade and computation`, {
        chargeKey: c.chargeKey,
        tradeId: c.tradeId,
      });
    }
  }

  /**
   * What a buyer has been charged on a dataset (`datasetKey`: its commitment, or a listing id for charges made
   * before budgets were keyed on content); `datasetId` also matches such older charges of that listing.
   */
  async spent(buyerOrgId: string, datasetKey: string, datasetId: string = datasetKey): Promise<{ epsilon: number; delta: number; charges: number }> {
    const r = (await this.store.get<{ e: number; d: number; n: number }>(
      `SELECT COALESCE(SUM(epsilon_micro),0) AS e, COALESCE(SUM(delta),0) AS d, COUNT(*) AS n
         FROM privacy_charge WHERE buyer_org_id = ? AND (dataset_key = ? OR (dataset_key IS NULL AND dataset_id IN (?, ?)))`,
      buyerOrgId,
      datasetKey,
      datasetId,
      datasetKey,
    ))!;
    return { epsilon: Number(r.e) / MICRO, delta: Number(r.d), charges: Number(r.n) };
  }

  /** What all buyers together have been charged on a dataset. */
  async spentByAll(datasetKey: string, datasetId: string = datasetKey): Promise<{ epsilon: number; delta: number; charges: number }> {
    const r = (await this.store.get<{ e: number; d: number; n: number }>(
      `SELECT COALESCE(SUM(epsilon_micro),0) AS e, COALESCE(SUM(delta),0) AS d, COUNT(*) AS n
         FROM privacy_charge WHERE dataset_key = ? OR (dataset_key IS NULL AND dataset_id IN (?, ?))`,
      datasetKey,
      datasetId,
      datasetKey,
    ))!;
    return { epsilon: Number(r.e) / MICRO, delta: Number(r.d), charges: Number(r.n) };
  }

  /**
   * The dataset-wide limit in force for what was sealed: the smallest ever presented with a charge, whatever
   * listing presented it, so republishing a bundle under a listing with a larger total buys no more budget.
   * Called inside the charge transaction: it is kept only when a charge is committed.
   */
  private async datasetLimit(key: string, epsilon: number | undefined, delta: number | undefined): Promise<{ epsilon?: number; delta?: number }> {
    const row = await this.store.get<{ epsilon_micro: number | null; delta: number | null }>(`SELECT epsilon_micro, delta FROM privacy_dataset_limit WHERE dataset_key = ?`, key);
    const min = (a: number | undefined, b: number | null | undefined): number | undefined =>
      a === undefined ? (b ?? undefined) : b === null || b === undefined ? a : Math.min(a, b);
    const epsMicro = min(epsilon === undefined ? undefined : limitMicro(epsilon), row?.epsilon_micro);
    const d = min(delta, row?.delta);
    await this.store.run(
      `INSERT INTO privacy_dataset_limit (dataset_key, epsilon_micro, delta) VALUES (?, ?, ?)
       ON CONFLICT (dataset_key) DO UPDATE SET epsilon_micro = excluded.epsilon_micro, delta = excluded.delta`,
      key,
      epsMicro ?? null,
      d ?? null,
    );
    return { ...(epsMicro !== undefined ? { epsilon: epsMicro / MICRO } : {}), ...(d !== undefined ? { delta: d } : {}) };
  }

  /**
   * Charge `req.epsilon` against the buyer's AND the dataset-wide budget and run `produce` (which draws the
   * noise, builds the released output and records the differencing history), all in one transaction. Refuses
   * with `privacy-budget-exhausted` (detail.limit says which) before `produce` runs when either would be exceeded.
   */
  async charge<T>(req: ChargeRequest, produce: () => T | Promise<T>): Promise<ChargeOutcome<T>> {
    if (!(req.epsilon >= 0) || !(req.limitEpsilon >= 0) || (req.datasetLimitEpsilon !== undefined && !(req.datasetLimitEpsilon >= 0))) {
      throw new DomainError('privacy-invalid-parameter', 'epsilon and its limits must be ≥ 0', { ...req });
    }
    const key = req.datasetKey ?? req.datasetId;
    const db = this.store;
    const run = async (): Promise<ChargeOutcome<T>> => {
      const prior = await db.get<{ buyer_org_id: string; dataset_id: string; dataset_key: string | null; epsilon_micro: number; output_json: string; trade_id: string | null }>(
        `SELECT buyer_org_id, dataset_id, dataset_key, epsilon_micro, output_json, trade_id FROM privacy_charge WHERE charge_key = ?`,
        req.chargeKey,
      );
      // the key's approved trade and computation (bindChargeKey, at the release front)
      const bound = req.tradeId === undefined ? undefined : await this.boundChargeKey(req.chargeKey);
      if (bound && bound.tradeId !== req.tradeId) {
        throw new DomainError('privacy-charge-conflict', `charge key ${req.chargeKey} is not bound to this trade`, { chargeKey: req.chargeKey });
      }
      const spentBefore = await this.spent(req.buyerOrgId, key, req.datasetId);
      if (prior) {
        const otherTrade = req.tradeId !== undefined && prior.trade_id !== null && prior.trade_id !== req.tradeId;
        if (otherTrade || prior.buyer_org_id !== req.buyerOrgId || (prior.dataset_key ?? prior.dataset_id) !== key || Number(prior.epsilon_micro) !== chargeMicro(req.epsilon)) {
          throw new DomainError('privacy-charge-conflict', `charge key ${req.chargeKey} was used for a different charge`, {
            chargeKey: req.chargeKey,
          });
        }
        return {
          result: JSON.parse(prior.output_json) as T,
          replayed: true,
          epsilonSpent: req.epsilon,
          epsilonRemaining: Math.max(0, (limitMicro(req.limitEpsilon) - toMicro(spentBefore.epsilon)) / MICRO),
        };
      }
      const delta = req.delta ?? 0;
      const exhausted = (limit: 'buyer' | 'dataset', what: string, detail: Record<string, unknown>): DomainError =>
        new DomainError('privacy-budget-exhausted', what, { limit, buyerOrgId: req.buyerOrgId, datasetId: req.datasetId, datasetKey: key, ...detail });
      const after = toMicro(spentBefore.epsilon) + chargeMicro(req.epsilon);
      if (after > limitMicro(req.limitEpsilon)) {
        throw exhausted('buyer', `privacy budget spent: ${spentBefore.epsilon} of this buyer's ε ${req.limitEpsilon} used, this release needs ${req.epsilon}`, {
          epsilonSpent: spentBefore.epsilon,
          epsilonLimit: req.limitEpsilon,
          epsilonRequested: req.epsilon,
        });
      }
      if (req.limitDelta !== undefined && spentBefore.delta + delta > req.limitDelta * (1 + 1e-12)) {
        throw exhausted('buyer', `delta budget spent: ${spentBefore.delta} of this buyer's δ ${req.limitDelta}`, { deltaSpent: spentBefore.delta, deltaLimit: req.limitDelta });
      }
      if (req.datasetLimitEpsilon !== undefined || req.datasetLimitDelta !== undefined) {
        const all = await this.spentByAll(key, req.datasetId);
        const limit = await this.datasetLimit(key, req.datasetLimitEpsilon, req.datasetLimitDelta);
        if (limit.epsilon !== undefined && toMicro(all.epsilon) + chargeMicro(req.epsilon) > toMicro(limit.epsilon)) {
          throw exhausted('dataset', `the dataset's privacy budget is spent: ${all.epsilon} of ε ${limit.epsilon} used by all buyers, this release needs ${req.epsilon}`, {
            epsilonSpent: all.epsilon,
            epsilonLimit: limit.epsilon,
            epsilonRequested: req.epsilon,
          });
        }
        if (limit.delta !== undefined && all.delta + delta > limit.delta * (1 + 1e-12)) {
          throw exhausted('dataset', `the dataset's δ budget is spent: ${all.delta} of δ ${limit.delta} used by all buyers`, {
            deltaSpent: all.delta,
            deltaLimit: limit.delta,
          });
        }
      }
      const result = await produce();
      await db.run(
        `INSERT INTO privacy_charge (charge_key, buyer_org_id, dataset_id, dataset_key, epsilon_micro, delta, output_json, created_at, trade_id, computation_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        req.chargeKey,
        req.buyerOrgId,
        req.datasetId,
        key,
        chargeMicro(req.epsilon),
        delta,
        JSON.stringify(result),
        new Date().toISOString(),
        req.tradeId ?? null,
        bound?.computationHash ?? null,
      );
      return { result, replayed: false, epsilonSpent: req.epsilon, epsilonRemaining: (limitMicro(req.limitEpsilon) - after) / MICRO };
    };
    // PostgreSQL: charges on one dataset key queue on an advisory lock taken before the transaction's snapshot, so
    // each reads every earlier charge and SERIALIZABLE (still on) need not abort and re-run produce under contention.
    return db.transaction(run, { lock: `shuyu:enclave-budget:${key}` });
  }

  /** The trade and computation a charge key is bound to, if any. */
  async boundChargeKey(chargeKey: string): Promise<{ tradeId: string; computationHash: string } | undefined> {
    return this.store.get<{ tradeId: string; computationHash: string }>(
      `SELECT trade_id AS "tradeId", computation_hash AS "computationHash" FROM privacy_charge_key WHERE charge_key = ?`,
      chargeKey,
    );
  }

  /**
   * Record a data-dependent refusal in its own transaction (the release it refused was rolled back), turning the
   * release's allowance reservation (reserveRefusalAllowance) into it in the same transaction.
   * Idempotent per charge key: a retried job that is refused again does not count twice.
   */
  async recordRefusal(r: RefusalRecord): Promise<boolean> {
    const db = this.store;
    return db.transaction(async () => {
      const added = await db.run(
        `INSERT INTO privacy_refusal (charge_key, trade_id, buyer_org_id, dataset_key, type, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (charge_key) DO NOTHING`,
        r.chargeKey,
        r.tradeId,
        r.buyerOrgId,
        r.datasetKey,
        r.type,
        new Date().toISOString(),
      );
      await db.run(`DELETE FROM privacy_refusal_reservation WHERE charge_key = ?`, r.chargeKey);
      return added === 1;
    }, { lock: refusalLock(r.buyerOrgId, r.datasetKey) });
  }

  /** The buyer's recorded refusals on a dataset, oldest first (types and times only). */
  async refusals(buyerOrgId: string, datasetKey: string): Promise<{ chargeKey: string; tradeId: string; type: string; at: string }[]> {
    return this.store.all<{ chargeKey: string; tradeId: string; type: string; at: string }>(
      `SELECT charge_key AS "chargeKey", trade_id AS "tradeId", type, created_at AS at FROM privacy_refusal WHERE buyer_org_id = ? AND dataset_key = ? ORDER BY created_at, charge_key`,
      buyerOrgId,
      datasetKey,
    );
  }

  /**
   * Refuse with `privacy-refusal-allowance-exhausted` when the buyer's recorded refusals on this dataset plus the
   * releases of theirs still running under the allowance reach `allowance` (this release's own not counted, so a
   * retried job is judged as it was the first time); else hold one slot for this release until it ends.
   * Decided from the counts alone, before any row is opened: the refusal itself says nothing about the data.
   * Count and reservation are one transaction under a lock per buyer × dataset, so releases running at once on
   * any number of enclaves cannot each be admitted on the same last slot (each refusal is one bit about the data).
   * The slot ends with release() (the release was not refused) or recordRefusal (it becomes the refusal).
   */
  async reserveRefusalAllowance(c: { buyerOrgId: string; datasetKey: string; allowance: number; chargeKey: string; now?: Date }): Promise<RefusalReservation> {
    const db = this.store;
    const attempt = newId();
    const now = c.now ?? new Date();
    await db.transaction(async () => {
      const count = async (table: string, since = ''): Promise<number> =>
        Number(
          (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE buyer_org_id = ? AND dataset_key = ? AND charge_key <> ? AND created_at >= ?`, c.buyerOrgId, c.datasetKey, c.chargeKey, since))!.n,
        );
      const used = await count('privacy_refusal');
      // slots of releases still running (REFUSAL_SLOT_HOLD_MS: a dead one's is let go after that)
      const pending = await count('privacy_refusal_reservation', new Date(now.getTime() - REFUSAL_SLOT_HOLD_MS).toISOString());
      if (used + pending >= c.allowance) {
        throw new DomainError(
          'privacy-refusal-allowance-exhausted',
          `refused: this buyer has already received ${used} privacy refusal(s) on this dataset${pending > 0 ? ` and has ${pending} release(s) running that may be refused` : ''}, the offer allows ${c.allowance}`,
          { refusalsUsed: used, refusalsPending: pending, refusalAllowance: c.allowance },
        );
      }
      // a key refused before holds its slot by that refusal: its retry is not counted twice
      if (await db.get(`SELECT 1 AS one FROM privacy_refusal WHERE charge_key = ?`, c.chargeKey)) return;
      // a release that died without ending its slot leaves it held (the count stays conservatively high) until
      // a retry under the same charge key takes it over, or REFUSAL_SLOT_HOLD_MS has passed
      await db.run(
        `INSERT INTO privacy_refusal_reservation (charge_key, buyer_org_id, dataset_key, attempt, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (charge_key) DO UPDATE SET buyer_org_id = excluded.buyer_org_id, dataset_key = excluded.dataset_key, attempt = excluded.attempt, created_at = excluded.created_at`,
        c.chargeKey,
        c.buyerOrgId,
        c.datasetKey,
        attempt,
        now.toISOString(),
      );
    }, { lock: refusalLock(c.buyerOrgId, c.datasetKey) });
    // only this attempt's slot: a retry that took the key's slot over keeps it while it runs
    return { release: async () => void (await db.run(`DELETE FROM privacy_refusal_reservation WHERE charge_key = ? AND attempt = ?`, c.chargeKey, attempt)) };
  }

  /**
   * Run a release; when it is refused for a data-dependent reason (RECORDED_REFUSALS), record the refusal
   * — after the release's own transaction rolled back — and rethrow.
   */
  async recordingRefusals<T>(who: Omit<RefusalRecord, 'type'>, release: () => Promise<T>): Promise<T> {
    try {
      return await release();
    } catch (e) {
      if (e instanceof DomainError && RECORDED_REFUSALS.has(e.type)) await this.recordRefusal({ ...who, type: e.type });
      throw e;
    }
  }

  /** Closes the store when this ledger opened it. */
  async close(): Promise<void> {
    if (this.owned) await this.state.close();
  }
}
