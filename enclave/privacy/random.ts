import { randomBytes } from 'node:crypto';

/**
 * The only source of randomness for privacy noise: the OS CSPRNG through node:crypto.
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

/** A uniform 53-bit integer as a float (exactly representable). */
function bits53(): number {
  if (off + 8 > buf.length) refill();
  const hi = buf.readUInt32BE(off) >>> 11; // 21 bits
  const lo = buf.readUInt32BE(off + 4); // 32 bits
  off += 8;
  return hi * 4294967296 + lo;
}

/** Uniform on the open interval (0, 1): the midpoints of a 2⁻⁵³ grid, so log(u) is always finite. */
export function uniformOpen(): number {
  return (bits53() + 0.5) / 9007199254740992;
}

/** Bernoulli(p) for a float p in [0, 1]. */
export function bernoulli(p: number): boolean {
  return uniformOpen() < p;
}
