/**
 * Curve-generic SM2 algorithms (GB/T 32918.2 §6–7 signatures, GB/T 32918.4 §6–7 encryption) on bigint
 * scalars and noble points. The nonce k can be injected so the standard's worked examples (and
 * OpenSSL's sm2_internal_test.c) can be replayed as known-answer tests; production callers use the
 * random k of sm2.ts. Everything here assumes already-validated keys and points.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { invert } from '@noble/curves/abstract/modular.js';
import { CryptoError } from './errors.js';
import { kdfSm3, sm3Parts } from './sm3.js';
import type { Sm2Curve, Sm2Point } from './sm2-curve.js';

export const bytesToBig = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`));

export function bigToBytes(n: bigint, len = 32): Uint8Array {
  const hex = n.toString(16).padStart(len * 2, '0');
  if (hex.length > len * 2) throw new CryptoError('bad-input', 'integer too large');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Uniform scalar in [1, max] (40 random bytes reduced: bias < 2^-60). */
export function randomScalar(max: bigint): bigint {
  return (bytesToBig(new Uint8Array(randomBytes(40))) % max) + 1n;
}

/** Nonce source: random by default, or a fixed list (known-answer tests). */
export type NonceSource = () => bigint;
export const randomNonce = (curve: Sm2Curve): NonceSource => () => randomScalar(curve.n - 1n);

/**
 * Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A), GB/T 32918.2 §5.5.
 * ENTL_A is the ID length in BITS as two bytes, so IDs are limited to 8191 bytes.
 */
export function sm2Za(curve: Sm2Curve, id: Uint8Array, P: Sm2Point): Uint8Array {
  if (id.length > 0x1fff) throw new CryptoError('bad-input', 'SM2 user ID longer than 8191 bytes');
  const bits = id.length * 8;
  const g = curve.G.toAffine();
  const a = P.toAffine();
  return sm3Parts(
    Uint8Array.of(bits >> 8, bits & 0xff),
    id,
    bigToBytes(curve.a),
    bigToBytes(curve.b),
    bigToBytes(g.x),
    bigToBytes(g.y),
    bigToBytes(a.x),
    bigToBytes(a.y),
  );
}

/** e = SM3(Z_A ‖ M) as an integer, GB/T 32918.2 §6.1 steps A1–A2. */
export const sm2Digest = (curve: Sm2Curve, id: Uint8Array, P: Sm2Point, message: Uint8Array): bigint =>
  bytesToBig(sm3Parts(sm2Za(curve, id, P), message));

/**
 * Signature generation, GB/T 32918.2 §6.1 steps A3–A7. `dInv` = (1 + d)⁻¹ mod n may be passed
 * precomputed (it depends only on the key).
 */
export function sm2SignDigest(curve: Sm2Curve, d: bigint, e: bigint, nonce: NonceSource, dInv = invert(1n + d, curve.n)): { r: bigint; s: bigint } {
  const n = curve.n;
  for (let attempt = 0; attempt < 64; attempt++) {
    const k = nonce(); // A3
    const x1 = curve.mulBaseEphemeral(k).toAffine().x; // A4 (constant-time, base table)
    const r = (e + x1) % n; // A5
    if (r === 0n || r + k === n) continue;
    const s = (dInv * (((k - r * d) % n) + n)) % n; // A6
    if (s === 0n) continue;
    return { r, s };
  }
  throw new CryptoError('bad-input', 'no usable nonce'); // only reachable with a broken injected nonce
}

/** s·G + t·P for public s, t; callers with cached tables pass a faster one. */
export type LinearCombination = (s: bigint, t: bigint) => Sm2Point;

