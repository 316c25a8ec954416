import type { DatasetSchema } from '../../contracts/dataset/schema.js';

/** What the server needs to know about a sealed bundle's manifest (formats owns the format). */
export interface ManifestFacts {
  schema: DatasetSchema;
  rowCount: number;
  commitment: string;
  blobs: { hash: string; size: number; kind: string }[];
}

/**
 * The server's view of the bundle format: parse a manifest (throw DomainError('bundle-invalid', …)
 * with a message naming what is wrong) and verify a complete bundle blob by blob. Implemented by
 * server/wiring/bundle.ts on top of formats — one implementation of the format.
 */
export interface BundlePort {
  parseManifest(manifest: unknown): ManifestFacts;
  verifyBundle(manifest: unknown, getBlob: (hash: string) => Promise<Uint8Array>): Promise<void>;
}
