import type { LedgerStore } from './ledger/ledger.js';
import type { AuditStore } from './audit/log.js';
import type { Offer } from './offer/offer.js';
import type { PolicyDocument } from './policy/schema.js';
import type { SignedQuote } from './pricing/quote.js';
import type { Review } from './review/review.js';
import type { Trade, TradeTransition } from './trade/trade.js';
import type { TradeState } from './trade/states.js';

/**
 * The small store interfaces of contracts/. Synchronous on purpose: the embedded store is
 * better-sqlite3 (server/store/sqlite), and a whole trade step — state change, money move, audit
 * event — must run inside ONE `transaction()`; an async store (PostgreSQL) would implement the same
 * shapes behind a connection-per-unit-of-work.
 */

export interface OfferStore {
  insert(offer: Offer): void;
  /** The given version, or the latest one. */
  get(id: string, version?: number): Offer | undefined;
  /** Latest version of each offer, filtered. */
  list(filter: { datasetId?: string; ownerOrgId?: string; status?: Offer['status'] }): Offer[];
  versions(id: string): Offer[];
}

export interface PolicyStore {
  /** Stores a version and makes it the active one. */
  put(doc: PolicyDocument, activatedAt: string): void;
  active(): PolicyDocument | undefined;
  get(policyId: string, version: number): PolicyDocument | undefined;
  /** Every version ever published, newest activation first (the negative list's history). */
  history(): PolicyVersionInfo[];
}

export interface PolicyVersionInfo {
  policyId: string;
  version: number;
  rules: number;
  activatedAt: string;
}

export interface QuoteStore {
  insert(quote: SignedQuote): void;
  get(id: string): SignedQuote | undefined;
}

export interface TradeStore {
  insert(trade: Trade): void;
  get(id: string): Trade | undefined;
  getByQuote(quoteId: string): Trade | undefined;
  /** Compare-and-set on state: returns false (and writes nothing) if the stored state is not `expectedState`. */
  update(trade: Trade, expectedState: TradeState): boolean;
  appendTransition(t: TradeTransition): void;
  transitions(tradeId: string): TradeTransition[];
  /** Trades in one of `states` whose deadline is at or before `now`. */
  due(states: readonly TradeState[], now: string): Trade[];
  /** Trades of one buyer organisation on one offer (any version), created at or after `since`, in `states`. */
  countByBuyer(buyerOrgId: string, offerId: string, states: readonly TradeState[], since?: string): number;
  list(filter: { buyerOrgId?: string; ownerOrgId?: string; states?: readonly TradeState[]; afterId?: string; limit?: number }): Trade[];
}

/**
 * The execution queue as contracts/ sees it: an approved trade is a job to run. The job is created by the
 * same transaction that approves the trade, so no crash can leave an approval without its job.
 */
export interface JobStore {
  /** Creates the queued job of this trade; a trade has one job, so a second call changes nothing. */
  enqueue(tradeId: string, at: string): void;
}

export interface ReviewStore {
  insert(review: Review): void;
  forTrade(tradeId: string): Review | undefined;
}

export type { AuditStore, LedgerStore };

export interface ContractsStore {
  offers: OfferStore;
  policies: PolicyStore;
  quotes: QuoteStore;
  trades: TradeStore;
  reviews: ReviewStore;
  jobs: JobStore;
  ledger: LedgerStore;
  audit: AuditStore;
  /** Runs `fn` atomically: everything it wrote commits together or not at all (nested calls join). */
  transaction<T>(fn: () => T): T;
}
