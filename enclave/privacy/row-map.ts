import { DomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { AggregatePlan } from '../../he/layout.js';
import { keptRows, type DeclaredDimension, type DifferencingGuard, type GuardRows } from './differencing.js';
import { andOf, type DimPredicate } from '../../query/predicates.js';
import type { Store } from '../../store/engine.js';

/**
 * A dataset version's row map, for the differencing guard and k on people (docs/privacy.md §4): per row its
 * HE layout partition, the code of every dimension (an index into its declared values) and a dense subject
 * number. The guard places each row in its declared block from the codes; the HE path checks group sizes
 * against its partitions.
 *
 * The map is derived inside the enclave from the sealed row chunks (enclave/sandbox/sandbox.ts mapRowsInSandbox)
 * once per dataset commitment and kept here: codes and dense subject numbers, never values.
 */

export interface RowMap {
  /** layout partition index of each dataset row (index = row − 1, rows numbered 1..rowCount in chunk order) */
  partition: Int32Array;
  /** dense subject number of each dataset row, when the schema has an identifier */
  subjects?: Int32Array;
  /** every dimension's code of each row (index = row − 1); absent in maps stored before they were kept */
  dimensions?: { name: string; codes: Uint16Array }[];
  /**
   * the most rows any one subject has (1 without subjects: every row is a person); stored with the map so an
   * HE release can refuse an offer whose per-person row cap is below it (it cannot drop rows under HE)
   */
  maxRowsPerSubject?: number;
}

/** The most rows one subject has in the map (1 when rows are the subjects). */
export function maxRowsPerSubject(map: RowMap): number {
  if (map.maxRowsPerSubject !== undefined) return map.maxRowsPerSubject;
  const s = map.subjects;
  if (!s) return map.partition.length > 0 ? 1 : 0;
  let width = 0;
  for (let i = 0; i < s.length; i++) if (s[i]! >= width) width = s[i]! + 1;
  const counts = new Int32Array(width);
  let most = 0;
  for (let i = 0; i < s.length; i++) {
    const c = ++counts[s[i]!]!;
    if (c > most) most = c;
  }
  return most;
}

const toBlob = (a: Int32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const fromBlob = (b: Buffer): Int32Array => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

export class RowMapStore {
  /** `db`: the enclave's state store (PrivacyBudgetLedger.store). */
  constructor(private readonly db: Store) {}

  async get(commitment: string, rowCount: number): Promise<RowMap | undefined> {
    const r = await this.db.get<{
      row_count: number;
      partitions: Buffer;
      subjects: Buffer | null;
      max_rows_per_subject: number | null;
      dimension_names: string | null;
      dimension_codes: Buffer | null;
    }>('SELECT row_count, partitions, subjects, max_rows_per_subject, dimension_names, dimension_codes FROM privacy_row_map WHERE dataset_commitment = ?', commitment);
    if (!r) return undefined;
    if (r.row_count !== rowCount) throw new DomainError('privacy-differencing-state', 'the recorded row map does not match the dataset size', { commitment });
    const map: RowMap = { partition: fromBlob(r.partitions), ...(r.subjects ? { subjects: fromBlob(r.subjects) } : {}) };
    if (r.dimension_names !== null && r.dimension_codes) {
      const names = JSON.parse(r.dimension_names) as string[];
      const all = new Uint16Array(r.dimension_codes.buffer.slice(r.dimension_codes.byteOffset, r.dimension_codes.byteOffset + r.dimension_codes.byteLength));
      if (all.length !== names.length * rowCount) throw new DomainError('privacy-differencing-state', 'the recorded dimension codes do not match the dataset size', { commitment });
      map.dimensions = names.map((name, i) => ({ name, codes: all.slice(i * rowCount, (i + 1) * rowCount) }));
    }
    map.maxRowsPerSubject = r.max_rows_per_subject ?? maxRowsPerSubject(map);
    return map;
  }

  /** Store (or replace: a map derived again now carries the dimension codes) the map of a dataset version. */
  async put(commitment: string, map: RowMap): Promise<void> {
    const n = map.partition.length;
    let codes: Buffer | null = null;
    if (map.dimensions) {
      const all = new Uint16Array(map.dimensions.length * n);
      map.dimensions.forEach((d, i) => all.set(d.codes, i * n));
      codes = Buffer.from(all.buffer, all.byteOffset, all.byteLength);
    }
    await this.db.run(
      `INSERT INTO privacy_row_map (dataset_commitment, row_count, partitions, subjects, max_rows_per_subject, dimension_names, dimension_codes, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (dataset_commitment) DO UPDATE SET row_count = excluded.row_count, partitions = excluded.partitions, subjects = excluded.subjects,
         max_rows_per_subject = excluded.max_rows_per_subject, dimension_names = excluded.dimension_names, dimension_codes = excluded.dimension_codes,
         created_at = excluded.created_at`,
      commitment,
      n,
      toBlob(map.partition),
      map.subjects ? toBlob(map.subjects) : null,
      maxRowsPerSubject(map),
      map.dimensions ? JSON.stringify(map.dimensions.map((d) => d.name)) : null,
      codes,
      new Date().toISOString(),
    );
  }
}

/**
 * Computes once what every release on the map reuses (rows per partition, the guard's view): at admission,
 * so the first release on a new dataset version does not pay for it.
 */
export function prepareRowMap(map: RowMap, partitionCount: number): void {
  rowsPerPartition(map, partitionCount);
  if (map.dimensions) guardRowsOf(map, undefined);
}

const partitionCounts = new WeakMap<RowMap, Int32Array>();

/** Rows of each layout partition (rows outside 0..partitionCount−1 are in none), kept with the map. */
function rowsPerPartition(map: RowMap, partitionCount: number): Int32Array {
  const kept = partitionCounts.get(map);
  if (kept && kept.length === partitionCount) return kept;
  const counts = new Int32Array(partitionCount);
  for (let i = 0; i < map.partition.length; i++) {
    const p = map.partition[i]!;
    if (p >= 0 && p < partitionCount) counts[p]!++;
  }
  partitionCounts.set(map, counts);
  return counts;
}

/** planned group index of each layout partition, −1 for partitions no group covers (filtered out) */
function groupsOfPartitions(plan: Pick<AggregatePlan, 'groups'>, partitionCount: number): Int32Array {
  const groupOfPartition = new Int32Array(partitionCount).fill(-1);
  plan.groups.forEach((g, gi) => {
    for (const p of g.partitions) groupOfPartition[p] = gi;
  });
  return groupOfPartition;
}

/**
 * Rows and, when the map has subjects, distinct subjects of each planned group of an HE release — the
 * minimum group size counts people where the schema has an identifier, and one person's
 * many rows must not make a group look large. Linear: subjects are bucketed by group (counting sort), then
 * each bucket is counted against a per-subject stamp of the last group that saw it.
 */
export function heGroupSizes(plan: Pick<AggregatePlan, 'groups'>, map: RowMap, partitionCount: number): { rows: number[]; subjects?: number[] } {
  const groupOfPartition = groupsOfPartitions(plan, partitionCount);
  const G = plan.groups.length;
  if (!map.subjects || maxRowsPerSubject(map) <= 1) {
    // every row is its own person: sizes add up per partition (counted once per map, not per release)
    const perPartition = rowsPerPartition(map, partitionCount);
    const rows = new Array<number>(G).fill(0);
    for (let p = 0; p < partitionCount; p++) if (groupOfPartition[p]! >= 0) rows[groupOfPartition[p]!]! += perPartition[p]!;
    return map.subjects ? { rows, subjects: [...rows] } : { rows };
  }
  const rowGroup = new Int32Array(map.partition.length);
  const rows = new Array<number>(G).fill(0);
  for (let i = 0; i < map.partition.length; i++) {
    const p = map.partition[i]!;
    const g = p >= 0 && p < partitionCount ? groupOfPartition[p]! : -1;
    rowGroup[i] = g;
    if (g >= 0) rows[g]!++;
  }
  const subjects = map.subjects;
  if (!subjects) return { rows };
  const start = new Int32Array(G + 1);
  for (let g = 0; g < G; g++) start[g + 1] = start[g]! + rows[g]!;
  const fill = start.slice(0, G);
  const bucketed = new Int32Array(start[G]!);
  let width = 0;
  for (let i = 0; i < rowGroup.length; i++) {
    const g = rowGroup[i]!;
    if (g < 0) continue;
    const s = subjects[i]!;
    bucketed[fill[g]!++] = s;
    if (s >= width) width = s + 1;
  }
  const stamp = new Int32Array(width).fill(-1);
  const people = new Array<number>(G).fill(0);
  for (let g = 0; g < G; g++) {
    for (let j = start[g]!; j < start[g + 1]!; j++) {
      const s = bucketed[j]!;
      if (stamp[s] !== g) {
        stamp[s] = g;
        people[g]!++;
      }
    }
  }
  return { rows, subjects: people };
}

export interface HeDifferencingInput {
  guard: DifferencingGuard;
  buyerOrgId: string;
  /** differencingHistory(commitment).datasetId: the same history the SQL path records into */
  datasetId: string;
  k: number;
  schema: DatasetSchema;
  /** the HE plan's grouped dimensions and groups (key = codes into each grouped dimension's values) */
  plan: Pick<AggregatePlan, 'groups' | 'groupBy'>;
  /** the computation's dimension filters */
  filters: { column: string; in: string[] }[];
  map: RowMap;
}

/**
 * The differencing check of an HE release, run in the gate's beforeRelease with the indexes (into
 * plan.groups) of the groups actually released: each released group's set is its key (equality on every
 * grouped dimension) and the filters. An exact HE release reads every row (it is refused when a person has
 * more rows than the offer's cap), so no row is left out of the count.
 */
export function heDifferencingCheck(c: HeDifferencingInput): (releasedGroups: Set<number>) => Promise<unknown> {
  const dimensions = declaredDimensions(c.schema);
  const rows = guardRowsOf(c.map, undefined);
  const filters = c.filters.map((f): DimPredicate => ({ dim: f.column, in: [...f.in] }));
  return (releasedGroups) => {
    const sets: DimPredicate[] = [];
    c.plan.groups.forEach((g, i) => {
      if (!releasedGroups.has(i)) return;
      const key = g.key.map((code, j): DimPredicate => {
        const dim = dimensions.find((d) => d.name === c.plan.groupBy[j])!;
        return { dim: dim.name, in: [dim.values[code]!] };
      });
      sets.push(andOf([...key, ...filters]));
    });
    // the plan (every group, released or not) decides the guard's complexity caps, never the data
    const planned = { groupBy: [...c.plan.groupBy], predicates: filters, setsPerGroup: 1 };
    return c.guard.checkAndRecord({ buyerOrgId: c.buyerOrgId, datasetId: c.datasetId, k: c.k, dimensions, rows, sets, planned });
  };
}

/** Every dimension of the schema with its declared values. */
export function declaredDimensions(schema: DatasetSchema): DeclaredDimension[] {
  return schema.columns.filter((col) => col.role === 'dimension' && col.values).map((col) => ({ name: col.name, values: col.values! }));
}

/**
 * The guard's view of the rows from the map: dimension codes, subjects and, with a per-person cap `m`, the
 * rows exact releases read (each person's first m rows). Where no person has more than one row, the rows'
 * distinct code combinations with their row counts (atoms) come along: the guard then counts people per block
 * over those, not over every row. Kept with the map per cap. Throws privacy-row-map-missing for a map stored
 * before dimension codes were kept (it is derived again from the row chunks).
 */
export function guardRowsOf(map: RowMap, m: number | undefined): GuardRows {
  if (!map.dimensions) {
    throw new DomainError('privacy-row-map-missing', "this dataset version's row map predates per-dimension codes; it is derived again from the row chunks", {});
  }
  const oneRowEach = !map.subjects || maxRowsPerSubject(map) <= 1;
  const key = oneRowEach ? 'all' : String(m ?? 'all');
  let byCap = guardRowsKept.get(map);
  const hit = byCap?.get(key);
  if (hit) return hit;
  const rowCount = map.partition.length;
  // with one row per person every row is read whatever the cap
  const kept = m === undefined || oneRowEach ? undefined : keptRows(map.subjects, rowCount, m);
  const atoms = oneRowEach ? atomsOf(map.dimensions, rowCount) : undefined;
  const rows: GuardRows = {
    rowCount,
    codes: new Map(map.dimensions.map((d) => [d.name, d.codes])),
    ...(map.subjects ? { subjects: map.subjects } : {}),
    ...(kept ? { kept } : {}),
    ...(atoms ? { atoms } : {}),
  };
  if (!byCap) guardRowsKept.set(map, (byCap = new Map()));
  byCap.set(key, rows);
  return rows;
}

const guardRowsKept = new WeakMap<RowMap, Map<string, GuardRows>>();

/** The distinct combinations of every dimension's code among the rows, each with its row count. */
function atomsOf(dimensions: { name: string; codes: Uint16Array }[], rowCount: number): NonNullable<GuardRows['atoms']> | undefined {
  const radix = dimensions.map((d) => {
    let most = 0;
    for (let i = 0; i < rowCount; i++) if (d.codes[i]! > most) most = d.codes[i]!;
    return most + 1;
  });
  const space = radix.reduce((a, r) => a * r, 1);
  if (space > 2 ** 40) return undefined; // too many combinations to key by number: the guard reads the rows
  const direct = space <= 1 << 22 ? new Int32Array(space).fill(-1) : undefined;
  const ids = direct ? undefined : new Map<number, number>();
  const first: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < rowCount; i++) {
    let k = 0;
    for (let j = 0; j < dimensions.length; j++) k = k * radix[j]! + dimensions[j]!.codes[i]!;
    let id = direct ? direct[k]! : (ids!.get(k) ?? -1);
    if (id < 0) {
      id = first.length;
      first.push(i);
      counts.push(0);
      if (direct) direct[k] = id;
      else ids!.set(k, id);
    }
    counts[id]!++;
  }
  return {
    count: first.length,
    codes: new Map(dimensions.map((d) => [d.name, Uint16Array.from(first, (i) => d.codes[i]!)])),
    rows: Int32Array.from(counts),
  };
}
