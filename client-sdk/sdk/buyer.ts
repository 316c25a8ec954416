import { verifyReceipt } from '../../enclave/receipt.js';
import { sm2Fingerprint, sm2PublicKeyFromPem } from '../../enclave/crypto/index.js';
import { DomainError } from '../../contracts/errors.js';
import { ShuyuClient } from './client.js';
import type { HttpClientOptions } from './http.js';
import type { CatalogEntry, CatalogQuery, Page, Sample } from './types.js';

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
}
