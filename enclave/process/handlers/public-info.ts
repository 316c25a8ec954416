import { EmptyPayload, EnclavePublicInfo } from '../protocol.js';
import { defineHandler } from './types.js';

export const publicInfo = defineHandler({
  request: EmptyPayload,
  response: EnclavePublicInfo,
  handle: (_p, ctx) => ctx.publicInfo,
});
