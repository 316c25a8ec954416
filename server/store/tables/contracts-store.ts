import type { ContractsStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';
import { auditStore } from './audit.js';
import { jobStore } from './jobs.js';
import { ledgerStore } from './ledger.js';
import { offerStore, policyStore, quoteStore, reviewStore } from './offers.js';
import { tradeStore } from './trades.js';

/**
 * contracts/store.ts on the server's store, the same code on SQLite and PostgreSQL. `transaction` is the
 * store's (store/engine.ts): nested calls are savepoints, so a ledger step inside a trade step commits or
 * rolls back with it; on PostgreSQL it is SERIALIZABLE and re-run on a serialization failure.
 */
export function contractsStore(db: Db): ContractsStore {
  return {
    offers: offerStore(db),
    policies: policyStore(db),
    quotes: quoteStore(db),
    trades: tradeStore(db),
    reviews: reviewStore(db),
    jobs: jobStore(db),
    ledger: ledgerStore(db),
    audit: auditStore(db),
    transaction: <T>(fn: () => Promise<T>): Promise<T> => db.transaction(fn),
  };
}
