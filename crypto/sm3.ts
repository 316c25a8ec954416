/** SM3 (GB/T 32905-2016) and HMAC-SM3 (RFC 2104 over SM3) from node:crypto (OpenSSL), plus the SM3 KDF. */
import { createHash, createHmac } from 'node:crypto';
import { asBytes } from './encoding.js';
import { CryptoError } from './errors.js';

export const SM3_DIGEST_BYTES = 32;

export function sm3(data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash('sm3').update(asBytes(data)).digest());
}

export function sm3Hex(data: Uint8Array | string): string {
  return createHash('sm3').update(asBytes(data)).digest('hex');
}

/** An incremental SM3 hasher (node:crypto Hash) for streams: `createSm3().update(chunk)…digest()`. */
export const createSm3 = () => createHash('sm3');

/** SM3 over several parts without concatenating them first. */
export function sm3Parts(...parts: (Uint8Array | string)[]): Uint8Array {
  const h = createHash('sm3');
  for (const p of parts) h.update(asBytes(p));
  return new Uint8Array(h.digest());
}

export function hmacSm3(key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac('sm3', key).update(asBytes(data)).digest());
}

/**
 * KDF of GB/T 32918.4-2016 §5.4.3: K = SM3(Z ‖ ct₁) ‖ SM3(Z ‖ ct₂) ‖ … truncated, ct a 32-bit
 * big-endian counter starting at 1. `klen` is in BYTES here (the standard counts bits; every use
 * in Shuyu and in SM2 encryption is whole bytes).
 */
export function kdfSm3(z: Uint8Array, klen: number): Uint8Array {
  if (!Number.isSafeInteger(klen) || klen < 0 || klen > 32 * 0xffffffff) {
    throw new CryptoError('bad-input', 'kdf length out of range');
  }
  const out = new Uint8Array(klen);
  const ctr = new Uint8Array(4);
  const view = new DataView(ctr.buffer);
  for (let off = 0, ct = 1; off < klen; off += 32, ct++) {
    view.setUint32(0, ct);
    const block = createHash('sm3').update(z).update(ctr).digest();
    out.set(block.subarray(0, Math.min(32, klen - off)), off);
  }
  return out;
}
