import { randomBytes } from 'node:crypto';

/**
 * The only source of randomness for privacy noise: the OS CSPRNG through node:crypto.
 * Everything here is integer arithmetic: uniform integers by rejection (no modulo bias) and Bernoulli draws
 * with rational probabilities, so the noise samplers built on top never round a probability.
 * Bytes are drawn in 64 KiB batches because a randomBytes call per sample would dominate the cost
 * of sampling; the batch is zeroed once consumed so past draws do not linger in memory.
 */
const BATCH = 64 * 1024;
let buf: Buffer = Buffer.alloc(0);
let off = 0;

function refill(): void {
  buf.fill(0);
  buf = randomBytes(BATCH);
  off = 0;
}

function word32(): number {
  if (off + 4 > buf.length) refill();
  const w = buf.readUInt32BE(off);
  off += 4;
  return w;
}

// Small requests take bits from one word at a time; leftover bits are dropped unread, never reused.
let pool = 0;
let poolBits = 0;

/** k uniform random bits (1 ≤ k ≤ 32) as a non-negative integer. */
function bits(k: number): number {
  if (k === 32) return word32();
  if (poolBits < k) {
    pool = word32();
    poolBits = 32;
  }
  const r = (pool & (k === 31 ? 0x7fffffff : (1 << k) - 1)) >>> 0;
  pool = pool >>> k;
  poolBits -= k;
  return r;
}

/** One fair coin. */
export function randomBit(): boolean {
  return bits(1) === 1;
}

/** Number of bits of a positive safe integer, by integer steps only. */
function bitLength(n: number): number {
  if (n <= 0xffffffff) return 32 - Math.clz32(n);
  return 32 + (32 - Math.clz32(Math.floor(n / 4294967296)));
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Uniform integer in [0, n) for a safe integer 1 ≤ n ≤ 2⁵³ − 1: draw bitLength(n−1) bits, retry when ≥ n. */
export function uniformBelow(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`uniformBelow needs a safe integer ≥ 1, got ${n}`);
  if (n === 1) return 0;
  const k = bitLength(n - 1);
  if (k <= 32) {
    for (;;) {
      const r = bits(k);
      if (r < n) return r;
    }
  }
  const hiBits = k - 32;
  for (;;) {
    const r = bits(hiBits) * 4294967296 + word32();
    if (r < n) return r;
  }
}

/** Uniform integer in [0, n) for any bigint n ≥ 1, by rejection on bitLength(n−1) bits. */
export function uniformBelowBig(n: bigint): bigint {
  if (n < 1n) throw new RangeError(`uniformBelowBig needs n ≥ 1, got ${n}`);
  if (n <= BigInt(MAX_SAFE)) return BigInt(uniformBelow(Number(n)));
  const k = (n - 1n).toString(2).length;
  const words = Math.floor(k / 32);
  const top = k - 32 * words;
  for (;;) {
    let r = top > 0 ? BigInt(bits(top)) : 0n;
    for (let i = 0; i < words; i++) r = (r << 32n) | BigInt(word32());
    if (r < n) return r;
  }
}

/** Bernoulli(num/den) for safe integers 0 ≤ num, 1 ≤ den: exact. */
export function bernoulliRational(num: number, den: number): boolean {
  if (num <= 0) return false;
  if (num >= den) return true;
  return uniformBelow(den) < num;
}

/** Bernoulli(num/den) for bigints 0 ≤ num, 1 ≤ den: exact. */
export function bernoulliRationalBig(num: bigint, den: bigint): boolean {
  if (num <= 0n) return false;
  if (num >= den) return true;
  return uniformBelowBig(den) < num;
}

export { MAX_SAFE };
