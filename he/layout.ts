import type { AggregateComputation } from '../contracts/computation.js';
import { type Column, type DatasetSchema, scaleOf } from '../contracts/dataset/schema.js';
import { DomainError } from '../contracts/errors.js';
import type { BundleLayout, BundleManifest, HeColumn } from '../formats/manifest.js';
import { type BfvParams, maxExactMagnitude } from './params.js';

/**
 * The homomorphic layout of a sealed bundle, shared by the owner's sealer, the server's evaluator and the
 * enclave's release (one implementation).
 *
 * Rows are partitioned at sealing time by the codes of up to two level ≤ 2 dimensions, so every group and
 * every dimension filter the HE path answers is a union of WHOLE partitions, and no ciphertext is ever
 * multiplied. The owner adds up each partition's rows before encrypting (client-sdk/dataset/he-totals.ts)
 * and encrypts one total (mod t) per partition and column — `_count` (number of rows), and per measure Σx and
 * Σx² (fixed-point), so MEAN and VARIANCE need no ciphertext multiplication.
 *
 * Layout v2 (packed, `layout.packing`): the partition totals fill the N slots of as few ciphertexts as possible,
 * partition p and column c at block ⌊p / P⌋, slot (p mod P) · columns + c, so a bundle's ciphertext bytes grow
 * with ⌈partitions · columns / N⌉, not with the partition count (a 2,000-row table: a few ciphertexts instead
 * of partitions × columns of them). The server passes each block the computation touches to the enclave (adding
 * a block's ciphertexts when it has several), and the enclave — the key holder, which already reads the rows
 * for SQL — decrypts each block once and adds the planned partitions' slots per group and column
 * (enclave/release/he-totals.ts); the output gate still decides what is released. Why not per-group masked
 * rotations on the server: at N = 4096 / t ≈ 2^40 a fresh ciphertext has ~25 bits of noise budget and one
 * multiplyPlain by a 0/1 mask spends all of it (measured: 25 → 0 bits, the rotate-and-sum then decrypts to
 * garbage), and a bigger N would multiply every ciphertext's size and cost.
 *
 * Layout v1 (no `packing`): one ciphertext per partition and column, the total in slot 0 (bundles sealed
 * earlier with one ciphertext per 4096-row block, seq 0, 1, …, too); the server adds a group's partitions'
 * ciphertexts and rotate-and-sums them, the enclave decrypts one value per group and column. Still evaluated
 * and released unchanged.
 */

/** Upper bound on the number of partitions a layout may create (v1: one ciphertext per partition and column). */
export const MAX_PARTITIONS = 1024;

const absBig = (v: bigint): bigint => (v < 0n ? -v : v);

/**
 * Row count up to which a measure is stored as a single x (and x²) column if its bounds allow; wider
 * measures get digit columns sized so that sums over up to ROW_CAP rows stay exact. Datasets larger than
 * ROW_CAP are still checked against their real row count at evaluation and release.
 */
export const ROW_CAP = 1n << 20n;

const bitLength = (v: bigint): number => (v <= 0n ? 0 : v.toString(2).length);

export function planLayout(schema: DatasetSchema, params: BfvParams): Omit<BundleLayout, 'partitions'> {
  const slotsPerCiphertext = params.polyModulusDegree;
  const limit = maxExactMagnitude(params);
  const digitBits = bitLength(limit / ROW_CAP) - 1; // a digit < 2^digitBits, summed over ROW_CAP rows, stays ≤ limit
  const partitionBy: string[] = [];
  let product = 1;
  for (const c of schema.columns) {
    if (c.role !== 'dimension' || c.level > 2 || !c.values) continue;
    if (partitionBy.length === 2 || product * c.values.length > MAX_PARTITIONS) continue;
    partitionBy.push(c.name);
    product *= c.values.length;
  }
  const columns: HeColumn[] = [{ id: '_count', power: 0, scale: 0 }];
  for (const c of schema.columns) {
    if (c.role !== 'measure') continue;
    const s = scaleOf(c.type);
    const [lo, hi] = fixedBounds(c);
    const maxAbs = absBig(lo) > absBig(hi) ? absBig(lo) : absBig(hi);
    const range = hi - lo;
    for (const power of [1, 2] as const) {
      const single = power === 1 ? maxAbs : maxAbs * maxAbs;
      const base = power === 1 ? c.name : `${c.name}^2`;
      const scale = power * s;
      if (single * ROW_CAP <= limit) {
        columns.push({ id: base, measure: c.name, power, scale });
        continue;
      }
      const digits = Math.max(1, Math.ceil(bitLength(power === 1 ? range : range * range) / digitBits));
      for (let i = 0; i < digits; i++) {
        columns.push({ id: `${base}#${i}`, measure: c.name, power, scale, offset: lo.toString(), limb: { index: i, bits: digitBits } });
      }
    }
  }
  return { partitionBy, columns, slotsPerCiphertext };
}

