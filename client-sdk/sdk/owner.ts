import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { SealProgress, SealResult } from '../dataset/seal.js';
import { ShuyuClient } from './client.js';
import { type LocalCheckOptions, type OwnerCheckReport, bundleFromDir, checkCsvLocally, sealCsv, sealTargetOf } from './local-data.js';
import { type BundleSource, type UploadOptions, uploadBundle } from './upload.js';
import type { CreateUploadRequest, Dataset, Page, Upload } from './types.js';

/** The data owner: datasets (uploads of sealed bundles), offers on them, revenue. */
export class OwnerClient extends ShuyuClient {
  /** Local only: the CSV against its schema (types, bounds, values) and the PII scan with suggested levels/tags. */
  check(file: string, schema: DatasetSchema, opts?: LocalCheckOptions): Promise<OwnerCheckReport> {
    return checkCsvLocally(file, schema, opts);
  }

  /** Seals a CSV into a bundle directory under the enclave's published keys (fetched from GET /v1/enclave). */
  async seal(file: string, schema: DatasetSchema, outDir: string, onProgress?: (p: SealProgress) => void): Promise<SealResult> {
    return sealCsv(file, schema, sealTargetOf(await this.enclave()), outDir, onProgress);
  }

  /** Uploads a sealed bundle directory (manifest.json + blobs/). */
  async uploadDir(dir: string, meta: Omit<CreateUploadRequest, 'manifest'>, opts?: UploadOptions): Promise<{ upload: Upload; dataset: Dataset }> {
    return this.upload(await bundleFromDir(dir), meta, opts);
  }

  /** Uploads a sealed bundle (resumable: pass `uploadId` to continue). */
  upload(source: BundleSource, meta: Omit<CreateUploadRequest, 'manifest'>, opts?: UploadOptions): Promise<{ upload: Upload; dataset: Dataset }> {
    return uploadBundle(this.http, source, meta, opts);
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
}
