import { VerifyReleaseRequest, VerifyReleaseResponse } from '../../../formats/enclave-protocol.js';
import { releaseParsed } from '../../release/front.js';
import { verifyKind } from '../../verify/release.js';
import { defineHandler } from './types.js';

/** `verify`: query-verification (核验) — yes/no (and per-attribute flags) only, rate-limited, every call recorded. */
export const verify = defineHandler({
  request: VerifyReleaseRequest,
  response: VerifyReleaseResponse,
  handle: (payload, ctx) => releaseParsed(verifyKind, payload, ctx.release) as Promise<VerifyReleaseResponse>,
});
