import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import type { BundleLayout } from '../../formats/manifest.js';
import { columnRowMax, columnValue } from '../../he/layout.js';
import type { BfvParams } from '../../he/params.js';

/**
 * The owner's pre-addition of the HE columns: every group and filter the HE path answers
 * is a union of whole partitions, so nothing more than each partition's column totals is needed. The
 * owner therefore adds up each partition's rows on its own machine and encrypts the totals — packed into the
 * slots of a few ciphertexts (layout v2, he/layout.ts), or one per partition and column in slot 0 (v1): the
 * partial sums never leave the owner's machine in plaintext, and no ciphertext count reveals a partition's size.
 *
 * Two stages, both exact:
 * - `SegmentTotals` (one row chunk's rows, on whichever thread parsed them): float64 sums. Every value a row
 *   puts into a column is an integer of magnitude ≤ columnRowMax ≤ 2^40 (≤ 2^19 for the layouts planLayout
 *   makes), and a segment holds at most `maxSegmentRows` rows, so every partial sum stays below 2^53 —
 *   float64 adds integers exactly there, and are far cheaper than BigInt per row.
 * - `BundleTotals` (the sealer's thread): BigInt totals, merged segment by segment in file order, so a
 *   partition's index is the order of its first row in the file (deterministic).
 */

const SAFE = 2 ** 53;

/** How a row's parsed values land in the layout's columns. */
export interface TotalsPlan {
  /** cardinality of each partitionBy dimension, and that dimension's index in ParsedRow.codes */
  dims: { card: number; codeAt: number }[];
  /** per layout column: measure index in ParsedRow.measures (-1 for _count) and the value function */
  columns: { m: number; value: (x: number | bigint) => number }[];
  /** largest row count a SegmentTotals may hold and stay exact */
  maxSegmentRows: number;
}

export function totalsPlan(schema: DatasetSchema, layout: Pick<BundleLayout, 'partitionBy' | 'columns'>): TotalsPlan {
  const dimNames = schema.columns.filter((c) => c.role === 'dimension' && c.values).map((c) => c.name);
  const measureNames = schema.columns.filter((c) => c.role === 'measure').map((c) => c.name);
  const dims = layout.partitionBy.map((n) => ({ card: schema.columns.find((c) => c.name === n)!.values!.length, codeAt: dimNames.indexOf(n) }));
  let maxRow = 1n;
  const columns = layout.columns.map((col) => {
    const rowMax = columnRowMax(col, schema);
    if (rowMax > maxRow) maxRow = rowMax;
    if (col.power === 0) return { m: -1, value: () => 1 };
    const m = measureNames.indexOf(col.measure!);
    // single x / x² columns: |x| ≤ rowMax < 2^53, so Number(x) and its square (≤ rowMax) are exact
    if (!col.limb) {
      return { m, value: col.power === 1 ? (x: number | bigint) => Number(x) : (x: number | bigint) => (typeof x === 'number' ? x * x : Number(x * x)) };
    }
    return { m, value: (x: number | bigint) => Number(columnValue(col, BigInt(x))) };
  });
  if (maxRow >= BigInt(SAFE)) throw new DomainError('he-internal', 'a layout column holds values too wide to pre-add exactly');
  return { dims, columns, maxSegmentRows: Math.floor(SAFE / Number(maxRow)) - 1 };
}

/** Float64 totals of one segment's rows, partitions in order of first appearance. */
export class SegmentTotals {
  /** local partition index by packed dimension code (-1: not seen yet) */
  private readonly local: Int32Array;
  readonly keys: number[][] = [];
  sums: Float64Array;
  rows = 0;

  constructor(private readonly plan: TotalsPlan) {
    this.local = new Int32Array(plan.dims.reduce((n, d) => n * d.card, 1)).fill(-1);
    this.sums = new Float64Array(8 * plan.columns.length);
  }

  /** Add one validated row (its dimension codes and fixed-point measures). */
  add(codes: number[], measures: (number | bigint)[]): void {
    if (++this.rows > this.plan.maxSegmentRows) throw new DomainError('he-internal', 'too many rows in one segment to pre-add exactly');
    let packed = 0;
    for (const d of this.plan.dims) packed = packed * d.card + codes[d.codeAt]!;
    let p = this.local[packed]!;
    const cols = this.plan.columns;
    if (p < 0) {
      p = this.local[packed] = this.keys.length;
      this.keys.push(this.plan.dims.map((d) => codes[d.codeAt]!));
      if ((p + 1) * cols.length > this.sums.length) {
        const grown = new Float64Array(this.sums.length * 2);
        grown.set(this.sums);
        this.sums = grown;
      }
    }
    const at = p * cols.length;
    for (let i = 0; i < cols.length; i++) {
      const c = cols[i]!;
      this.sums[at + i]! += c.m < 0 ? 1 : c.value(measures[c.m]!);
    }
  }

  /** What crosses a thread boundary (structured clone). */
  snapshot(): { keys: number[][]; sums: Float64Array } {
    return { keys: this.keys, sums: this.sums.subarray(0, this.keys.length * this.plan.columns.length) };
  }
}

/** Exact BigInt totals per partition and column for the whole bundle. */
export class BundleTotals {
  private readonly index = new Map<string, number>();
  readonly keys: number[][] = [];
  private readonly totals: bigint[][] = [];

  constructor(private readonly columns: number) {}

  /** Merge one segment (call in file order). */
  merge(seg: { keys: number[][]; sums: Float64Array }): void {
    seg.keys.forEach((key, lp) => {
      const id = key.join(',');
      let p = this.index.get(id);
      if (p === undefined) {
        this.index.set(id, (p = this.keys.length));
        this.keys.push(key);
        this.totals.push(new Array<bigint>(this.columns).fill(0n));
      }
      const t = this.totals[p]!;
      for (let c = 0; c < this.columns; c++) t[c]! += BigInt(seg.sums[lp * this.columns + c]!);
    });
  }

  /**
   * The plaintext vector of partition p, column c: its total reduced into BFV's centred range mod t in
   * slot 0, zeros elsewhere (ciphertext addition is mod t too, so the released aggregate is the same).
   */
  vector(p: number, c: number, params: BfvParams): BigInt64Array {
    const out = new BigInt64Array(params.polyModulusDegree);
    out[0] = centred(this.totals[p]![c]!, params);
    return out;
  }

  /**
   * Layout v2: the plaintext vector of packed block b — partition p's column c at slot (p mod P) · columns + c
   * for the P partitions of the block (he/layout.ts slotOf), zeros in the slots left over.
   */
  blockVector(b: number, partitionsPerCiphertext: number, params: BfvParams): BigInt64Array {
    const out = new BigInt64Array(params.polyModulusDegree);
    const first = b * partitionsPerCiphertext;
    const last = Math.min(this.totals.length, first + partitionsPerCiphertext);
    for (let p = first; p < last; p++) {
      const at = (p - first) * this.columns;
      for (let c = 0; c < this.columns; c++) out[at + c] = centred(this.totals[p]![c]!, params);
    }
    return out;
  }
}

/** A total reduced into BFV's centred range mod t. */
function centred(total: bigint, params: BfvParams): bigint {
  const t = params.plainModulus;
  let v = total % t;
  if (v > (t - 1n) / 2n) v -= t;
  else if (v < -((t - 1n) / 2n)) v += t;
  return v;
}
