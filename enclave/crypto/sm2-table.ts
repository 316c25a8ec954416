/**
 * Variable-time fixed-window multiplication for PUBLIC scalars only (signature verification).
 * Noble's cached-table multiplyUnsafe reuses its constant-time kernel (a real and a fake addition
 * plus a scan of the whole window table per window); for public s and t that work buys nothing,
 * so verification walks its own tables: one noble point addition per non-zero signed digit.
 */
import type { Sm2Point } from './sm2-curve.js';

export class FixedWindowTable {
  private readonly windows: number;
  private readonly half: number;
  private readonly mask: bigint;
  private readonly wBig: bigint;
  /** rows[w][j] = (j + 1)·2^(w·W)·P */
  private readonly rows: Sm2Point[][];

  constructor(
    point: Sm2Point,
    W: number,
    private readonly zero: Sm2Point,
    bits = 256,
  ) {
    this.windows = Math.ceil(bits / W) + 1; // +1 absorbs the carry of signed-digit recoding
    this.half = 2 ** (W - 1);
    this.mask = (1n << BigInt(W)) - 1n;
    this.wBig = BigInt(W);
    this.rows = [];
    let base = point;
    for (let w = 0; w < this.windows; w++) {
      const row: Sm2Point[] = [base];
      for (let j = 1; j < this.half; j++) row.push(row[j - 1]!.add(base));
      this.rows.push(row);
      base = row[this.half - 1]!.double(); // 2^(W−1)·base·2 = 2^W·base
    }
  }

  /** n·P for 0 ≤ n < 2^bits, not constant time. */
  multiplyPublic(n: bigint): Sm2Point {
    let acc = this.zero;
    let carry = 0;
    for (let w = 0; w < this.windows; w++) {
      let digit = Number(n & this.mask) + carry;
      n >>= this.wBig;
      carry = 0;
      if (digit > this.half) {
        digit -= 2 * this.half;
        carry = 1;
      }
      if (digit > 0) acc = acc.add(this.rows[w]![digit - 1]!);
      else if (digit < 0) acc = acc.add(this.rows[w]![-digit - 1]!.negate());
    }
    return acc;
  }
}
