/** SM4 (GB/T 32907-2016) from node:crypto. CTR mode uses a full 128-bit big-endian counter (OpenSSL's). */
import { createCipheriv, type Cipher } from 'node:crypto';
import { plainBytes } from './encoding.js';
import { CryptoError } from './errors.js';

export const SM4_KEY_BYTES = 16;
export const SM4_BLOCK_BYTES = 16;

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== SM4_KEY_BYTES) throw new CryptoError('bad-key', 'SM4 key must be 16 bytes');
}

/** Encrypts or decrypts (CTR is its own inverse). */
export function sm4Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  if (!(data instanceof Uint8Array)) throw new CryptoError('bad-input', 'SM4-CTR data must be bytes');
  return plainBytes(sm4CtrCipher(key, iv).update(data)); // CTR is a stream mode: final() never adds bytes
}

/**
 * An SM4-CTR keystream over many calls (streams, or the bench's loop that matches `openssl speed`):
 * `update(chunk)` returns the chunk XOR the next keystream bytes. Key and IV are checked as sm4Ctr's.
 */
export function sm4CtrCipher(key: Uint8Array, iv: Uint8Array): Cipher {
  checkKey(key);
  if (!(iv instanceof Uint8Array) || iv.length !== SM4_BLOCK_BYTES) throw new CryptoError('bad-input', 'SM4-CTR IV must be 16 bytes');
  return createCipheriv('sm4-ctr', key, iv);
}

/** The raw SM4 block function (ECB, no padding) — for known-answer tests and the CTR keystream check. */
export function sm4EncryptBlocks(key: Uint8Array, blocks: Uint8Array): Uint8Array {
  checkKey(key);
  if (blocks.length % SM4_BLOCK_BYTES !== 0) throw new CryptoError('bad-input', 'SM4-ECB input must be whole blocks');
  const c = createCipheriv('sm4-ecb', key, null).setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(blocks), c.final()]));
}
