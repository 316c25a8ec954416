/**
 * SM2 elliptic curves as @noble/curves Weierstrass point arithmetic. The SM2 algorithms themselves
 * (GB/T 32918.2 signatures, 32918.4 encryption) are in sm2.ts; noble's ecdsa() is NOT SM2.
 */
import { weierstrass, type WeierstrassPoint, type WeierstrassPointCons } from '@noble/curves/abstract/weierstrass.js';

export type Sm2Point = WeierstrassPoint<bigint>;

export interface Sm2Curve {
  readonly name: string;
  readonly p: bigint;
  readonly n: bigint;
  readonly a: bigint;
  readonly b: bigint;
  readonly Point: WeierstrassPointCons<bigint>;
  readonly G: Sm2Point;
  /**
   * k·G for a fresh one-time secret k (signature and encryption nonces): constant-time fixed-window
   * multiplication over a cached base table, without scalar blinding — see makeSm2Curve.
   * The result belongs to another noble constructor: read its affine coordinates only.
   */
  readonly mulBaseEphemeral: (k: bigint) => { toAffine(): { x: bigint; y: bigint } };
  /**
   * The same constant-time multiplication for a fixed point P other than G (encryption's k·P_B, GB/T
   * 32918.4 §6.1 A4, with a one-time k): P's window table is built here, once (W = 8: ~90 ms, ~0.6 MB),
   * and every k·P then costs ~33 table additions instead of a blinded 384-bit walk (~8 ms).
   * P must be a validated curve point (affine); read only the affine coordinates of the products.
   */
  readonly ephemeralMultiplier: (P: { x: bigint; y: bigint }, window: number) => (k: bigint) => { toAffine(): { x: bigint; y: bigint } };
  /** whether mulBaseEphemeral's table exists yet (it is built on that function's first call) */
  readonly baseTableBuilt: () => boolean;
  /** bytes of a field element / scalar (32 for every curve here) */
  readonly size: number;
}

export interface Sm2CurveParams {
  name: string;
  p: bigint;
  a: bigint;
  b: bigint;
  Gx: bigint;
  Gy: bigint;
  n: bigint;
}

/**
 * Two noble constructors over the same curve:
 *  - `Point` keeps noble's defaults, including scalar blinding of secret multiplications: used for
 *    the long-term private key d (d·G at key load, d·C1 in decryption), where an attacker could
 *    average many traces of the same scalar — the attack blinding exists for.
 *  - the ephemeral constructor disables blinding (a throwing RNG makes noble fall back to its plain
 *    constant-time path, as documented in probeRandomBytes). Nonces are used once, so blinding
 *    buys little there, and it costs a 384- instead of 256-bit walk: ~1.5–2× slower signing.
 * Points of the two constructors are never mixed: only affine coordinates of ephemeral products are used.
 */
export function makeSm2Curve(c: Sm2CurveParams, baseWindow?: number): Sm2Curve {
  const opts = { p: c.p, n: c.n, h: 1n, a: c.a, b: c.b, Gx: c.Gx, Gy: c.Gy };
  const Point = weierstrass(opts);
  const Ephemeral = weierstrass(opts, {
    randomBytes: () => {
      throw new Error('no blinding for one-time scalars');
    },
  });
  // Base table for k·G (signing, encryption C1): built on first use (~150 ms once).
  if (baseWindow) Ephemeral.BASE.precompute(baseWindow, true);
  let baseBuilt = false;
  const mulBaseEphemeral = (k: bigint) => {
    baseBuilt = true;
    return Ephemeral.BASE.multiply(k);
  };
  const ephemeralMultiplier = (P: { x: bigint; y: bigint }, window: number) => {
    const Q = Ephemeral.fromAffine(P);
    Q.assertValidity();
    Q.precompute(window, false); // the table lives as long as Q, i.e. as long as the returned function
    return (k: bigint) => Q.multiply(k);
  };
  return { name: c.name, p: c.p, n: c.n, a: c.a, b: c.b, Point, G: Point.BASE, mulBaseEphemeral, ephemeralMultiplier, baseTableBuilt: () => baseBuilt, size: 32 };
}

/** The recommended curve sm2p256v1, GB/T 32918.5-2017 §3 (OID 1.2.156.10197.1.301). */
export const SM2P256V1: Sm2Curve = makeSm2Curve(
  {
    name: 'sm2p256v1',
    p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
    a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
    b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
    Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
    Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
    n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
  },
  10,
);