/** The packing of layout v2 for these columns: as many partitions' column totals per ciphertext as fit. */
export function packingFor(columns: number, params: BfvParams): NonNullable<BundleLayout['packing']> {
  const per = Math.floor(params.polyModulusDegree / columns);
  if (per < 1) throw new DomainError('he-unsupported-layout', `${columns} HE columns do not fit one ciphertext's ${params.polyModulusDegree} slots`);
  return { version: 2, partitionsPerCiphertext: per };
}

/** 1: one ciphertext per partition and column; 2: partition totals packed into slots. */
export const layoutVersion = (layout: Pick<BundleLayout, 'packing'>): 1 | 2 => (layout.packing ? 2 : 1);

/** Number of packed ciphertexts (blocks) a v2 layout with this many partitions has. */
export const blockCount = (layout: Pick<BundleLayout, 'packing' | 'partitions'>): number =>
  layout.packing ? Math.ceil(layout.partitions.length / layout.packing.partitionsPerCiphertext) : 0;

/** Where partition p's total of column index c lives in a v2 layout. */
export function slotOf(layout: Pick<BundleLayout, 'packing' | 'columns'>, p: number, c: number): { block: number; slot: number } {
  const per = layout.packing!.partitionsPerCiphertext;
  return { block: Math.floor(p / per), slot: (p % per) * layout.columns.length + c };
}

/** The blocks of a v2 layout that hold any partition of the plan's groups (ascending). */
export function blocksFor(layout: Pick<BundleLayout, 'packing' | 'columns'>, plan: Pick<AggregatePlan, 'groups'>): number[] {
  const blocks = new Set<number>();
  for (const g of plan.groups) for (const p of g.partitions) blocks.add(slotOf(layout, p, 0).block);
  return [...blocks].sort((a, b) => a - b);
}

/** The integer one row puts into a layout column (x, x², or a digit of u = x − offset or of u²). */
export function columnValue(col: HeColumn, x: bigint): bigint {
  if (!col.limb) return col.power === 1 ? x : x * x;
  const u = x - BigInt(col.offset!);
  const v = col.power === 1 ? u : u * u;
  return (v >> BigInt(col.limb.bits * col.limb.index)) & ((1n << BigInt(col.limb.bits)) - 1n);
}

/** Largest magnitude one row can put into a column. */
export function columnRowMax(col: HeColumn, schema: DatasetSchema): bigint {
  if (col.power === 0) return 1n;
  if (col.limb) return (1n << BigInt(col.limb.bits)) - 1n;
  const [lo, hi] = fixedBounds(schema.columns.find((c) => c.name === col.measure)!);
  const maxAbs = absBig(lo) > absBig(hi) ? absBig(lo) : absBig(hi);
  return col.power === 1 ? maxAbs : maxAbs * maxAbs;
}

/**
 * Exact Σx and Σx² of a measure (fixed-point integers) from the decrypted column totals of one group.
 * Σx² is only asked for when the layout has its columns.
 */
export function measureSums(layout: Pick<BundleLayout, 'columns'>, measure: string, n: bigint, totals: Record<string, bigint>): { s1: bigint; s2?: bigint } {
  const cols = layout.columns.filter((c) => c.measure === measure);
  const sumOf = (power: 1 | 2): { value: bigint; offset?: bigint } | undefined => {
    const cs = cols.filter((c) => c.power === power);
    if (cs.length === 0 || cs.some((c) => totals[c.id] === undefined)) return undefined;
    if (!cs[0]!.limb) return { value: totals[cs[0]!.id]! };
    let v = 0n;
    for (const c of cs) v += totals[c.id]! << BigInt(c.limb!.bits * c.limb!.index);
    return { value: v, offset: BigInt(cs[0]!.offset!) };
  };
  const p1 = sumOf(1);
  if (!p1) throw new DomainError('he-internal', `no Σ columns of ${measure} were decrypted`);
  // Σu = Σx − n·lo when stored as digits of u = x − lo
  const s1 = p1.offset === undefined ? p1.value : p1.value + n * p1.offset;
  const p2 = sumOf(2);
  if (!p2) return { s1 };
  if (p2.offset === undefined) return { s1, s2: p2.value };
  const lo = p2.offset;
  const su = s1 - n * lo; // Σu
  return { s1, s2: p2.value + 2n * lo * su + n * lo * lo }; // Σx² = Σu² + 2·lo·Σu + n·lo²
}

