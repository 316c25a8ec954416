import { deriveRowMap } from '../../release/row-map.js';
import { AdmitRowsRequest, AdmitRowsResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

/**
 * `admitRows`: the server sends an uploaded bundle's sealed row chunks before publishing the dataset. The
 * enclave opens (authenticates) every chunk in a sandbox worker and stores the row → partition map the
 * privacy gate uses; a tampered, reordered or foreign chunk is refused with row-chunk-invalid.
 */
export const admitRows = defineHandler({
  request: AdmitRowsRequest,
  response: AdmitRowsResponse,
  handle: async (payload, ctx) => {
    const map = await deriveRowMap(payload.manifest, payload.rowChunks, { ledger: ctx.ledger, keystore: ctx.keystore });
    return { rows: map.partition.length };
  },
});
