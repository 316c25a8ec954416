import { canonicalJson, sm3Hex } from '../../crypto/index.js';
import type { AuditLog } from '../audit/log.js';
import { DomainError } from '../errors.js';
import { type Clock, newId } from '../ids.js';
import type { LedgerMemoCode, ReasonParams } from '../reasons.js';

/** The ledger's storage port (contracts/store.ts gathers the ports; the SQLite adapter implements them). */
export interface LedgerStore {
  account(id: string): Promise<LedgerAccount | undefined>;
  /** Creates the account with balance 0 if it does not exist. */
  ensureAccount(account: Omit<LedgerAccount, 'balance'>): Promise<void>;
  transactionByKey(idempotencyKey: string): Promise<LedgerTransaction | undefined>;
  /**
   * Appends the transaction with its entries and applies the entries to the balances. The domain has
   * already checked balance and limits; the store's own constraints are a last line of defence.
   */
  post(txn: LedgerTransaction): Promise<void>;
  /** Journal in posting order; `accountId` filters to transactions touching that account. */
  transactions(filter: { accountId?: string; tradeId?: string; afterSeq?: number; limit?: number }): Promise<LedgerTransaction[]>;
  accounts(filter?: { ownerId?: string }): Promise<LedgerAccount[]>;
}

/**
 * Settlement ledger: double entry in integer fen. Accounts:
 *   wallet:<orgId>   a buyer's spendable money            (never negative)
 *   escrow:<tradeId> money held for one trade             (never negative; 0 once captured or released)
 *   revenue:<orgId>  an owner's earnings                  (never negative)
 *   fee:platform     the platform's fees                  (never negative)
 *   external:topup   the outside world money comes from  (the only account allowed below 0: it is
 *                    the contra account of every top-up, so the sum of ALL balances is always 0)
 * Every transaction's entries sum to zero; every step carries an idempotency key and happens at
 * most once: the same key with the same request returns the first result, with another request it
 * is refused. Each posting appends its audit event in the same store transaction.
 */

export type AccountKind = 'wallet' | 'escrow' | 'revenue' | 'fee' | 'external';
export interface LedgerAccount {
  id: string;
  kind: AccountKind;
  ownerId: string;
  balance: number;
}
export interface LedgerEntry {
  accountId: string;
  /** fen; negative = money leaves the account, positive = money arrives. */
  amount: number;
}
export type LedgerTxnKind = 'top-up' | 'hold' | 'release' | 'capture';
export interface LedgerTransaction {
  id: string;
  seq?: number;
  idempotencyKey: string;
  kind: LedgerTxnKind;
  tradeId: string | null;
  /** English text (as before codes); `code` and `params` say the same for the message catalogue. */
  memo: string;
  code: LedgerMemoCode;
  params: ReasonParams;
  requestHash: string;
  at: string;
  entries: LedgerEntry[];
}

export const accountIds = {
  wallet: (orgId: string) => `wallet:${orgId}`,
  escrow: (tradeId: string) => `escrow:${tradeId}`,
  revenue: (orgId: string) => `revenue:${orgId}`,
  fee: 'fee:platform',
  topup: 'external:topup',
};

const kindOf = (accountId: string): AccountKind => accountId.slice(0, accountId.indexOf(':')) as AccountKind;
const ownerOf = (accountId: string): string => accountId.slice(accountId.indexOf(':') + 1);

function assertFen(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new DomainError('invalid-amount', `${what} must be a positive whole number of fen`, { amount });
  }
}