/**
 * Exact decimal string → fixed-point integer (value × 10^scale), without floating point.
 * Returns null when the text is not a decimal with at most `scale` fraction digits.
 */
export function parseFixed(text: string, scale: number): bigint | null {
  const d = fixedDigits(text, scale);
  if (d === null) return null;
  const v = BigInt(d.digits);
  return d.negative ? -v : v;
}

/**
 * parseFixed as a Number: exact below 2^53; above, the nearest double (still ≥ 2^53, so a caller comparing
 * with bounds inside ±2^53 sees it out of bounds). No BigInt: the owner's sealer runs this per value.
 */
export function parseFixedNumber(text: string, scale: number): number | null {
  // the FIXED grammar below walked by character code, no match arrays or digit strings (the sealer's hot
  // loop); when the value has more than 15 significant digits it may not be exact in a double: the general path
  const t = text.trim();
  const n = t.length;
  let i = 0;
  const sign = t.charCodeAt(0);
  if (sign === 43 || sign === 45) i = 1; // + -
  const intStart = i;
  let v = 0;
  for (let d; i < n && (d = t.charCodeAt(i) - 48) >= 0 && d <= 9; i++) v = v * 10 + d;
  const intDigits = i - intStart;
  if (intDigits === 0 || intDigits > 18) return null;
  if (intDigits + scale > 15) return parseFixedNumberWide(text, scale);
  let frac = 0;
  if (i < n) {
    if (t.charCodeAt(i++) !== 46 || i === n) return null; // '.' and at least one digit
    for (; i < n; i++, frac++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return null;
      if (frac < scale) v = v * 10 + d;
      else if (d !== 0) return null;
    }
  }
  for (; frac < scale; frac++) v *= 10;
  return sign === 45 ? -v : v;
}

function parseFixedNumberWide(text: string, scale: number): number | null {
  const d = fixedDigits(text, scale);
  if (d === null) return null;
  const v = Number(d.digits);
  return d.negative ? -v : v;
}

const FIXED = /^([+-]?)(\d{1,18})(?:\.(\d+))?$/;
const ZEROS = /^0*$/;
function fixedDigits(text: string, scale: number): { negative: boolean; digits: string } | null {
  const m = FIXED.exec(text.trim());
  if (!m) return null;
  const frac = m[3] ?? '';
  if (frac.length > scale) {
    if (!ZEROS.test(frac.slice(scale))) return null;
  }
  return { negative: m[1] === '-', digits: m[2]! + (frac.length === scale ? frac : frac.slice(0, scale).padEnd(scale, '0')) };
}

/** Declared bounds of a measure as fixed-point integers (inclusive; rounded outwards). */
export function fixedBounds(c: Column): [bigint, bigint] {
  if (!c.bounds) throw new DomainError('schema-invalid', `measure "${c.name}" has no bounds`);
  const unit = 10 ** scaleOf(c.type);
  return [BigInt(Math.floor(c.bounds[0] * unit)), BigInt(Math.ceil(c.bounds[1] * unit))];
}

/** HE columns a computation needs (all digit columns of a measure when it is stored as digits). */
export function columnsFor(computation: AggregateComputation, layout: Pick<BundleLayout, 'columns'>): string[] {
  const need = new Set<string>(['_count']); // always: the enclave counts rows itself for k-suppression
  for (const m of computation.metrics) {
    if (m.op === 'count' || !m.measure) continue;
    const powers = m.op === 'variance' || m.op === 'stddev' ? [1, 2] : [1];
    for (const p of powers) {
      const cols = layout.columns.filter((c) => c.measure === m.measure && c.power === p);
      if (cols.length === 0) {
        throw new DomainError('he-overflow', `${p === 2 ? 'variance' : 'sum'} of "${m.measure}" is not available homomorphically for this bundle; use the SQL computation instead`, { measure: m.measure });
      }
      for (const c of cols) need.add(c.id);
    }
  }
  return [...need];
}

/**
 * Refuse a computation whose declared bounds × row count could wrap the plain modulus (BFV arithmetic is
 * exact mod t; decoding uses the centred range (−t/2, t/2)). The bound uses the whole dataset's rows, which
 * bounds every group and every slot's partial sum.
 */
