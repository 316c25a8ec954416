import { EmptyPayload, EnclavePublicInfo } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

export const publicInfo = defineHandler({
  request: EmptyPayload,
  response: EnclavePublicInfo,
  handle: (_p, ctx) => ctx.publicInfo,
});
