/**
 * Public-scalar multiplication on sm2p256v1 for signature verification (GB/T 32918.2 §7.1 B6:
 * (x1, y1) = s'·G + t·P_A). Variable time — s' and t are public. For PUBLIC data only.
 *
 * Each point gets a fixed-window table of AFFINE multiples, rows[w][j] = (j + 1)·2^(wW)·P, so a
 * scalar costs one mixed Jacobian + affine addition per non-zero signed digit and no doublings.
 * Additions use the limb field of sm2-field.ts; the exceptional inputs of the incomplete addition
 * formula (acc = ±table point) are not tested per step: they zero Z, which then stays zero, and the
 * caller re-runs such (crafted or astronomically unlucky) inputs on noble's complete formulas.
 */
import { invert } from '@noble/curves/abstract/modular.js';
import { canonicalize, fe, feAdd, feCopy, feFromBig, feIsZero, feMul, feSqr, feSub, feToBig, P, type Fe } from './sm2-field.js';

const LIMBS = 16;

/** A Jacobian point (x = X/Z², y = Y/Z³) or, while `empty`, the point at infinity. */
export class Jacobian {
  readonly X = fe();
  readonly Y = fe();
  readonly Z = fe();
  empty = true;
  reset(): this {
    this.empty = true;
    return this;
  }
}

// Scratch elements: verification is synchronous, so one set per process suffices.
const [z1z1, u2, s2, h, hh, i4, j, rr, v, t0, t1] = Array.from({ length: 11 }, fe);

/** acc += (x, y) affine. madd-2007-bl (7M + 4S); H = 0 (acc = ±(x, y)) leaves Z = 0 for good. */
export function addAffine(acc: Jacobian, x: Fe, y: Fe): void {
  const { X, Y, Z } = acc;
  if (acc.empty) {
    feCopy(X, x);
    feCopy(Y, y);
    Z.fill(0);
    Z[0] = 1;
    acc.empty = false;
    return;
  }
  feSqr(z1z1, Z);
  feMul(u2, x, z1z1);
  feMul(s2, y, feMul(t0, Z, z1z1));
  feSub(h, u2, X);
  feSqr(hh, h);
  feAdd(i4, hh, hh);
  feAdd(i4, i4, i4);
  feMul(j, h, i4);
  feSub(rr, s2, Y);
  feAdd(rr, rr, rr);
  feMul(v, X, i4);
  // X3 = r² − J − 2V
  feSub(X, feSub(t0, feSqr(t0, rr), j), feAdd(t1, v, v));
  // Y3 = r(V − X3) − 2·Y1·J
  feMul(t1, Y, j);
  feMul(Y, rr, feSub(t0, v, X));
  feSub(Y, feSub(Y, Y, t1), t1);
  // Z3 = (Z1 + H)² − Z1Z1 − HH
  feSqr(t0, feAdd(t0, Z, h));
  feSub(Z, feSub(t0, t0, z1z1), hh);
}

/** acc = 2·acc for a = −3 (dbl-2001-b, 3M + 5S); table building only. */
function double(acc: Jacobian): void {
  const { X, Y, Z } = acc;
  const delta = z1z1;
  const gamma = u2;
  const beta = s2;
  const alpha = h;
  feSqr(delta, Z);
  feSqr(gamma, Y);
  feMul(beta, X, gamma);
  feMul(alpha, feSub(t0, X, delta), feAdd(t1, X, delta));
  feAdd(alpha, feAdd(t0, alpha, alpha), alpha);
  // Z3 = (Y + Z)² − γ − δ   (before X and Y change)
  feSqr(t0, feAdd(t0, Y, Z));
  feSub(Z, feSub(t0, t0, gamma), delta);
  // X3 = α² − 8β
  feAdd(t1, beta, beta);
  feAdd(t1, t1, t1); // 4β
  feSub(X, feSub(t0, feSqr(t0, alpha), t1), t1);
  // Y3 = α(4β − X3) − 8γ²
  feMul(Y, alpha, feSub(t1, t1, X));
  feSqr(t0, gamma);
  feAdd(t0, t0, t0);
  feAdd(t0, t0, t0);
  feAdd(t0, t0, t0);
  feSub(Y, Y, t0);
}

