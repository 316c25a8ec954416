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

export function makeSm2Curve(c: Sm2CurveParams): Sm2Curve {
  const Point = weierstrass({ p: c.p, n: c.n, h: 1n, a: c.a, b: c.b, Gx: c.Gx, Gy: c.Gy });
  return { name: c.name, p: c.p, n: c.n, a: c.a, b: c.b, Point, G: Point.BASE, size: 32 };
}

/** The recommended curve sm2p256v1, GB/T 32918.5-2017 §3 (OID 1.2.156.10197.1.301). */
export const SM2P256V1: Sm2Curve = makeSm2Curve({
  name: 'sm2p256v1',
  p: 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn,
  a: 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn,
  b: 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n,
  Gx: 0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  Gy: 0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
  n: 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n,
});

// Base-point table for k·G (signing, key generation, encryption C1): built on first use (~180 ms once).
SM2P256V1.G.precompute(10, true);
