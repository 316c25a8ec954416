import { canonicalJson, sm2Fingerprint, sm2PublicKeyToPem, sm2Sign, toB64 } from '../../../crypto/index.js';
import { SignStatementRequest, SignStatementResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

/**
 * Signs a typed statement with the enclave's SM2 key (audit checkpoints). Only statement types listed in
 * the request schema are accepted, so this cannot be used to sign receipts or approvals.
 */
export const signStatement = defineHandler({
  request: SignStatementRequest,
  response: SignStatementResponse,
  handle: ({ statement }, ctx) => {
    const payload = canonicalJson(statement);
    return {
      payload,
      signature: toB64(sm2Sign(ctx.keystore.signing.privateKey, payload)),
      publicKeyPem: sm2PublicKeyToPem(ctx.keystore.signing.publicKey),
      fingerprint: sm2Fingerprint(ctx.keystore.signing.publicKey),
    };
  },
});
