/**
 * The receipt of a delivered trade, in the format buyers verify (README "Receipts"): the exact canonical
 * JSON string that was signed, an SM2-SM3 signature over it (DER, base64, default user ID) and the
 * signer's public key as PEM — checkable offline with plain OpenSSL:
 *   openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 \
 *     -pkeyopt distid:1234567812345678 -in payload -sigfile sig.der
 * Imported by the enclave (signing) and the client SDK (verification): one implementation.
 */
import { z } from 'zod';
import {
  canonicalJson,
  CryptoError,
  fromB64,
  parseCanonicalJson,
  SM2_DEFAULT_ID,
  sm2Fingerprint,
  sm2PublicKeyFromPem,
  sm2PublicKeyToPem,
  sm2Sign,
  sm2Verify,
  toB64,
  utf8,
} from '../crypto/index.js';

export const Receipt = z
  .object({
    algorithm: z.literal('SM2-SM3'),
    signerId: z.string(),
    publicKeyPem: z.string(),
    payload: z.string(),
    signature: z.string(),
  })
  .strict();
export type Receipt = z.infer<typeof Receipt>;

export type ReceiptVerification = { valid: true; payload: Record<string, unknown> } | { valid: false; reason: string };

/**
 * Signs `payload` (a plain JSON object) as a receipt. The signed string is
 * canonicalJson(payload + { signingKeyFingerprint }), so the payload itself names its key.
 */
export function signReceipt(payload: Record<string, unknown>, key: { privateKey: Uint8Array; publicKey: Uint8Array }): Receipt {
  const signingKeyFingerprint = sm2Fingerprint(key.publicKey);
  if (payload.signingKeyFingerprint !== undefined && payload.signingKeyFingerprint !== signingKeyFingerprint) {
    throw new CryptoError('bad-input', 'payload names a different signing key fingerprint');
  }
  const text = canonicalJson({ ...payload, signingKeyFingerprint });
  return {
    algorithm: 'SM2-SM3',
    signerId: SM2_DEFAULT_ID,
    publicKeyPem: sm2PublicKeyToPem(key.publicKey),
    payload: text,
    signature: toB64(sm2Sign(key.privateKey, text)),
  };
}

const invalid = (reason: string): ReceiptVerification => ({ valid: false, reason });

/**
 * Verifies a receipt from anywhere (untrusted JSON). Never throws: every failure is a reason.
 * With `pinnedPublicKeyPem` the receipt must also be signed by exactly that key.
 */
export function verifyReceipt(receipt: unknown, opts: { pinnedPublicKeyPem?: string } = {}): ReceiptVerification {
  const parsed = Receipt.safeParse(receipt);
  if (!parsed.success) return invalid('schema: not a receipt object');
  const r = parsed.data;
  let publicKey: Uint8Array;
  try {
    publicKey = sm2PublicKeyFromPem(r.publicKeyPem);
  } catch {
    return invalid('publicKeyPem is not a valid SM2 public key');
  }
  const fingerprint = sm2Fingerprint(publicKey);
  if (opts.pinnedPublicKeyPem !== undefined) {
    let pinned: string;
    try {
      pinned = sm2Fingerprint(sm2PublicKeyFromPem(opts.pinnedPublicKeyPem));
    } catch {
      return invalid('pinned public key is not a valid SM2 public key');
    }
    if (pinned !== fingerprint) return invalid('signed by a key other than the pinned key');
  }
  let signature: Uint8Array;
  try {
    signature = fromB64(r.signature);
  } catch {
    return invalid('signature is not base64');
  }
  if (!sm2Verify(publicKey, utf8(r.payload), signature, { id: r.signerId })) return invalid('signature does not verify');
  let payload: unknown;
  try {
    payload = parseCanonicalJson(r.payload);
  } catch {
    return invalid('payload is not canonical JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return invalid('payload is not a JSON object');
  const p = payload as Record<string, unknown>;
  if (p.signingKeyFingerprint !== fingerprint) return invalid('payload does not name the signing key fingerprint');
  return { valid: true, payload: p };
}
