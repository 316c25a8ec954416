import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { SealProgress, SealResult } from '../dataset/seal.js';
import { ShuyuClient } from './client.js';
import type { LocalCheckOptions, OwnerCheckReport } from './local-data.js';

/** Checking and sealing pull in the HE and CSV machinery: loaded on first use, so other commands start fast. */
const local = () => import('./local-data.js');
import { type BundleSource, type UploadOptions, uploadBundle } from './upload.js';
import type { CreateUploadRequest, Dataset, Offer, OfferInput, OfferWritten, Page, Statement, Trade, TradeState, Upload, Wallet } from './types.js';

/** The data owner: datasets (uploads of sealed bundles), offers on them, revenue. */
export class OwnerClient extends ShuyuClient {
  /** Local only: a draft schema from a CSV sample (types, roles, bounds, PII-based levels and tags) for the owner to edit. */
  async describe(file: string, opts: import('./describe.js').DescribeOptions): Promise<import('./describe.js').DescribeResult> {
    return (await import('./describe.js')).describeCsv(file, opts);
  }

  /** Local only: the CSV against its schema (types, bounds, values) and the PII scan with suggested levels/tags. */
  async check(file: string, schema: DatasetSchema, opts?: LocalCheckOptions): Promise<OwnerCheckReport> {
    return (await local()).checkCsvLocally(file, schema, opts);
  }

  /** Seals a CSV into a bundle directory under the enclave's published keys (fetched from GET /v1/enclave). */
  async seal(file: string, schema: DatasetSchema, outDir: string, onProgress?: (p: SealProgress) => void): Promise<SealResult> {
    const { sealCsv, sealTargetOf } = await local();
    return sealCsv(file, schema, sealTargetOf(await this.enclave()), outDir, onProgress);
  }

  /** Uploads a sealed bundle directory (manifest.json + blobs/). */
  async uploadDir(dir: string, meta: Omit<CreateUploadRequest, 'manifest'>, opts?: UploadOptions): Promise<{ upload: Upload; dataset: Dataset }> {
    return this.upload(await (await local()).bundleFromDir(dir), meta, opts);
  }

  /** Uploads a sealed bundle (resumable: pass `uploadId` to continue). */
  upload(source: BundleSource, meta: Omit<CreateUploadRequest, 'manifest'>, opts?: UploadOptions): Promise<{ upload: Upload; dataset: Dataset }> {
    return uploadBundle(this.http, source, meta, opts);
  }

  /** The organisation's uploads not yet published (open, or being verified), with the blobs each still needs. */
  async uploads(): Promise<Upload[]> {
    return (await this.http.get<{ items: Upload[] }>('/uploads')).items;
  }

  getUpload(uploadId: string): Promise<Upload> {
    return this.http.get<Upload>(`/uploads/${uploadId}`);
  }

  abortUpload(uploadId: string): Promise<void> {
    return this.http.delete<void>(`/uploads/${uploadId}`);
  }

  datasets(query: { cursor?: string; limit?: number } = {}): Promise<Page<Dataset>> {
    return this.http.get<Page<Dataset>>('/datasets', query);
  }

  dataset(id: string): Promise<Dataset> {
    return this.http.get<Dataset>(`/datasets/${id}`);
  }

  /** Lists an offer (version 1) on one of the organisation's datasets; returns it with its listing-time screening. */
  createOffer(datasetId: string, input: OfferInput): Promise<OfferWritten> {
    return this.http.post<OfferWritten>(`/datasets/${datasetId}/offers`, input);
  }

  /** A dataset's active offers. */
  async offers(datasetId: string): Promise<Offer[]> {
    return (await this.http.get<{ items: Offer[] }>(`/catalog/${datasetId}/offers`)).items;
  }

  offer(offerId: string): Promise<Offer> {
    return this.http.get<Offer>(`/offers/${offerId}`);
  }

  /** Publishes version n+1; running trades keep the version they were quoted under. */
  reviseOffer(offerId: string, input: OfferInput): Promise<OfferWritten> {
    return this.http.post<OfferWritten>(`/offers/${offerId}/versions`, input);
  }

  withdrawOffer(offerId: string): Promise<Offer> {
    return this.http.post<Offer>(`/offers/${offerId}/withdraw`);
  }

  /** Trades on the organisation's datasets. */
  trades(query: { state?: TradeState; cursor?: string; limit?: number } = {}): Promise<Page<Trade>> {
    return this.http.get<Page<Trade>>('/trades', query);
  }

  /** Balances, including revenue captured from delivered trades (integer fen). */
  wallet(): Promise<Wallet> {
    return this.http.get<Wallet>('/ledger/wallet');
  }

  statement(query: { after?: number; limit?: number } = {}): Promise<Statement> {
    return this.http.get<Statement>('/ledger/statements', query);
  }
}
