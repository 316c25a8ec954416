import { DomainError } from '../../contracts/errors.js';
import { fromB64, sm3Hex } from '../../crypto/index.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { decodeSealedRowChunk, rowChunkAad, type SealedRowChunk } from '../../formats/row-chunk.js';

const refuse = (type: string, message: string): DomainError => new DomainError(type, message);

/** Match the blobs to the manifest's row chunks (SM3 + size) and decode them with their aad. */
export function rowChunksOf(manifest: BundleManifest, blobsB64: string[]): { sealed: SealedRowChunk; aad: Uint8Array }[] {
  const refs = manifest.chunks.filter((c) => c.kind === 'rows').sort((a, b) => a.index - b.index);
  if (refs.length !== blobsB64.length) throw refuse('release-refused', `expected ${refs.length} row chunks, got ${blobsB64.length}`);
  return refs.map((ref, i) => {
    let blob: Uint8Array;
    try {
      blob = fromB64(blobsB64[i]!);
    } catch {
      throw refuse('row-chunk-invalid', `row chunk ${ref.index}: not base64`);
    }
    if (blob.length !== ref.size || sm3Hex(blob) !== ref.sm3) throw refuse('row-chunk-invalid', `row chunk ${ref.index} is not the one the manifest names`);
    return { sealed: decodeSealedRowChunk(blob), aad: rowChunkAad(manifest.bundleId, ref.index) };
  });
}
