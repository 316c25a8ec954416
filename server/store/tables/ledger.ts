import type { LedgerAccount, LedgerTransaction } from '../../../contracts/ledger/ledger.js';
import type { LedgerStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';

type TxnRow = { seq: number; id: string; idempotency_key: string; kind: LedgerTransaction['kind']; trade_id: string | null; memo: string; code: string | null; params: string | null; request_hash: string; at: string };
type AccountRow = { id: string; kind: LedgerAccount['kind']; owner_id: string; balance: number };

export function ledgerStore(db: Db): LedgerStore {
  const toAccount = (r: AccountRow): LedgerAccount => ({ id: r.id, kind: r.kind, ownerId: r.owner_id, balance: r.balance });
  const toTxn = async (r: TxnRow): Promise<LedgerTransaction> => ({
    id: r.id,
    seq: r.seq,
    idempotencyKey: r.idempotency_key,
    kind: r.kind,
    tradeId: r.trade_id,
    memo: r.memo,
    // postings recorded before memos had codes read back as their text
    ...(r.code ? { code: r.code as LedgerTransaction['code'], params: JSON.parse(r.params ?? '{}') as LedgerTransaction['params'] } : { code: 'ledger.note' as const, params: { text: r.memo } }),
    requestHash: r.request_hash,
    at: r.at,
    entries: (await db.all<{ account_id: string; amount: number }>('SELECT account_id, amount FROM ledger_entries WHERE transaction_id = ? ORDER BY seq', r.id)).map((e) => ({
      accountId: e.account_id,
      amount: e.amount,
    })),
  });
  return {
    account: async (id) => {
      const r = await db.get<AccountRow>('SELECT id, kind, owner_id, balance FROM ledger_accounts WHERE id = ?', id);
      return r && toAccount(r);
    },
    ensureAccount: async (a) => void (await db.run('INSERT INTO ledger_accounts (id, kind, owner_id, balance) VALUES (?, ?, ?, 0) ON CONFLICT (id) DO NOTHING', a.id, a.kind, a.ownerId)),
    transactionByKey: async (key) => {
      const r = await db.get<TxnRow>('SELECT * FROM ledger_transactions WHERE idempotency_key = ?', key);
      return r && toTxn(r);
    },
    post: async (t) => {
      await db.run(
        'INSERT INTO ledger_transactions (id, idempotency_key, kind, trade_id, memo, code, params, request_hash, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        t.id,
        t.idempotencyKey,
        t.kind,
        t.tradeId,
        t.memo,
        t.code,
        JSON.stringify(t.params),
        t.requestHash,
        t.at,
      );
      for (const e of t.entries) {
        await db.run('INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (?, ?, ?)', t.id, e.accountId, e.amount);
        await db.run('UPDATE ledger_accounts SET balance = balance + ? WHERE id = ?', e.amount, e.accountId);
      }
    },
    transactions: async (f) => {
      const where = ['seq > ?'];
      const args: unknown[] = [f.afterSeq ?? 0];
      if (f.accountId) (where.push('id IN (SELECT transaction_id FROM ledger_entries WHERE account_id = ?)'), args.push(f.accountId));
      if (f.tradeId) (where.push('trade_id = ?'), args.push(f.tradeId));
      const rows = await db.all<TxnRow>(`SELECT * FROM ledger_transactions WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, ...args, f.limit ?? 1_000_000);
      const out: LedgerTransaction[] = [];
      for (const r of rows) out.push(await toTxn(r));
      return out;
    },
    accounts: async (f) =>
      (f?.ownerId
        ? await db.all<AccountRow>('SELECT * FROM ledger_accounts WHERE owner_id = ? ORDER BY id', f.ownerId)
        : await db.all<AccountRow>('SELECT * FROM ledger_accounts ORDER BY id')
      ).map(toAccount),
  };
}
