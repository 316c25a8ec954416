import { loadRowChunks } from '../../release/row-chunks.js';
import { AdmitRowsRequest, AdmitRowsResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

/**
 * `admitRows`: before the server publishes an uploaded dataset, the enclave reads every row chunk the manifest
 * names from its blob store (re-hashing each), opens (authenticates) them in a sandbox worker and stores the
 * row map the privacy gate uses, so a release never pays for building it. A tampered, reordered, foreign or
 * missing chunk is refused with a typed error (row-chunk-invalid / row-chunk-missing).
 */
export const admitRows = defineHandler({
  request: AdmitRowsRequest,
  response: AdmitRowsResponse,
  handle: async (payload, ctx) => {
    const map = await ctx.rowMaps.derive(payload.manifest, await loadRowChunks(payload.manifest, ctx.blobs));
    return { rows: map.partition.length };
  },
});
