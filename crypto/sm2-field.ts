/**
 * Arithmetic modulo the sm2p256v1 prime p = 2^256 − 2^224 − 2^96 + 2^64 − 1 (GB/T 32918.5 §3) on
 * sixteen 16-bit limbs held in doubles, for the PUBLIC-data path of signature verification only
 * (variable time: branches and floor() on values). Why not bigint: a 256-bit bigint product costs
 * ~0.13 µs but its `% p` another ~0.4 µs; here a product is 256 exact double multiply-adds (< 2^53)
 * and p's special form reduces it with shifts of whole limbs:
 *   2^256 ≡ 2^224 + 2^96 − 2^64 + 1 (mod p), i.e. limb 16+j folds into limbs 14+j, 6+j, 4+j (−), j.
 *
 * Elements are "loose": any limbs with |limb| ≤ 2^20 whose value Σ limb_i·2^(16i) is congruent to
 * the element. add/sub do no carries; a product's limbs come back in [−1, 2^16 + 1]. So a handful of
 * additions may be chained between products without any risk of exceeding 2^53 inside feMul.
 * canonicalize() gives the unique limbs in [0, 2^16) of the value in [0, p).
 */
export type Fe = Float64Array;

export const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const LIMBS = 16;
const RADIX = 65536;
const INV_RADIX = 1 / RADIX;
// p's limbs, little-endian: ffff ffff ffff ffff 0000 0000 ffff ffff ffff ffff ffff ffff ffff ffff fffe ffff
const P_LIMBS = Float64Array.from({ length: LIMBS }, (_, i) => Number((P >> BigInt(16 * i)) & 0xffffn));

export const fe = (): Fe => new Float64Array(LIMBS);

/** x ∈ [0, 2^256) → limbs. */
export function feFromBig(out: Fe, x: bigint): Fe {
  const hex = x.toString(16).padStart(64, '0');
  for (let i = 0; i < LIMBS; i++) out[i] = parseInt(hex.slice(60 - 4 * i, 64 - 4 * i), 16);
  return out;
}

/** The element as a bigint in [0, p). */
export function feToBig(a: Fe): bigint {
  const c = canonicalize(fe(), a);
  let hex = '';
  for (let i = LIMBS - 1; i >= 0; i--) hex += c[i]!.toString(16).padStart(4, '0');
  return BigInt(`0x${hex}`);
}

export function feCopy(out: Fe, a: ArrayLike<number>, offset = 0): Fe {
  for (let i = 0; i < LIMBS; i++) out[i] = a[offset + i]!;
  return out;
}

export function feAdd(out: Fe, a: Fe, b: Fe): Fe {
  for (let i = 0; i < LIMBS; i++) out[i] = a[i]! + b[i]!;
  return out;
}