export class Ledger {
  constructor(
    private readonly store: LedgerStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly transaction: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async balance(accountId: string): Promise<number> {
    return (await this.store.account(accountId))?.balance ?? 0;
  }

  /** The operator credits an organisation's wallet (money arriving from outside). */
  topUp(input: { orgId: string; amountFen: number; idempotencyKey: string; actor: string; memo?: string }): Promise<LedgerTransaction> {
    assertFen(input.amountFen, 'a top-up');
    return this.post({
      kind: 'top-up',
      idempotencyKey: input.idempotencyKey,
      tradeId: null,
      memo: input.memo ?? 'top-up',
      code: input.memo ? 'ledger.top-up-memo' : 'ledger.top-up',
      params: { amountFen: input.amountFen, ...(input.memo ? { memo: input.memo } : {}) },
      actor: input.actor,
      entries: [
        { accountId: accountIds.topup, amount: -input.amountFen },
        { accountId: accountIds.wallet(input.orgId), amount: input.amountFen },
      ],
    });
  }

  /** Moves the trade's price from the buyer's wallet into the trade's escrow. */
  async hold(input: { tradeId: string; buyerOrgId: string; amountFen: number; actor: string }): Promise<LedgerTransaction | null> {
    if (input.amountFen === 0) return null; // a free trade holds nothing
    assertFen(input.amountFen, 'a hold');
    return this.post({
      kind: 'hold',
      idempotencyKey: `hold:${input.tradeId}`,
      tradeId: input.tradeId,
      memo: 'hold on submit',
      code: 'ledger.hold',
      params: { amountFen: input.amountFen },
      actor: input.actor,
      entries: [
        { accountId: accountIds.wallet(input.buyerOrgId), amount: -input.amountFen },
        { accountId: accountIds.escrow(input.tradeId), amount: input.amountFen },
      ],
    });
  }

  /** Returns whatever the trade's escrow holds to the buyer (reject, fail, expire, cancel). */
  async release(input: { tradeId: string; buyerOrgId: string; actor: string; memo: string; code: LedgerMemoCode }): Promise<LedgerTransaction | null> {
    const existing = await this.store.transactionByKey(`release:${input.tradeId}`);
    if (existing) return existing;
    const held = await this.balance(accountIds.escrow(input.tradeId));
    if (held === 0) return null;
    return this.post({
      kind: 'release',
      idempotencyKey: `release:${input.tradeId}`,
      tradeId: input.tradeId,
      memo: input.memo,
      code: input.code,
      params: { amountFen: held },
      actor: input.actor,
      entries: [
        { accountId: accountIds.escrow(input.tradeId), amount: -held },
        { accountId: accountIds.wallet(input.buyerOrgId), amount: held },
      ],
    });
  }

  /** On delivery: the escrow goes to the owner (share) and the platform (fee); the two must add up to what is held. */
  async capture(input: { tradeId: string; ownerOrgId: string; ownerShareFen: number; platformFeeFen: number; actor: string }): Promise<LedgerTransaction | null> {
    const existing = await this.store.transactionByKey(`capture:${input.tradeId}`);
    if (existing) return existing;
    const held = await this.balance(accountIds.escrow(input.tradeId));
    if (input.ownerShareFen + input.platformFeeFen !== held) {
      throw new DomainError('capture-mismatch', 'owner share plus fee must equal the amount held', {
        tradeId: input.tradeId,
        held,
        ownerShareFen: input.ownerShareFen,
        platformFeeFen: input.platformFeeFen,
      });
    }
    return this.captureEscrow({
      ...input,
      held,
      memo: 'capture on delivery',
      code: 'ledger.capture',
      params: { ownerShareFen: input.ownerShareFen, platformFeeFen: input.platformFeeFen },
    });
  }

  /**
   * On a privacy refusal: the trade's refusal charge goes to the owner and the platform (split as the price is),
   * the rest of the escrow back to the buyer — one posting, under the trade's capture key, so a trade is charged
   * at most once whether it is delivered or refused.
   */
  async chargeRefusal(input: {
    tradeId: string;
    buyerOrgId: string;
    ownerOrgId: string;
    chargeFen: number;
    ownerShareFen: number;
    platformFeeFen: number;
    actor: string;
  }): Promise<LedgerTransaction | null> {
    const existing = await this.store.transactionByKey(`capture:${input.tradeId}`);
    if (existing) return existing;
    const held = await this.balance(accountIds.escrow(input.tradeId));
    if (input.ownerShareFen + input.platformFeeFen !== input.chargeFen || input.chargeFen > held || input.ownerShareFen < 0 || input.platformFeeFen < 0) {
      throw new DomainError('capture-mismatch', 'a refusal charge is owner share plus fee, and at most what is held', {
        tradeId: input.tradeId,
        held,
        chargeFen: input.chargeFen,
        ownerShareFen: input.ownerShareFen,
        platformFeeFen: input.platformFeeFen,
      });
    }
    return this.captureEscrow({
      ...input,
      held,
      refund: { buyerOrgId: input.buyerOrgId, fen: held - input.chargeFen },
      memo: `privacy refusal: ${input.chargeFen} fen charged, ${held - input.chargeFen} fen returned`,
      code: 'ledger.refusal-charge',
      params: { chargedFen: input.chargeFen, returnedFen: held - input.chargeFen, ownerShareFen: input.ownerShareFen, platformFeeFen: input.platformFeeFen },
    });
  }

  /** Empty a trade's escrow to the owner's share and the platform's fee (and a refund), under its capture key. */
  private captureEscrow(c: {
    tradeId: string;
    ownerOrgId: string;
    ownerShareFen: number;
    platformFeeFen: number;
    held: number;
    refund?: { buyerOrgId: string; fen: number };
    memo: string;
    code: LedgerMemoCode;
    params: ReasonParams;
    actor: string;
  }): Promise<LedgerTransaction | null> {
    if (c.held === 0) return Promise.resolve(null);
    const entries: LedgerEntry[] = [{ accountId: accountIds.escrow(c.tradeId), amount: -c.held }];
    if (c.ownerShareFen > 0) entries.push({ accountId: accountIds.revenue(c.ownerOrgId), amount: c.ownerShareFen });
    if (c.platformFeeFen > 0) entries.push({ accountId: accountIds.fee, amount: c.platformFeeFen });
    if (c.refund && c.refund.fen > 0) entries.push({ accountId: accountIds.wallet(c.refund.buyerOrgId), amount: c.refund.fen });
    return this.post({ kind: 'capture', idempotencyKey: `capture:${c.tradeId}`, tradeId: c.tradeId, memo: c.memo, code: c.code, params: c.params, actor: c.actor, entries });
  }

  private post(req: {
    kind: LedgerTxnKind;
    idempotencyKey: string;
    tradeId: string | null;
    memo: string;
    code: LedgerMemoCode;
    params: ReasonParams;
    actor: string;
    entries: LedgerEntry[];
  }): Promise<LedgerTransaction> {
    if (!req.idempotencyKey || req.idempotencyKey.length > 200) {
      throw new DomainError('invalid-idempotency-key', 'an idempotency key of 1–200 characters is required');
    }
    const requestHash = sm3Hex(canonicalJson({ kind: req.kind, tradeId: req.tradeId, entries: req.entries }));
    return this.transaction(async () => {
      const prior = await this.store.transactionByKey(req.idempotencyKey);
      if (prior) {
        if (prior.requestHash !== requestHash) {
          throw new DomainError('idempotency-conflict', 'this idempotency key was already used for a different request', {
            idempotencyKey: req.idempotencyKey,
          });
        }
        return prior;
      }
      if (req.entries.reduce((s, e) => s + e.amount, 0) !== 0) {
        throw new DomainError('unbalanced-transaction', 'ledger entries must sum to zero');
      }
      for (const e of req.entries) {
        if (!Number.isSafeInteger(e.amount) || e.amount === 0) throw new DomainError('invalid-amount', 'entries are non-zero whole fen');
        const kind = kindOf(e.accountId);
        await this.store.ensureAccount({ id: e.accountId, kind, ownerId: ownerOf(e.accountId) });
        const balance = await this.balance(e.accountId);
        const after = balance + e.amount;
        if (kind !== 'external' && after < 0) {
          throw new DomainError('insufficient-funds', `account ${e.accountId} would go below zero`, {
            accountId: e.accountId,
            balance,
            needed: -e.amount,
          });
        }
        if (!Number.isSafeInteger(after)) throw new DomainError('amount-overflow', 'balance out of range', { accountId: e.accountId });
      }
      const txn: LedgerTransaction = {
        id: newId(),
        idempotencyKey: req.idempotencyKey,
        kind: req.kind,
        tradeId: req.tradeId,
        memo: req.memo,
        code: req.code,
        params: req.params,
        requestHash,
        at: this.clock.now().toISOString(),
        entries: req.entries,
      };
      await this.store.post(txn);
      await this.audit.append({
        actor: req.actor,
        entityType: 'ledger-transaction',
        entityId: txn.id,
        action: req.kind,
        data: { idempotencyKey: txn.idempotencyKey, tradeId: txn.tradeId, entries: txn.entries, memo: txn.memo },
      });
      return (await this.store.transactionByKey(req.idempotencyKey))!;
    });
  }
}

/**
 * Replays the journal from nothing and compares with the stored balances: the check that every
 * balance is reproducible from the journal. Returns the accounts that disagree (empty = consistent).
 */
export function replayJournal(transactions: LedgerTransaction[]): Map<string, number> {
  const balances = new Map<string, number>();
  for (const t of transactions) for (const e of t.entries) balances.set(e.accountId, (balances.get(e.accountId) ?? 0) + e.amount);
  return balances;
}
