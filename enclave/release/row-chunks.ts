import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { decodeSealedRowChunk, rowChunkAad, type SealedRowChunk } from '../../formats/row-chunk.js';
import type { BlobReader } from './blob-reader.js';

export type RowChunks = { sealed: SealedRowChunk; aad: Uint8Array }[];

/** Chunks read at once: enough to overlap disk and hashing, few enough to bound memory in flight. */
const READ_AHEAD = 4;

/**
 * The manifest's row chunks read by the enclave from its blob store, in row-chunk order: each re-hashed (SM3 and
 * size against the manifest, so the commitment pins the rows), then decoded with its aad. A missing or altered
 * blob is a typed refusal; nothing is opened before every chunk checked out.
 */
export async function loadRowChunks(manifest: BundleManifest, blobs: BlobReader): Promise<RowChunks> {
  const refs = manifest.chunks.flatMap((c) => (c.kind === 'rows' ? [c] : [])).sort((a, b) => a.index - b.index);
  const out: RowChunks = new Array(refs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < refs.length) {
      const i = next++;
      const ref = refs[i]!;
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
      out[i] = { sealed, aad: rowChunkAad(manifest.bundleId, ref.index) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_AHEAD, refs.length) }, worker));
  return out;
}
