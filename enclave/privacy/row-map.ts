import type Database from 'better-sqlite3';
import { DomainError } from '../../contracts/errors.js';
import type { AggregatePlan } from '../he/layout.js';
import type { DifferencingGuard, Membership } from './differencing.js';

/**
 * Rows of an HE release, for the differencing guard (docs/privacy.md §4). An HE release's sets are unions of
 * the layout's partitions, so with each row's partition (and subject) the enclave expresses the release as
 * the same row membership the SQL path produces, and one joint history covers both paths.
 *
 * The map is derived inside the enclave from the sealed row chunks (enclave/sql/sandbox.ts mapRowsInSandbox)
 * once per dataset commitment and kept here: partition indexes and dense subject numbers, never values.
 */

export interface RowMap {
  /** layout partition index of each dataset row (index = row − 1, rows numbered 1..rowCount in chunk order) */
  partition: Int32Array;
  /** dense subject number of each dataset row, when the schema has an identifier */
  subjects?: Int32Array;
  /**
   * the most rows any one subject has (1 without subjects: every row is a person); stored with the map so a
   * DP HE release can refuse an offer whose per-person row cap is below it (it cannot drop rows under HE)
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
  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS privacy_row_map (
        dataset_commitment TEXT PRIMARY KEY,
        row_count          INTEGER NOT NULL,
        partitions         BLOB NOT NULL,
        subjects           BLOB,
        created_at         TEXT NOT NULL
      );
    `);
    // maps stored before the per-subject maximum was kept get it computed on read
    const cols = db.prepare('PRAGMA table_info(privacy_row_map)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'max_rows_per_subject')) db.exec('ALTER TABLE privacy_row_map ADD COLUMN max_rows_per_subject INTEGER');
  }

  get(commitment: string, rowCount: number): RowMap | undefined {
    const r = this.db.prepare('SELECT row_count, partitions, subjects, max_rows_per_subject FROM privacy_row_map WHERE dataset_commitment = ?').get(commitment) as
      | { row_count: number; partitions: Buffer; subjects: Buffer | null; max_rows_per_subject: number | null }
      | undefined;
    if (!r) return undefined;
    if (r.row_count !== rowCount) throw new DomainError('privacy-differencing-state', 'the recorded row map does not match the dataset size', { commitment });
    const map: RowMap = { partition: fromBlob(r.partitions), ...(r.subjects ? { subjects: fromBlob(r.subjects) } : {}) };
    map.maxRowsPerSubject = r.max_rows_per_subject ?? maxRowsPerSubject(map);
    return map;
  }

  put(commitment: string, map: RowMap): void {
    this.db
      .prepare('INSERT OR IGNORE INTO privacy_row_map (dataset_commitment, row_count, partitions, subjects, max_rows_per_subject, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(commitment, map.partition.length, toBlob(map.partition), map.subjects ? toBlob(map.subjects) : null, maxRowsPerSubject(map), new Date().toISOString());
  }
}

/**
 * The rows an HE release covers: a row is in planned group g when its partition is one of g's partitions
 * (filters are unions of partitions, so filtered-out rows are in no group). Every metric of an HE release is
 * over all rows of its group (no per-row conditions), so the aggregate mask is 1. Also returns the row count
 * per group, which the caller checks against the decrypted `_count` (the map must describe these ciphertexts).
 */
export function heMembership(plan: Pick<AggregatePlan, 'groups'>, map: RowMap, partitionCount: number): { membership: Membership; rowsPerGroup: number[] } {
  const groupOfPartition = groupsOfPartitions(plan, partitionCount);
  const rowsPerGroup = plan.groups.map(() => 0);
  const row = new Int32Array(map.partition.length);
  const group = new Int32Array(map.partition.length);
  let n = 0;
  for (let i = 0; i < map.partition.length; i++) {
    const p = map.partition[i]!;
    const g = p >= 0 && p < partitionCount ? groupOfPartition[p]! : -1;
    if (g < 0) continue;
    row[n] = i + 1;
    group[n++] = g;
    rowsPerGroup[g]!++;
  }
  return { membership: { row: row.subarray(0, n), group: group.subarray(0, n), mask: new Int32Array(n).fill(1) }, rowsPerGroup };
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
 * minimum group size counts people where the schema has an identifier (issue 7 §3), and one person's
 * many rows must not make a group look large. Linear: subjects are bucketed by group (counting sort), then
 * each bucket is counted against a per-subject stamp of the last group that saw it.
 */
export function heGroupSizes(plan: Pick<AggregatePlan, 'groups'>, map: RowMap, partitionCount: number): { rows: number[]; subjects?: number[] } {
  const groupOfPartition = groupsOfPartitions(plan, partitionCount);
  const G = plan.groups.length;
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
  rowCount: number;
  k: number;
  plan: Pick<AggregatePlan, 'groups'>;
  map: RowMap;
  partitionCount: number;
  /** each planned group's row count as the HE release computed it (decrypted `_count`) */
  groupRows: number[];
}

/**
 * Prepare the differencing check of an HE release: its row membership from the map, checked against the
 * group sizes the ciphertexts gave (the map must describe exactly these ciphertexts, else
 * privacy-row-map-mismatch). Returns the check to run in the gate's beforeRelease with the indexes (into
 * plan.groups) of the groups actually released; it throws privacy-differencing-refused or records the release.
 */
export function heDifferencingCheck(c: HeDifferencingInput): (releasedGroups: Set<number>) => void {
  if (c.map.partition.length !== c.rowCount) throw new DomainError('privacy-row-map-mismatch', `the row map holds ${c.map.partition.length} rows, the dataset ${c.rowCount}`);
  const { membership, rowsPerGroup } = heMembership(c.plan, c.map, c.partitionCount);
  c.groupRows.forEach((n, i) => {
    if (n !== rowsPerGroup[i]) throw new DomainError('privacy-row-map-mismatch', `group ${i}: the sealed rows and the HE ciphertexts disagree on its size`);
  });
  return (releasedGroups) =>
    void c.guard.checkAndRecord({
      buyerOrgId: c.buyerOrgId,
      datasetId: c.datasetId,
      rowCount: c.rowCount,
      k: c.k,
      ...(c.map.subjects ? { subjects: c.map.subjects } : {}),
      membership,
      releasedGroups,
    });
}