export function feSub(out: Fe, a: Fe, b: Fe): Fe {
  for (let i = 0; i < LIMBS; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** One carry pass over t[0..15]; the carry out of limb 15 (a multiple of 2^256) is folded back. */
function carryFold(t: Float64Array): number {
  for (let i = 0; i < LIMBS - 1; i++) {
    const c = Math.floor(t[i]! * INV_RADIX);
    t[i]! -= c * RADIX;
    t[i + 1]! += c;
  }
  const c = Math.floor(t[15]! * INV_RADIX);
  t[15]! -= c * RADIX;
  t[0]! += c;
  t[4]! -= c;
  t[6]! += c;
  t[14]! += c;
  return c;
}

/** out = a·b mod p (loose). `out` may alias `a` or `b`. Unrolled into locals: the loop form runs 3× slower. */
export function feMul(out: Fe, a: Fe, b: Fe): Fe {
  const a0 = a[0]!, a1 = a[1]!, a2 = a[2]!, a3 = a[3]!, a4 = a[4]!, a5 = a[5]!, a6 = a[6]!, a7 = a[7]!, a8 = a[8]!, a9 = a[9]!, a10 = a[10]!, a11 = a[11]!, a12 = a[12]!, a13 = a[13]!, a14 = a[14]!, a15 = a[15]!;
  const b0 = b[0]!, b1 = b[1]!, b2 = b[2]!, b3 = b[3]!, b4 = b[4]!, b5 = b[5]!, b6 = b[6]!, b7 = b[7]!, b8 = b[8]!, b9 = b[9]!, b10 = b[10]!, b11 = b[11]!, b12 = b[12]!, b13 = b[13]!, b14 = b[14]!, b15 = b[15]!;
  let t0 = a0 * b0;
  let t1 = a0 * b1 + a1 * b0;
  let t2 = a0 * b2 + a1 * b1 + a2 * b0;
  let t3 = a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  let t4 = a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0;
  let t5 = a0 * b5 + a1 * b4 + a2 * b3 + a3 * b2 + a4 * b1 + a5 * b0;
  let t6 = a0 * b6 + a1 * b5 + a2 * b4 + a3 * b3 + a4 * b2 + a5 * b1 + a6 * b0;
  let t7 = a0 * b7 + a1 * b6 + a2 * b5 + a3 * b4 + a4 * b3 + a5 * b2 + a6 * b1 + a7 * b0;
  let t8 = a0 * b8 + a1 * b7 + a2 * b6 + a3 * b5 + a4 * b4 + a5 * b3 + a6 * b2 + a7 * b1 + a8 * b0;
  let t9 = a0 * b9 + a1 * b8 + a2 * b7 + a3 * b6 + a4 * b5 + a5 * b4 + a6 * b3 + a7 * b2 + a8 * b1 + a9 * b0;
  let t10 = a0 * b10 + a1 * b9 + a2 * b8 + a3 * b7 + a4 * b6 + a5 * b5 + a6 * b4 + a7 * b3 + a8 * b2 + a9 * b1 + a10 * b0;
  let t11 = a0 * b11 + a1 * b10 + a2 * b9 + a3 * b8 + a4 * b7 + a5 * b6 + a6 * b5 + a7 * b4 + a8 * b3 + a9 * b2 + a10 * b1 + a11 * b0;
  let t12 = a0 * b12 + a1 * b11 + a2 * b10 + a3 * b9 + a4 * b8 + a5 * b7 + a6 * b6 + a7 * b5 + a8 * b4 + a9 * b3 + a10 * b2 + a11 * b1 + a12 * b0;
  let t13 = a0 * b13 + a1 * b12 + a2 * b11 + a3 * b10 + a4 * b9 + a5 * b8 + a6 * b7 + a7 * b6 + a8 * b5 + a9 * b4 + a10 * b3 + a11 * b2 + a12 * b1 + a13 * b0;
  let t14 = a0 * b14 + a1 * b13 + a2 * b12 + a3 * b11 + a4 * b10 + a5 * b9 + a6 * b8 + a7 * b7 + a8 * b6 + a9 * b5 + a10 * b4 + a11 * b3 + a12 * b2 + a13 * b1 + a14 * b0;
  let t15 = a0 * b15 + a1 * b14 + a2 * b13 + a3 * b12 + a4 * b11 + a5 * b10 + a6 * b9 + a7 * b8 + a8 * b7 + a9 * b6 + a10 * b5 + a11 * b4 + a12 * b3 + a13 * b2 + a14 * b1 + a15 * b0;
  let t16 = a1 * b15 + a2 * b14 + a3 * b13 + a4 * b12 + a5 * b11 + a6 * b10 + a7 * b9 + a8 * b8 + a9 * b7 + a10 * b6 + a11 * b5 + a12 * b4 + a13 * b3 + a14 * b2 + a15 * b1;
  let t17 = a2 * b15 + a3 * b14 + a4 * b13 + a5 * b12 + a6 * b11 + a7 * b10 + a8 * b9 + a9 * b8 + a10 * b7 + a11 * b6 + a12 * b5 + a13 * b4 + a14 * b3 + a15 * b2;
  let t18 = a3 * b15 + a4 * b14 + a5 * b13 + a6 * b12 + a7 * b11 + a8 * b10 + a9 * b9 + a10 * b8 + a11 * b7 + a12 * b6 + a13 * b5 + a14 * b4 + a15 * b3;
  let t19 = a4 * b15 + a5 * b14 + a6 * b13 + a7 * b12 + a8 * b11 + a9 * b10 + a10 * b9 + a11 * b8 + a12 * b7 + a13 * b6 + a14 * b5 + a15 * b4;
  let t20 = a5 * b15 + a6 * b14 + a7 * b13 + a8 * b12 + a9 * b11 + a10 * b10 + a11 * b9 + a12 * b8 + a13 * b7 + a14 * b6 + a15 * b5;
  let t21 = a6 * b15 + a7 * b14 + a8 * b13 + a9 * b12 + a10 * b11 + a11 * b10 + a12 * b9 + a13 * b8 + a14 * b7 + a15 * b6;
  let t22 = a7 * b15 + a8 * b14 + a9 * b13 + a10 * b12 + a11 * b11 + a12 * b10 + a13 * b9 + a14 * b8 + a15 * b7;
  let t23 = a8 * b15 + a9 * b14 + a10 * b13 + a11 * b12 + a12 * b11 + a13 * b10 + a14 * b9 + a15 * b8;
  let t24 = a9 * b15 + a10 * b14 + a11 * b13 + a12 * b12 + a13 * b11 + a14 * b10 + a15 * b9;
  let t25 = a10 * b15 + a11 * b14 + a12 * b13 + a13 * b12 + a14 * b11 + a15 * b10;
  let t26 = a11 * b15 + a12 * b14 + a13 * b13 + a14 * b12 + a15 * b11;
  let t27 = a12 * b15 + a13 * b14 + a14 * b13 + a15 * b12;
  let t28 = a13 * b15 + a14 * b14 + a15 * b13;
  let t29 = a14 * b15 + a15 * b14;
  let t30 = a15 * b15;
  t28 += t30; t20 += t30; t18 -= t30; t14 += t30;
  t27 += t29; t19 += t29; t17 -= t29; t13 += t29;
  t26 += t28; t18 += t28; t16 -= t28; t12 += t28;
  t25 += t27; t17 += t27; t15 -= t27; t11 += t27;
  t24 += t26; t16 += t26; t14 -= t26; t10 += t26;
  t23 += t25; t15 += t25; t13 -= t25; t9 += t25;
  t22 += t24; t14 += t24; t12 -= t24; t8 += t24;
  t21 += t23; t13 += t23; t11 -= t23; t7 += t23;
  t20 += t22; t12 += t22; t10 -= t22; t6 += t22;
  t19 += t21; t11 += t21; t9 -= t21; t5 += t21;
  t18 += t20; t10 += t20; t8 -= t20; t4 += t20;
  t17 += t19; t9 += t19; t7 -= t19; t3 += t19;
  t16 += t18; t8 += t18; t6 -= t18; t2 += t18;
  t15 += t17; t7 += t17; t5 -= t17; t1 += t17;
  t14 += t16; t6 += t16; t4 -= t16; t0 += t16;
  // First carry pass in locals (a loop over the array costs ~40% of the product); the second,
  // on carries of a few bits, through carryFold.
  let c: number;
  c = Math.floor(t0 * INV_RADIX); t0 -= c * RADIX; t1 += c;
  c = Math.floor(t1 * INV_RADIX); t1 -= c * RADIX; t2 += c;
  c = Math.floor(t2 * INV_RADIX); t2 -= c * RADIX; t3 += c;
  c = Math.floor(t3 * INV_RADIX); t3 -= c * RADIX; t4 += c;
  c = Math.floor(t4 * INV_RADIX); t4 -= c * RADIX; t5 += c;
  c = Math.floor(t5 * INV_RADIX); t5 -= c * RADIX; t6 += c;
  c = Math.floor(t6 * INV_RADIX); t6 -= c * RADIX; t7 += c;
  c = Math.floor(t7 * INV_RADIX); t7 -= c * RADIX; t8 += c;
  c = Math.floor(t8 * INV_RADIX); t8 -= c * RADIX; t9 += c;
  c = Math.floor(t9 * INV_RADIX); t9 -= c * RADIX; t10 += c;
  c = Math.floor(t10 * INV_RADIX); t10 -= c * RADIX; t11 += c;
  c = Math.floor(t11 * INV_RADIX); t11 -= c * RADIX; t12 += c;
  c = Math.floor(t12 * INV_RADIX); t12 -= c * RADIX; t13 += c;
  c = Math.floor(t13 * INV_RADIX); t13 -= c * RADIX; t14 += c;
  c = Math.floor(t14 * INV_RADIX); t14 -= c * RADIX; t15 += c;
  c = Math.floor(t15 * INV_RADIX); t15 -= c * RADIX; t0 += c; t4 -= c; t6 += c; t14 += c;
  out[0] = t0;
  out[1] = t1;
  out[2] = t2;
  out[3] = t3;
  out[4] = t4;
  out[5] = t5;
  out[6] = t6;
  out[7] = t7;
  out[8] = t8;
  out[9] = t9;
  out[10] = t10;
  out[11] = t11;
  out[12] = t12;
  out[13] = t13;
  out[14] = t14;
  out[15] = t15;
  carryFold(out);
  return out;
}

export const feSqr = (out: Fe, a: Fe): Fe => feMul(out, a, a);

const canonTmp = new Float64Array(LIMBS);

/** out = the limbs of a mod p in [0, 2^16), value in [0, p). */
export function canonicalize(out: Fe, a: Fe): Fe {
  const t = canonTmp;
  for (let i = 0; i < LIMBS; i++) t[i] = a[i]!;
  // A pass with no carry out of limb 15 leaves every limb in [0, 2^16): the value is then in
  // [0, 2^256). Each folding pass moves the value by carry·p towards that range (a few passes).
  for (let pass = 0; pass < 64 && carryFold(t) !== 0; pass++);
  // Now 0 ≤ value < 2^256 < 2p: subtract p at most once.
  let ge = true;
  for (let i = LIMBS - 1; i >= 0; i--) {
    if (t[i] !== P_LIMBS[i]) {
      ge = t[i]! > P_LIMBS[i]!;
      break;
    }
  }
  if (ge) {
    let borrow = 0;
    for (let i = 0; i < LIMBS; i++) {
      let v = t[i]! - P_LIMBS[i]! - borrow;
      borrow = v < 0 ? 1 : 0;
      if (borrow) v += RADIX;
      t[i] = v;
    }
  }
  for (let i = 0; i < LIMBS; i++) out[i] = t[i]!;
  return out;
}

const zeroTmp = new Float64Array(LIMBS);

export function feIsZero(a: Fe): boolean {
  const c = canonicalize(zeroTmp, a);
  for (let i = 0; i < LIMBS; i++) if (c[i] !== 0) return false;
  return true;
}

export const feEquals = (a: Fe, b: Fe): boolean => feIsZero(feSub(fe(), a, b));