export function checkOverflow(manifest: Pick<BundleManifest, 'schema' | 'rowCount' | 'layout'>, computation: AggregateComputation, params: BfvParams): void {
  const limit = maxExactMagnitude(params);
  const rows = BigInt(manifest.rowCount);
  if (rows > limit) throw new DomainError('he-overflow', `${manifest.rowCount} rows exceed what the plain modulus can count exactly`);
  for (const id of columnsFor(computation, manifest.layout)) {
    const col = manifest.layout.columns.find((c) => c.id === id)!;
    if (col.power === 0) continue;
    if (columnRowMax(col, manifest.schema) * rows > limit) {
      const m = manifest.schema.columns.find((c) => c.name === col.measure)!;
      throw new DomainError(
        'he-overflow',
        `${col.power === 2 ? 'variance' : 'sum'} of "${m.name}" could overflow: bounds ${m.bounds![0]}…${m.bounds![1]} × ${manifest.rowCount} rows exceed the exact range of the HE parameters (±${limit})`,
        { measure: m.name, rowCount: manifest.rowCount },
      );
    }
  }
}

export interface PlannedGroup {
  /** Dimension codes of the group (one per groupBy column). */
  key: number[];
  /** Indexes of the partitions whose ciphertexts are summed for this group. */
  partitions: number[];
}

export interface AggregatePlan {
  groupBy: string[];
  columns: string[];
  groups: PlannedGroup[];
}

/**
 * Which partitions make up each group. Checks the computation against the schema and layout: measures are
 * measures, filters/group-by use partitioned dimensions and their declared values.
 */
export function planAggregate(manifest: BundleManifest, computation: AggregateComputation): AggregatePlan {
  const { schema, layout } = manifest;
  const refuse = (m: string, d: Record<string, unknown> = {}) => new DomainError('computation-invalid', m, d);
  for (const m of computation.metrics) {
    if (!m.measure) continue;
    const c = schema.columns.find((x) => x.name === m.measure);
    if (!c) throw refuse(`"${m.measure}" is not a column of this dataset`, { column: m.measure });
    if (c.role !== 'measure') throw refuse(`"${m.measure}" is not a measure (role ${c.role})`, { column: m.measure });
  }
  const dimIndex = (name: string, what: string): number => {
    const c = schema.columns.find((x) => x.name === name);
    if (!c) throw refuse(`${what} "${name}" is not a column of this dataset`, { column: name });
    if (c.role !== 'dimension') throw refuse(`${what} "${name}" is not a dimension (role ${c.role})`, { column: name });
    const i = layout.partitionBy.indexOf(name);
    if (i < 0) {
      throw new DomainError(
        'he-unsupported-layout',
        `${what} "${name}" is not one of the dimensions this bundle is partitioned by (${layout.partitionBy.join(', ') || 'none'}); use the SQL computation instead`,
        { column: name },
      );
    }
    return i;
  };
  const groupIdx = computation.groupBy.map((g) => dimIndex(g, 'group-by column'));
  const filters = computation.filters.map((f) => {
    const i = dimIndex(f.column, 'filter column');
    const values = schema.columns.find((x) => x.name === f.column)!.values!;
    const codes = new Set<number>();
    for (const v of f.in) {
      const code = values.indexOf(v);
      if (code < 0) throw refuse(`filter value "${v}" is not a declared value of "${f.column}"`, { column: f.column, value: v });
      codes.add(code);
    }
    return { i, codes };
  });
  const groups = new Map<string, PlannedGroup>();
  if (groupIdx.length === 0) groups.set('', { key: [], partitions: [] });
  layout.partitions.forEach((p, pi) => {
    if (!filters.every((f) => f.codes.has(p.key[f.i]!))) return;
    const key = groupIdx.map((i) => p.key[i]!);
    const id = key.join(',');
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { key, partitions: [] }));
    g.partitions.push(pi);
  });
  const sorted = [...groups.values()].sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return a.key[i]! - b.key[i]!;
    return 0;
  });
  const columns = columnsFor(computation, layout);
  return { groupBy: [...computation.groupBy], columns, groups: sorted };
}

/** Reduce a fixed-point integer into the signed range BatchEncoder accepts (already centred, just checks). */
export function toSlot(v: bigint, params: BfvParams): bigint {
  if (absBig(v) > maxExactMagnitude(params)) throw new DomainError('he-overflow', 'a single value exceeds the plain modulus');
  return v;
}
