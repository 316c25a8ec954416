/** SM4 (GB/T 32907-2016) from node:crypto. CTR mode uses a full 128-bit big-endian counter (OpenSSL's). */
import { createCipheriv } from 'node:crypto';
import { CryptoError } from './errors.js';

export const SM4_KEY_BYTES = 16;
export const SM4_BLOCK_BYTES = 16;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SM4_KEY_BYTES) throw new CryptoError('bad-key', 'SM4 key must be 16 bytes');
}

/** Encrypts or decrypts (CTR is its own inverse). */
export function sm4Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(key);
  if (!(iv instanceof Uint8Array) || iv.length !== SM4_BLOCK_BYTES) throw new CryptoError('bad-input', 'SM4-CTR IV must be 16 bytes');
  const c = createCipheriv('sm4-ctr', key, iv);
  const a = c.update(data);
  const b = c.final();
  return new Uint8Array(b.length === 0 ? a : Buffer.concat([a, b]));
}

/** The raw SM4 block function (ECB, no padding) — for known-answer tests and the CTR keystream check. */
export function sm4EncryptBlocks(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  checkKey(key);
  if (blocks.length % SM4_BLOCK_BYTES !== 0) throw new CryptoError('bad-input', 'SM4-ECB input must be whole blocks');
  const c = createCipheriv('sm4-ecb', key, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(blocks), c.final()]));
}
