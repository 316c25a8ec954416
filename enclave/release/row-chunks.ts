import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { decodeSealedRowChunk, rowChunkAad, type SealedRowChunk } from '../../formats/row-chunk.js';
import type { BlobReader } from './blob-reader.js';

export type RowChunks = { sealed: SealedRowChunk; aad: Uint8Array }[];

/** Chunks read at once: enough to overlap disk and hashing, few enough to bound memory in flight. */
const READ_AHEAD = 4;

/** The manifest's row chunk references in row-chunk order. */
const rowRefs = (manifest: BundleManifest) => manifest.chunks.flatMap((c) => (c.kind === 'rows' ? [c] : [])).sort((a, b) => a.index - b.index);

/** One row chunk read from the blob store, re-hashed (SM3 and size against the manifest) and decoded with its aad. */
async function readRowChunk(manifest: BundleManifest, ref: ReturnType<typeof rowRefs>[number], blobs: BlobReader): Promise<RowChunks[number]> {
  const blob = await blobs.read(ref.sm3, ref.size);
  if (blob.length !== ref.size || sm3Hex(blob) !== ref.sm3) {
    throw new DomainError('row-chunk-invalid', `row chunk ${ref.index} is not the one the manifest names`, { index: ref.index });
  }
  let sealed: SealedRowChunk;
  try {
    sealed = decodeSealedRowChunk(blob);
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw new DomainError('row-chunk-invalid', `row chunk ${ref.index} is not a sealed row chunk`, { index: ref.index });
  }
  return { sealed, aad: rowChunkAad(manifest.bundleId, ref.index) };
}

/**
 * The manifest's row chunks read by the enclave from its blob store, in row-chunk order: each re-hashed (SM3 and
 * size against the manifest, so the commitment pins the rows), then decoded with its aad. A missing or altered
 * blob is a typed refusal; nothing is opened before every chunk checked out.
 */
export async function loadRowChunks(manifest: BundleManifest, blobs: BlobReader): Promise<RowChunks> {
  const refs = rowRefs(manifest);
  const out: RowChunks = new Array(refs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < refs.length) {
      const i = next++;
      out[i] = await readRowChunk(manifest, refs[i]!, blobs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_AHEAD, refs.length) }, worker));
  return out;
}

/**
 * The same chunks read one at a time as the caller asks for them (the SQL sandbox: a few ahead of its loader),
 * each checked the same way when it is read: the enclave never holds the whole dataset's sealed chunks. A
 * missing or altered blob fails the run at that chunk, with the same typed refusal.
 */
export function streamRowChunks(manifest: BundleManifest, blobs: BlobReader): { count: number; rows: number; read(index: number): Promise<RowChunks[number]> } {
  const refs = rowRefs(manifest);
  return {
    count: refs.length,
    rows: refs.reduce((n, r) => n + r.rows, 0),
    read: (i) => (i >= 0 && i < refs.length ? readRowChunk(manifest, refs[i]!, blobs) : Promise.reject(new DomainError('row-chunk-missing', `the manifest names no row chunk ${i}`))),
  };
}