/** Signature verification, GB/T 32918.2 §7.1 steps B1–B7. Never throws for bad r/s. */
export function sm2VerifyDigest(
  curve: Sm2Curve,
  P: Sm2Point,
  e: bigint,
  r: bigint,
  s: bigint,
  sGtP: LinearCombination = (a, b) => curve.G.multiplyUnsafe(a).add(P.multiplyUnsafe(b)),
): boolean {
  const n = curve.n;
  if (r < 1n || r >= n || s < 1n || s >= n) return false; // B1, B2
  const t = (r + s) % n; // B5
  if (t === 0n) return false;
  const Q = sGtP(s, t); // B6 (public scalars)
  if (Q.is0()) return false;
  return (e + Q.toAffine().x) % n === r; // B7
}

function xorInto(out: Uint8Array, a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i]! ^ b[i]!;
}

const allZero = (t: Uint8Array): boolean => t.every((x) => x === 0);

/** k ↦ k·X for a one-time k and a fixed point X (affine coordinates of the result only). */
export type EphemeralMul = (k: bigint) => { toAffine(): { x: bigint; y: bigint } };

/** C1 (affine), C3 = SM3(x2 ‖ M ‖ y2), C2 = M ⊕ t — as produced by encryption. */
export interface Sm2CiphertextParts {
  C1: { x: bigint; y: bigint };
  C3: Uint8Array;
  C2: Uint8Array;
}

/** Parsed ciphertext whose C1 has been validated as a curve point. */
export interface Sm2DecodedCiphertext {
  C1: Sm2Point;
  C3: Uint8Array;
  C2: Uint8Array;
}

/**
 * Encryption, GB/T 32918.4 §6.1 steps A1–A8 (cofactor h = 1, so S = h·P_B is P_B itself).
 * `tables`: k ↦ k·P_B for a key used often and k ↦ k·G (curve.ephemeralMultiplier over cached tables);
 * by default P.multiply and curve.mulBaseEphemeral.
 */
export function sm2EncryptCore(curve: Sm2Curve, P: Sm2Point, M: Uint8Array, nonce: NonceSource, tables: { kP?: EphemeralMul; kG?: EphemeralMul } = {}): Sm2CiphertextParts {
  if (M.length === 0) throw new CryptoError('bad-input', 'SM2 encryption of an empty message'); // t would be all-zero
  for (let attempt = 0; attempt < 64; attempt++) {
    const k = nonce(); // A1
    const C1 = (tables.kG ? tables.kG(k) : curve.mulBaseEphemeral(k)).toAffine(); // A2
    const Q = (tables.kP ? tables.kP(k) : P.multiply(k)).toAffine(); // A4
    const x2 = bigToBytes(Q.x);
    const y2 = bigToBytes(Q.y);
    const t = kdfSm3(Buffer.concat([x2, y2]), M.length); // A5
    if (allZero(t)) continue;
    const C2 = new Uint8Array(M.length);
    xorInto(C2, M, t); // A6
    const C3 = sm3Parts(x2, M, y2); // A7
    return { C1, C3, C2 };
  }
  throw new CryptoError('bad-input', 'no usable nonce');
}

/** Decryption, GB/T 32918.4 §7.1 steps B1–B7. C1 must already be a validated curve point. */
export function sm2DecryptCore(d: bigint, c: Sm2DecodedCiphertext): Uint8Array {
  if (c.C2.length === 0 || c.C3.length !== 32) throw new CryptoError('bad-ciphertext', 'bad SM2 ciphertext lengths');
  const Q = c.C1.multiply(d).toAffine(); // B3
  const x2 = bigToBytes(Q.x);
  const y2 = bigToBytes(Q.y);
  const t = kdfSm3(Buffer.concat([x2, y2]), c.C2.length); // B4
  if (allZero(t)) throw new CryptoError('bad-ciphertext', 'SM2 KDF output is all zero');
  const M = new Uint8Array(c.C2.length);
  xorInto(M, c.C2, t); // B5
  const u = sm3Parts(x2, M, y2); // B6
  if (!timingSafeEqual(u, c.C3)) throw new CryptoError('authentication-failed', 'SM2 ciphertext hash check failed');
  return M;
}
