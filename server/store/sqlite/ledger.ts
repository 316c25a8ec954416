import type { LedgerAccount, LedgerTransaction } from '../../../contracts/ledger/ledger.js';
import type { LedgerStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';
import { stmt } from '../statements.js';

type TxnRow = { seq: number; id: string; idempotency_key: string; kind: LedgerTransaction['kind']; trade_id: string | null; memo: string; code: string | null; params: string | null; request_hash: string; at: string };
type AccountRow = { id: string; kind: LedgerAccount['kind']; owner_id: string; balance: number };

export function sqliteLedgerStore(db: Db): LedgerStore {
  const account = db.prepare('SELECT id, kind, owner_id, balance FROM ledger_accounts WHERE id = ?');
  const ensure = db.prepare('INSERT OR IGNORE INTO ledger_accounts (id, kind, owner_id, balance) VALUES (?, ?, ?, 0)');
  const byKey = db.prepare('SELECT * FROM ledger_transactions WHERE idempotency_key = ?');
  const insertTxn = db.prepare('INSERT INTO ledger_transactions (id, idempotency_key, kind, trade_id, memo, code, params, request_hash, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const insertEntry = db.prepare('INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (?, ?, ?)');
  const apply = db.prepare('UPDATE ledger_accounts SET balance = balance + ? WHERE id = ?');
  const entries = db.prepare('SELECT account_id, amount FROM ledger_entries WHERE transaction_id = ? ORDER BY seq');
  const toAccount = (r: AccountRow): LedgerAccount => ({ id: r.id, kind: r.kind, ownerId: r.owner_id, balance: r.balance });
  const toTxn = (r: TxnRow): LedgerTransaction => ({
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
    entries: (entries.all(r.id) as { account_id: string; amount: number }[]).map((e) => ({ accountId: e.account_id, amount: e.amount })),
  });
  return {
    account: (id) => {
      const r = account.get(id) as AccountRow | undefined;
      return r && toAccount(r);
    },
    ensureAccount: (a) => void ensure.run(a.id, a.kind, a.ownerId),
    transactionByKey: (key) => {
      const r = byKey.get(key) as TxnRow | undefined;
      return r && toTxn(r);
    },
    post: (t) => {
      insertTxn.run(t.id, t.idempotencyKey, t.kind, t.tradeId, t.memo, t.code, JSON.stringify(t.params), t.requestHash, t.at);
      for (const e of t.entries) {
        insertEntry.run(t.id, e.accountId, e.amount);
        apply.run(e.amount, e.accountId);
      }
    },
    transactions: (f) => {
      const where = ['seq > ?'];
      const args: unknown[] = [f.afterSeq ?? 0];
      if (f.accountId) (where.push('id IN (SELECT transaction_id FROM ledger_entries WHERE account_id = ?)'), args.push(f.accountId));
      if (f.tradeId) (where.push('trade_id = ?'), args.push(f.tradeId));
      const rows = stmt(db, `SELECT * FROM ledger_transactions WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`).all(...args, f.limit ?? 1_000_000) as TxnRow[];
      return rows.map(toTxn);
    },
    accounts: (f) =>
      (f?.ownerId
        ? (stmt(db, 'SELECT * FROM ledger_accounts WHERE owner_id = ? ORDER BY id').all(f.ownerId) as AccountRow[])
        : (stmt(db, 'SELECT * FROM ledger_accounts ORDER BY id').all() as AccountRow[])
      ).map(toAccount),
  };
}
