/** Byte/text encodings used by every signed or sealed format. Decoders are strict: no silent garbage. */
import { CryptoError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/** UTF-8 → string; throws CryptoError('bad-encoding') on malformed UTF-8 instead of inserting U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new CryptoError('bad-encoding', 'malformed UTF-8');
  }
}

/** Accepts strings as UTF-8 — the convention for every `Uint8Array | string` parameter here. */
export function asBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return utf8(data);
  if (data instanceof Uint8Array) return data;
  throw new CryptoError('bad-input', 'expected bytes (Uint8Array) or a string');
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new CryptoError('bad-encoding', 'not a hex string of whole bytes');
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Standard base64 (RFC 4648 §4) with padding. */
export const toB64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

/**
 * Strict standard base64: padded, no whitespace, no URL alphabet, and canonical (unused trailing
 * bits zero) — so one byte string has exactly one accepted text form. Node's decoder alone skips junk.
 */
export function fromB64(b64: string): Uint8Array {
  if (typeof b64 !== 'string' || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new CryptoError('bad-encoding', 'not strict base64');
  }
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) throw new CryptoError('bad-encoding', 'non-canonical base64');
  return new Uint8Array(bytes);
}

/**
 * A node Buffer as a plain Uint8Array (what every API here returns, so deep-equality and
 * `instanceof` behave the same everywhere): a view when the Buffer owns its whole ArrayBuffer —
 * cipher and hash outputs do — and a copy when it is a slice of node's shared pool.
 */
export function plainBytes(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.buffer.byteLength === b.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
