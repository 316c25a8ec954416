import { ShuyuClient } from './client.js';
import { type BundleSource, type UploadOptions, uploadBundle } from './upload.js';
import type { CreateUploadRequest, Dataset, Page, Upload } from './types.js';

/** The data owner: datasets (uploads of sealed bundles), offers on them, revenue. */
export class OwnerClient extends ShuyuClient {
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
