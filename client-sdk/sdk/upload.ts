import type { HttpClient } from './http.js';
import type { BlobReceived, CreateUploadRequest, Dataset, Upload } from './types.js';

/**
 * Resumable upload of a sealed bundle: create the upload with the manifest, PUT each blob the
 * server still lists as missing (by SM3 hash, raw bytes), then complete — the server verifies the whole
 * bundle before the dataset becomes visible. Re-running with the upload id sends only what is missing.
 */

export interface BundleSource {
  manifest: Record<string, unknown>;
  /** bytes of the blob with this SM3 hex name */
  readBlob(hash: string): Promise<Uint8Array>;
}

export interface UploadProgress {
  uploadId: string;
  sentBytes: number;
  totalBytes: number;
  blobsLeft: number;
}

export interface UploadOptions {
  /** continue an earlier upload instead of starting a new one */
  uploadId?: string;
  onProgress?: (p: UploadProgress) => void;
  /** blobs sent at once (default 2: the machine and the server are small) */
  concurrency?: number;
}

export async function uploadBundle(
  http: HttpClient,
  source: BundleSource,
  meta: Omit<CreateUploadRequest, 'manifest'>,
  opts: UploadOptions = {},
): Promise<{ upload: Upload; dataset: Dataset }> {
  let upload = opts.uploadId
    ? await http.get<Upload>(`/uploads/${opts.uploadId}`)
    : await http.post<Upload>('/uploads', { ...meta, manifest: source.manifest });
  const sizes = new Map(upload.blobs.map((b) => [b.hash, b.size]));
  let sent = upload.receivedBytes;
  const queue = [...upload.missing];
  let left = queue.length;
  const report = (): void => opts.onProgress?.({ uploadId: upload.id, sentBytes: sent, totalBytes: upload.totalBytes, blobsLeft: left });
  report();
  const worker = async (): Promise<void> => {
    for (let hash = queue.shift(); hash !== undefined; hash = queue.shift()) {
      const bytes = await source.readBlob(hash);
      await http.request<BlobReceived>('PUT', `/uploads/${upload.id}/blobs/${hash}`, {
        raw: { data: bytes, contentType: 'application/octet-stream' },
      });
      sent += sizes.get(hash) ?? bytes.length;
      left--;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));
  const dataset = await http.post<Dataset>(`/uploads/${upload.id}/complete`);
  upload = await http.get<Upload>(`/uploads/${upload.id}`);
  return { upload, dataset };
}
