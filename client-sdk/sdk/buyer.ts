import { verifyReceipt } from '../../formats/receipt.js';
import { sm2Fingerprint, sm2PublicKeyFromPem } from '../../crypto/index.js';
import { DomainError } from '../../contracts/errors.js';
import { hasResult, isFinal } from '../../contracts/trade/states.js';
import { ShuyuClient } from './client.js';
import type { HttpClientOptions } from './http.js';
import { newId } from '../../contracts/ids.js';
import type { Computation } from '../../contracts/computation.js';
import type { CatalogEntry, CatalogQuery, Offer, Page, Purpose, Sample, SignedQuote, Statement, Trade, TradeDetail, TradeResult, TradeState, Wallet } from './types.js';

/** States after which a trade will not change by itself any more (settled follows delivered). */
export { FINAL_STATES } from '../../contracts/trade/states.js';

export interface TradeRequest {
  computation: Computation;
  purpose: Purpose;
  /** ISO 3166 region the result goes to, e.g. CN-53; outside CN is cross-border */
  destination: string;
}

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  onState?: (t: Trade) => void;
}

export interface PinnedEnclaveKey {
  publicKeyPem: string;
  fingerprint: string;
  pinnedAt: string;
}

export type ReceiptCheck = { valid: true; payload: Record<string, unknown> } | { valid: false; reason: string };

/**
 * The buyer: catalogue, samples, quotes, trades, results. Receipts are verified offline against the
 * enclave signing key pinned on first contact (or given at construction), never against the key a
 * receipt carries.
 */
export class BuyerClient extends ShuyuClient {
  private pinned: PinnedEnclaveKey | undefined;

  constructor(opts: HttpClientOptions & { pinned?: PinnedEnclaveKey | undefined }) {
    super(opts);
    this.pinned = opts.pinned;
  }

  get pinnedEnclave(): PinnedEnclaveKey | undefined {
    return this.pinned;
  }

  /**
   * Fetches GET /v1/enclave once and pins its signing key. Checks that the served fingerprint is the
   * key's own (sm3 over the SPKI DER); refuses to replace an existing pin with a different key.
   */
  async pinEnclave(): Promise<PinnedEnclaveKey> {
    const served = await this.enclaveSigningKey();
    const fp = sm2Fingerprint(sm2PublicKeyFromPem(served.publicKeyPem));
    if (fp !== served.fingerprint) {
      throw new DomainError('enclave-key-mismatch', 'the server published an enclave fingerprint that is not its key\'s');
    }
    if (this.pinned && this.pinned.fingerprint !== fp) {
      throw new DomainError('enclave-key-changed', `the enclave signing key changed (pinned ${this.pinned.fingerprint}, served ${fp})`);
    }
    this.pinned ??= { publicKeyPem: served.publicKeyPem, fingerprint: fp, pinnedAt: new Date().toISOString() };
    return this.pinned;
  }

  /** Offline: schema, signature, canonical payload, and that the signer is the pinned enclave key. */
  verifyReceipt(receipt: unknown): ReceiptCheck {
    if (!this.pinned) return { valid: false, reason: 'no enclave key pinned: call pinEnclave() first' };
    return verifyReceipt(receipt, { pinnedPublicKeyPem: this.pinned.publicKeyPem });
  }

  catalog(query: CatalogQuery = {}): Promise<Page<CatalogEntry>> {
    return this.http.get<Page<CatalogEntry>>('/catalog', query);
  }

  catalogEntry(datasetId: string): Promise<CatalogEntry & { schema: import('../../contracts/dataset/schema.js').DatasetSchema }> {
    return this.http.get(`/catalog/${datasetId}`);
  }

  /** A generated sample that follows the schema (never real rows). */
  sample(datasetId: string, rows = 10): Promise<Sample> {
    return this.http.get<Sample>(`/catalog/${datasetId}/sample`, { rows });
  }

  /** A dataset's active offers. */
  async offers(datasetId: string): Promise<Offer[]> {
    return (await this.http.get<{ items: Offer[] }>(`/catalog/${datasetId}/offers`)).items;
  }

