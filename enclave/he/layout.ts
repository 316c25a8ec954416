import type { AggregateComputation } from '../../contracts/computation.js';
import { type Column, type DatasetSchema, scaleOf } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import type { BundleLayout, BundleManifest, HeColumn } from '../format/manifest.js';
import { type BfvParams, maxExactMagnitude } from './params.js';

/**
 * The homomorphic layout of a sealed bundle, shared by the owner's sealer, the server's evaluator and the
 * enclave's release (one implementation).
 *
 * Rows are partitioned at sealing time by the codes of up to two level ≤ 2 dimensions, so every group and
 * every dimension filter the HE path answers is a union of WHOLE partitions: the server only adds
 * ciphertexts (no multiplyPlain masks, which at N = 4096 / t ≈ 2^40 would exhaust the noise budget) and
 * runs one rotate-and-sum per group and column. Each partition holds, per 4096-row block, one ciphertext
 * for `_count` (1 per real row, 0 in padding), and per measure one for x and one for x² (fixed-point), so
 * MEAN and VARIANCE need no ciphertext multiplication.
 */

/** Upper bound on the number of partitions a layout may create (padding cost: ≤ 1 ciphertext per partition and column). */
export const MAX_PARTITIONS = 1024;

const absBig = (v: bigint): bigint => (v < 0n ? -v : v);

export function planLayout(schema: DatasetSchema, params: BfvParams): Omit<BundleLayout, 'partitions'> {
  const slotsPerCiphertext = params.polyModulusDegree;
  const limit = maxExactMagnitude(params);
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
    // A column whose single value cannot fit the plain modulus is left out: no computation could use it.
    if (maxAbs <= limit) columns.push({ id: c.name, measure: c.name, power: 1, scale: s });
    if (maxAbs * maxAbs <= limit) columns.push({ id: `${c.name}^2`, measure: c.name, power: 2, scale: 2 * s });
  }
  return { partitionBy, columns, slotsPerCiphertext };
}

/**
 * Exact decimal string → fixed-point integer (value × 10^scale), without floating point.
 * Returns null when the text is not a decimal with at most `scale` fraction digits.
 */
export function parseFixed(text: string, scale: number): bigint | null {
  const m = /^([+-]?)(\d{1,18})(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return null;
  const frac = m[3] ?? '';
  if (frac.length > scale) {
    if (!/^0*$/.test(frac.slice(scale))) return null;
  }
  const digits = m[2]! + frac.slice(0, scale).padEnd(scale, '0');
  const v = BigInt(digits);
  return m[1] === '-' ? -v : v;
}

/** Declared bounds of a measure as fixed-point integers (inclusive; rounded outwards). */
export function fixedBounds(c: Column): [bigint, bigint] {
  if (!c.bounds) throw new DomainError('schema-invalid', `measure "${c.name}" has no bounds`);
  const unit = 10 ** scaleOf(c.type);
  return [BigInt(Math.floor(c.bounds[0] * unit)), BigInt(Math.ceil(c.bounds[1] * unit))];
}

/** HE columns a computation needs. */
export function columnsFor(computation: AggregateComputation): string[] {
  const need = new Set<string>(['_count']); // always: the enclave counts rows itself for k-suppression
  for (const m of computation.metrics) {
    if (m.op === 'count' || !m.measure) continue;
    need.add(m.measure);
    if (m.op === 'variance' || m.op === 'stddev') need.add(`${m.measure}^2`);
  }
  return [...need];
}

/**
 * Refuse a computation whose declared bounds × row count could wrap the plain modulus (BFV arithmetic is
 * exact mod t; decoding uses the centred range (−t/2, t/2)). The bound uses the whole dataset's rows, which
 * bounds every group and every slot's partial sum.
 */
export function checkOverflow(schema: DatasetSchema, rowCount: number, computation: AggregateComputation, params: BfvParams): void {
  const limit = maxExactMagnitude(params);
  const rows = BigInt(rowCount);
  if (rows > limit) throw new DomainError('he-overflow', `${rowCount} rows exceed what the plain modulus can count exactly`);
  for (const id of columnsFor(computation)) {
    if (id === '_count') continue;
    const name = id.replace(/\^2$/, '');
    const col = schema.columns.find((c) => c.name === name)!;
    const [lo, hi] = fixedBounds(col);
    const maxAbs = absBig(lo) > absBig(hi) ? absBig(lo) : absBig(hi);
    const perRow = id.endsWith('^2') ? maxAbs * maxAbs : maxAbs;
    if (perRow * rows > limit) {
      throw new DomainError(
        'he-overflow',
        `${id.endsWith('^2') ? 'variance' : 'sum'} of "${name}" could overflow: bounds ${col.bounds![0]}…${col.bounds![1]} × ${rowCount} rows exceed the exact range of the HE parameters (±${limit})`,
        { measure: name, rowCount },
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
  const columns = columnsFor(computation);
  for (const id of columns) {
    if (!layout.columns.some((c) => c.id === id)) {
      throw new DomainError('he-overflow', `${id.endsWith('^2') ? 'variance' : 'sum'} of "${id.replace(/\^2$/, '')}" could overflow: its declared bounds exceed the exact range of the HE parameters; use the SQL computation instead`, { column: id });
    }
  }
  return { groupBy: [...computation.groupBy], columns, groups: sorted };
}

/** Reduce a fixed-point integer into the signed range BatchEncoder accepts (already centred, just checks). */
export function toSlot(v: bigint, params: BfvParams): bigint {
  if (absBig(v) > maxExactMagnitude(params)) throw new DomainError('he-overflow', 'a single value exceeds the plain modulus');
  return v;
}
