import type { ContractsStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';
import { sqliteAuditStore } from './audit.js';
import { sqliteJobStore } from './jobs.js';
import { sqliteLedgerStore } from './ledger.js';
import { sqliteOfferStore, sqlitePolicyStore, sqliteQuoteStore, sqliteReviewStore } from './offers.js';
import { sqliteTradeStore } from './trades.js';

/**
 * The better-sqlite3 implementation of contracts/store.ts on a database opened by openDatabase()
 * (WAL, migrations applied). `transaction` is better-sqlite3's: nested calls become savepoints, so
 * a ledger step inside a trade step commits or rolls back with it.
 */
export function sqliteContractsStore(db: Db): ContractsStore {
  return {
    offers: sqliteOfferStore(db),
    policies: sqlitePolicyStore(db),
    quotes: sqliteQuoteStore(db),
    trades: sqliteTradeStore(db),
    reviews: sqliteReviewStore(db),
    jobs: sqliteJobStore(db),
    ledger: sqliteLedgerStore(db),
    audit: sqliteAuditStore(db),
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
  };
}