  offer(offerId: string): Promise<Offer> {
    return this.http.get<Offer>(`/offers/${offerId}`);
  }

  /** A signed, expiring price for exactly this computation, purpose and destination. */
  quote(offerId: string, req: TradeRequest): Promise<SignedQuote> {
    return this.http.post<SignedQuote>(`/offers/${offerId}/quotes`, req);
  }

  /**
   * Submits a quoted computation: the price is held from the wallet. Carries an Idempotency-Key
   * (a fresh UUID unless given) so a retried submit never holds twice.
   */
  submit(quote: SignedQuote, computation: Computation, opts: { idempotencyKey?: string } = {}): Promise<Trade> {
    return this.http.postIdempotent<Trade>('/trades', { quote, computation }, opts.idempotencyKey ?? newId());
  }

  /** Quote then submit, in one call. */
  async request(offerId: string, req: TradeRequest, opts: { idempotencyKey?: string } = {}): Promise<{ quote: SignedQuote; trade: Trade }> {
    const quote = await this.quote(offerId, req);
    return { quote, trade: await this.submit(quote, req.computation, opts) };
  }

  trade(tradeId: string): Promise<TradeDetail> {
    return this.http.get<TradeDetail>(`/trades/${tradeId}`);
  }

  trades(query: { state?: TradeState; cursor?: string; limit?: number } = {}): Promise<Page<Trade>> {
    return this.http.get<Page<Trade>>('/trades', query);
  }

  cancel(tradeId: string, reason: string, opts: { idempotencyKey?: string } = {}): Promise<Trade> {
    return this.http.postIdempotent<Trade>(`/trades/${tradeId}/cancel`, { reason }, opts.idempotencyKey ?? newId());
  }

  /** Polls until the trade reaches a final state (or the timeout), reporting each state change. */
  async waitForTrade(tradeId: string, opts: WaitOptions = {}): Promise<TradeDetail> {
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    let last: TradeState | undefined;
    for (;;) {
      const t = await this.trade(tradeId);
      if (t.state !== last) {
        last = t.state;
        opts.onState?.(t);
      }
      if (isFinal(t.state)) return t;
      if (Date.now() >= deadline) {
        throw new DomainError('wait-timeout', `trade ${tradeId} is still ${t.state} after ${Math.round((opts.timeoutMs ?? 120_000) / 1000)} s`, { state: t.state });
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    }
  }

  /** The signed receipt and result of a delivered trade (does not verify; see result()). */
  rawResult(tradeId: string): Promise<TradeResult> {
    return this.http.get<TradeResult>(`/trades/${tradeId}/result`);
  }

  /**
   * Fetches the result and verifies its receipt offline against the pinned enclave key (pinning on
   * first use). Throws `receipt-invalid` rather than hand back an unverified result.
   */
  async result(tradeId: string, opts: { wait?: boolean } & WaitOptions = {}): Promise<TradeResult & { payload: Record<string, unknown> }> {
    if (opts.wait) {
      const t = await this.waitForTrade(tradeId, opts);
      if (!hasResult(t.state)) {
        const why = t.failureReason ?? t.transitions.at(-1)?.reason ?? '';
        throw new DomainError('trade-not-delivered', `trade ${tradeId} ended ${t.state}${why ? `: ${why}` : ''}`, { state: t.state });
      }
    }
    if (!this.pinned) await this.pinEnclave();
    const r = await this.rawResult(tradeId);
    const check = this.verifyReceipt(r.receipt);
    if (!check.valid) throw new DomainError('receipt-invalid', `the receipt of trade ${tradeId} does not verify: ${check.reason}`);
    if (check.payload.tradeId !== undefined && check.payload.tradeId !== tradeId) {
      throw new DomainError('receipt-invalid', `the receipt names trade ${String(check.payload.tradeId)}, not ${tradeId}`);
    }
    return { ...r, payload: check.payload };
  }

  wallet(): Promise<Wallet> {
    return this.http.get<Wallet>('/ledger/wallet');
  }

  statement(query: { after?: number; limit?: number } = {}): Promise<Statement> {
    return this.http.get<Statement>('/ledger/statements', query);
  }
}