const copyJ = (a: Jacobian): Jacobian => {
  const c = new Jacobian();
  feCopy(c.X, a.X);
  feCopy(c.Y, a.Y);
  feCopy(c.Z, a.Z);
  c.empty = a.empty;
  return c;
};

/** Affine coordinates of a finite Jacobian point, or undefined for infinity / Z = 0. */
export function toAffine(a: Jacobian): { x: bigint; y: bigint } | undefined {
  if (a.empty || feIsZero(a.Z)) return undefined;
  const zi = feFromBig(fe(), invert(feToBig(a.Z), P));
  const zi2 = feSqr(fe(), zi);
  return { x: feToBig(feMul(fe(), a.X, zi2)), y: feToBig(feMul(fe(), a.Y, feMul(zi2, zi2, zi))) };
}

/**
 * GB/T 32918.2 §7.1 B7 without the inversion to affine x1: true iff acc is finite with
 * (e + x1) mod n = r. x1 ∈ [0, p) and x1 ≡ r − e (mod n) leave two candidates, c and c + n (p > n);
 * x1 = c  ⇔  X = c·Z². The caller has checked Z ≠ 0.
 */
export function xMatches(acc: Jacobian, e: bigint, r: bigint, n: bigint): boolean {
  const c = (((r - e) % n) + n) % n;
  const z2 = feSqr(fe(), acc.Z);
  const cand = fe();
  if (feIsZero(feSub(t0, acc.X, feMul(cand, feFromBig(cand, c), z2)))) return true;
  return c + n < P && feIsZero(feSub(t0, acc.X, feMul(cand, feFromBig(cand, c + n), z2)));
}

/** Signed W-bit digits of 0 ≤ k < 2^256, least significant first, each in [−2^(W−1), 2^(W−1)]. */
function signedDigits(k: bigint, W: number, windows: number): Int32Array {
  const bytes = Buffer.from(k.toString(16).padStart(64, '0'), 'hex');
  const bit = (i: number): number => (i < 256 ? (bytes[31 - (i >> 3)]! >> (i & 7)) & 1 : 0);
  const out = new Int32Array(windows);
  const half = 1 << (W - 1);
  let carry = 0;
  for (let w = 0; w < windows; w++) {
    let d = carry;
    for (let b = 0; b < W; b++) d += bit(w * W + b) << b;
    carry = 0;
    if (d > half) {
      d -= 2 * half;
      carry = 1;
    }
    out[w] = d;
  }
  return out;
}

/** Fixed-window table of affine multiples of one point (the base point, or a cached public key). */
export class AffineTable {
  readonly windows: number;
  private readonly half: number;
  /** canonical 16-bit limbs: point i = (x at 32i, y at 32i + 16), i = w·half + j */
  private readonly limbs: Uint16Array;
  private readonly x = fe();
  private readonly y = fe();

  constructor(
    x: bigint,
    y: bigint,
    readonly W: number,
  ) {
    if (x >= P || y >= P) throw new RangeError('table point coordinates out of range');
    this.windows = Math.ceil(256 / W) + 1; // +1 absorbs the carry of signed-digit recoding
    this.half = 2 ** (W - 1);
    const count = this.windows * this.half;
    const rows: Jacobian[] = [];
    let bx = feFromBig(fe(), x);
    let by = feFromBig(fe(), y);
    for (let w = 0; w < this.windows; w++) {
      // (j + 1)·base for j < half: base, 2·base (a doubling: madd cannot add a point to itself), then + base.
      const acc = new Jacobian();
      addAffine(acc, bx, by);
      rows.push(copyJ(acc));
      for (let k = 1; k < this.half; k++) {
        if (k === 1) double(acc);
        else addAffine(acc, bx, by);
        rows.push(copyJ(acc));
      }
      if (w + 1 < this.windows) {
        double(acc); // 2^(W−1)·base·2 = 2^W·base = the next row's base
        const a = toAffine(acc);
        if (!a) throw new RangeError('table point has small order'); // impossible for points of prime order n
        bx = feFromBig(fe(), a.x);
        by = feFromBig(fe(), a.y);
      }
    }
    this.limbs = new Uint16Array(count * 2 * LIMBS);
    normalizeInto(rows, this.limbs);
  }

