import type { LedgerStore } from './ledger/ledger.js';
import type { AuditStore } from './audit/log.js';
import type { Offer } from './offer/offer.js';
import type { PolicyDocument } from './policy/schema.js';
import type { SignedQuote } from './pricing/quote.js';
import type { Review } from './review/review.js';
import type { Trade, TradeTransition } from './trade/trade.js';
import type { TradeState } from './trade/states.js';

/**
 * The small store interfaces of contracts/. Asynchronous: the same ports run on the embedded SQLite file
 * and on PostgreSQL (server/store/kysely). A whole trade step — state change, money move, audit event,
 * job — runs inside ONE `transaction()`; every port call made inside it (in its async call chain) joins
 * that transaction. A transaction may be re-run after a serialization failure, so `fn` only touches the store.
 */

export interface OfferStore {
  insert(offer: Offer): Promise<void>;
  /** The given version, or the latest one. */
  get(id: string, version?: number): Promise<Offer | undefined>;
  /** Latest version of each offer, filtered. */
  list(filter: { datasetId?: string; ownerOrgId?: string; status?: Offer['status'] }): Promise<Offer[]>;
  versions(id: string): Promise<Offer[]>;
}

export interface PolicyStore {
  /** Stores a version and makes it the active one. */
  put(doc: PolicyDocument, activatedAt: string): Promise<void>;
  active(): Promise<PolicyDocument | undefined>;
  get(policyId: string, version: number): Promise<PolicyDocument | undefined>;
  /** Every version ever published, newest activation first (the negative list's history). */
  history(): Promise<PolicyVersionInfo[]>;
}

export interface PolicyVersionInfo {
  policyId: string;
  version: number;
  rules: number;
  activatedAt: string;
}

export interface QuoteStore {
  insert(quote: SignedQuote): Promise<void>;
  get(id: string): Promise<SignedQuote | undefined>;
}

export interface TradeStore {
  insert(trade: Trade): Promise<void>;
  get(id: string): Promise<Trade | undefined>;
  getByQuote(quoteId: string): Promise<Trade | undefined>;
  /** Compare-and-set on state: returns false (and writes nothing) if the stored state is not `expectedState`. */
  update(trade: Trade, expectedState: TradeState): Promise<boolean>;
  appendTransition(t: TradeTransition): Promise<void>;
  transitions(tradeId: string): Promise<TradeTransition[]>;
  /** Trades in one of `states` whose deadline is at or before `now`. */
  due(states: readonly TradeState[], now: string): Promise<Trade[]>;
  /** Trades of one buyer organisation on one offer (any version), created at or after `since`, in `states`. */
  countByBuyer(buyerOrgId: string, offerId: string, states: readonly TradeState[], since?: string): Promise<number>;
  list(filter: { buyerOrgId?: string; ownerOrgId?: string; states?: readonly TradeState[]; afterId?: string; limit?: number }): Promise<Trade[]>;
}

/**
 * The execution queue as contracts/ sees it: an approved trade is a job to run. The job is created by the
 * same transaction that approves the trade, so no crash can leave an approval without its job.
 */
export interface JobStore {
  /** Creates the queued job of this trade; a trade has one job, so a second call changes nothing. */
  enqueue(tradeId: string, at: string): Promise<void>;
}

export interface ReviewStore {
  insert(review: Review): Promise<void>;
  forTrade(tradeId: string): Promise<Review | undefined>;
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
  transaction<T>(fn: () => Promise<T>): Promise<T>;
}