  /** Memory held by the table (the point of bounding how many are cached). */
  get bytes(): number {
    return this.limbs.byteLength;
  }

  /** acc += k·P for public 0 ≤ k < 2^256. */
  addMultiple(acc: Jacobian, k: bigint): void {
    const digits = signedDigits(k, this.W, this.windows);
    const { limbs, x, y, half } = this;
    for (let w = 0; w < this.windows; w++) {
      const d = digits[w]!;
      if (d === 0) continue;
      const off = (w * half + Math.abs(d) - 1) * 2 * LIMBS;
      for (let i = 0; i < LIMBS; i++) x[i] = limbs[off + i]!;
      // −(x, y) = (x, −y): a negated loose element is just negated limbs.
      if (d > 0) for (let i = 0; i < LIMBS; i++) y[i] = limbs[off + LIMBS + i]!;
      else for (let i = 0; i < LIMBS; i++) y[i] = -limbs[off + LIMBS + i]!;
      addAffine(acc, x, y);
    }
  }
}

/**
 * acc = k·P for a point without a cached table (a key's first use): 4-bit signed digits, most
 * significant first — 4 doublings and at most one mixed addition per digit over 8 affine multiples
 * of P. `acc` must be empty (doublings would scale what it holds). Same Z = 0 contract as addAffine
 * (a doubling keeps Z = 0: Z3 = 2·Y·Z).
 */
export function multiplyOnce(acc: Jacobian, x: bigint, y: bigint, k: bigint): void {
  if (!acc.empty) throw new RangeError('multiplyOnce needs an empty accumulator');
  const W = 4;
  const half = 8;
  const windows = Math.ceil(256 / W) + 1;
  const px = feFromBig(fe(), x);
  const py = feFromBig(fe(), y);
  const rows: Jacobian[] = [];
  const m = new Jacobian();
  addAffine(m, px, py);
  rows.push(copyJ(m));
  double(m);
  rows.push(copyJ(m));
  for (let j = 3; j <= half; j++) {
    addAffine(m, px, py);
    rows.push(copyJ(m));
  }
  const limbs = new Uint16Array(half * 2 * LIMBS);
  normalizeInto(rows, limbs);
  const digits = signedDigits(k, W, windows);
  const tx = fe();
  const ty = fe();
  for (let w = windows - 1; w >= 0; w--) {
    if (!acc.empty) for (let i = 0; i < W; i++) double(acc);
    const d = digits[w]!;
    if (d === 0) continue;
    const off = (Math.abs(d) - 1) * 2 * LIMBS;
    for (let i = 0; i < LIMBS; i++) tx[i] = limbs[off + i]!;
    for (let i = 0; i < LIMBS; i++) ty[i] = d > 0 ? limbs[off + LIMBS + i]! : -limbs[off + LIMBS + i]!;
    addAffine(acc, tx, ty);
  }
}

/** Affine, canonical limbs of every point, with one inversion for all (Montgomery's trick). */
function normalizeInto(points: Jacobian[], out: Uint16Array): void {
  const prefix: Fe[] = [];
  let run = feCopy(fe(), points[0]!.Z);
  prefix.push(run);
  for (let i = 1; i < points.length; i++) {
    run = feMul(fe(), run, points[i]!.Z);
    prefix.push(run);
  }
  let inv = feFromBig(fe(), invert(feToBig(run), P)); // (Z_0 ⋯ Z_i)⁻¹
  const zi = fe();
  const zi2 = fe();
  const c = fe();
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i]!;
    if (i > 0) {
      feMul(zi, inv, prefix[i - 1]!); // Z_i⁻¹
      feMul(inv, inv, p.Z); // (Z_0 ⋯ Z_{i−1})⁻¹
    } else feCopy(zi, inv);
    feSqr(zi2, zi);
    canonicalize(c, feMul(c, p.X, zi2));
    for (let k = 0; k < LIMBS; k++) out[i * 2 * LIMBS + k] = c[k]!;
    canonicalize(c, feMul(c, p.Y, feMul(zi2, zi2, zi)));
    for (let k = 0; k < LIMBS; k++) out[i * 2 * LIMBS + LIMBS + k] = c[k]!;
  }
}
