import { DomainError } from '../../contracts/errors.js';
import { type DimPredicate } from '../../query/predicates.js';
import { declaredBlocks, type DeclaredBlocks, type DeclaredDimension, type PlannedPartition } from '../../query/declared-blocks.js';

export { declaredBlocks, MAX_CELL_WORK, MAX_CLASS_CELLS, type DeclaredBlocks, type DeclaredDimension, type PlannedPartition } from '../../query/declared-blocks.js';
import type { Store } from '../../store/engine.js';

/**
 * Differencing defence for EXACT (un-noised) releases — see docs/privacy.md §4 for the argument.
 *
 * Every released aggregate is a sum (or count) of a fixed per-row function over a *set* of rows, and in the
 * exact languages (SQL exact mode, HE aggregates) that set is a predicate over dimension values: atoms
 * `dim ∈ S` with S ⊆ the dimension's declared values, under AND/OR/NOT. The guard reasons on the DECLARED
 * domain, never on which cells happen to hold rows: with the history's sets and the new release's, the
 * declared values of each mentioned dimension fall into classes (values no atom tells apart), the product of
 * those classes is the class-cells, and a *block* is the class-cells with one signature (the sets that contain
 * them) — "in no set" included. A block exists whenever a declared class-cell has its signature, whether or
 * not any row lies in it. The release is refused unless EVERY block holds at least k people — 0 included —
 * so the decision depends on the data only through "does every declared block hold ≥ k people", and never
 * separates an empty cell from a cell of one person.
 *
 * The classes (and the caps on their number, `privacy-history-too-complex`, which is neither recorded nor
 * charged) come from every PLANNED group of each release — its grouped dimensions split into all their
 * declared values, its WHERE/CASE atoms or HE filters — not only the released ones, so they depend on the
 * buyers' queries alone. That partition refines the released sets' classes, so the blocks are the same.
 *
 * The history is the list of released sets (predicates as JSON) and each release's plan, one per dataset commitment, joint across
 * buyers and both release paths: state grows with releases, not with rows. People are counted from the
 * enclave's row map (every row's dimension codes and subject number), over the rows exact releases read
 * (each person's first maxRowsPerPerson rows).
 *
 * DP releases are not tracked here: their cost composes in the ε ledger instead.
 */

/**
 * Exact releases are checked against ONE history per dataset version, shared by both release paths (HE and
 * SQL) and by ALL buyers: two organisations' complementary queries are checked together, so colluding
 * buyers get no more than one buyer would. The version is its content commitment (what was sealed), so the
 * same bundle published under another listing shares the history.
 */
export const ALL_BUYERS = '*';
export const differencingScope = (commitment: string): string => commitment;
/** The guard's (buyerOrgId, datasetId) pair of a dataset version's joint history. */
export const differencingHistory = (commitment: string): { buyerOrgId: string; datasetId: string } => ({
  buyerOrgId: ALL_BUYERS,
  datasetId: differencingScope(commitment),
});


/** The rows the guard counts: every row's code per dimension and subject, and which rows exact releases read. */
export interface GuardRows {
  rowCount: number;
  /** per dimension (by name): the code of each row's value (index r − 1) */
  codes: Map<string, Uint16Array>;
  /** dense subject number of each row; absent when every row is a person */
  subjects?: Int32Array;
  /** 1 for rows exact releases read (each person's first m rows); absent: all rows */
  kept?: Uint8Array;
  /**
   * Only when every row read is a different person: the rows' distinct combinations of dimension codes and the
   * rows of each, so people per block are counted per combination instead of per row (same answer, less work).
   */
  atoms?: { count: number; codes: Map<string, Uint16Array>; rows: Int32Array };
}

export interface DifferencingCheck {
  /** whose history: ALL_BUYERS in production (differencingHistory) */
  buyerOrgId: string;
  /** the history's dataset key: the commitment in production */
  datasetId: string;
  k: number;
  /** every dimension of the schema with its declared values */
  dimensions: DeclaredDimension[];
  rows: GuardRows;
  /** the sets of the groups being released (withheld groups' sets are not in the release) */
  sets: DimPredicate[];
  /**
   * The query's planned groups, released or not (production callers always pass it): the classes and the
   * complexity caps are computed from these, so `privacy-history-too-complex` depends on the queries alone.
   * Without it the released sets stand for the plan (right only when every planned group is released).
   */
  planned?: PlannedSets;
}

/**
 * What a query would release if every planned group passed k — a function of the query and the schema only.
 * Its atoms are each grouped dimension split into all its declared values, plus every atom of the predicates;
 * every released set of the query is built from these atoms, so their classes refine the released sets'.
 */
export interface PlannedSets {
  /** grouped dimensions: each planned group is one declared value of each */
  groupBy: string[];
  /** the query's other dimension predicates: WHERE and each aggregate's CASE condition (SQL), filters (HE) */
  predicates: DimPredicate[];
  /** sets one planned group releases (SQL: one per aggregate call; HE: 1) */
  setsPerGroup: number;
}

const countNodes = (p: DimPredicate): number => {
  if (typeof p !== 'object' || p === null) return 1;
  if ('and' in p) return 1 + p.and.reduce((a, q) => a + countNodes(q), 0);
  if ('or' in p) return 1 + p.or.reduce((a, q) => a + countNodes(q), 0);
  if ('not' in p) return 1 + countNodes(p.not);
  return 1;
};

/**
 * An upper bound on the predicate nodes the plan's released sets can have (every planned group released):
 * groups × sets per group × (the conjunction, one equality per grouped dimension, the predicates' nodes).
 */
export function plannedNodes(plan: PlannedSets, dimensions: DeclaredDimension[]): number {
  let groups = 1;
  for (const g of plan.groupBy) groups *= dimensions.find((d) => d.name === g)?.values.length ?? 1;
  const perSet = 1 + plan.groupBy.length + plan.predicates.reduce((a, p) => a + countNodes(p), 0);
  return groups * Math.max(1, plan.setsPerGroup) * perSet;
}

/**
 * Each person's first `m` rows (in row order) — the rows exact and DP SQL releases read (the sandbox's
 * PersonRowCap). Without subjects every row is a person: all kept.
 */
export function keptRows(subjects: Int32Array | undefined, rowCount: number, m: number): Uint8Array | undefined {
  if (!subjects) return undefined;
  let width = 0;
  for (let i = 0; i < rowCount; i++) if (subjects[i]! >= width) width = subjects[i]! + 1;
  const seen = new Int32Array(width);
  const kept = new Uint8Array(rowCount);
  for (let i = 0; i < rowCount; i++) if (++seen[subjects[i]!]! <= m) kept[i] = 1;
  return kept;
}

/** Block of every row (−1: not read by exact releases). */
export function blockOfRows(b: DeclaredBlocks, rows: GuardRows): Int32Array {
  const out = new Int32Array(rows.rowCount);
  const cols = b.dims.map((d) => {
    const codes = rows.codes.get(d.name);
    if (!codes || codes.length !== rows.rowCount) throw new DomainError('privacy-row-map-missing', `the row map has no codes of dimension "${d.name}"; resend with rowChunks`);
    return codes;
  });
  const classOf = b.dims.map((d) => d.classOf);
  const strides = b.dims.map((d) => d.stride);
  const D = cols.length;
  const kept = rows.kept;
  for (let r = 0; r < rows.rowCount; r++) {
    if (kept && !kept[r]) {
      out[r] = -1;
      continue;
    }
    let cell = 0;
    for (let j = 0; j < D; j++) {
      const cls = classOf[j]![cols[j]![r]!];
      if (cls === undefined) throw new DomainError('privacy-row-map-mismatch', `a row's ${b.dims[j]!.name} code is outside its declared values`);
      cell += cls * strides[j]!;
    }
    out[r] = b.blockOfCell[cell]!;
  }
  return out;
}

/** The rows' subjects bucketed by block (a counting sort): block b's are `bucketed[start[b] .. start[b + 1])`. */
function subjectsByBlock(blockOfRow: Int32Array, blocks: number, subjects: Int32Array): { start: Int32Array; bucketed: Int32Array; width: number } {
  const start = new Int32Array(blocks + 1);
  let width = 0;
  for (let r = 0; r < blockOfRow.length; r++) {
    const b = blockOfRow[r]!;
    if (b >= 0) start[b + 1]!++;
    if (subjects[r]! >= width) width = subjects[r]! + 1;
  }
  for (let b = 0; b < blocks; b++) start[b + 1] = start[b + 1]! + start[b]!;
  const fill = start.slice(0, blocks);
  const bucketed = new Int32Array(start[blocks]!);
  for (let r = 0; r < blockOfRow.length; r++) {
    const b = blockOfRow[r]!;
    if (b >= 0) bucketed[fill[b]!++] = subjects[r]!;
  }
  return { start, bucketed, width };
}

/** Distinct people per block (rows when there are no subjects); rows with block −1 are not counted. */
export function peoplePerBlock(blockOfRow: Int32Array, blocks: number, subjects?: Int32Array): Int32Array {
  const people = new Int32Array(blocks);
  if (!subjects) {
    for (let r = 0; r < blockOfRow.length; r++) if (blockOfRow[r]! >= 0) people[blockOfRow[r]!]!++;
    return people;
  }
  // each bucket counted against a per-subject stamp of the block last seen
  const { start, bucketed, width } = subjectsByBlock(blockOfRow, blocks, subjects);
  const stamp = new Int32Array(width).fill(-1);
  for (let b = 0; b < blocks; b++) {
    for (let j = start[b]!; j < start[b + 1]!; j++) {
      const s = bucketed[j]!;
      if (stamp[s] !== b) {
        stamp[s] = b;
        people[b]!++;
      }
    }
  }
  return people;
}

/**
 * Whether, in every block, no one person holds more than 1/k of the block's rows read (k × the most rows of one
 * person ≤ the block's rows). With a per-person cap above one, k people in a block is not enough: one person's
 * 40 rows among four single rows make an exact mean that is nearly theirs. The bound composes: a set is a
 * union of blocks, so no person holds more than 1/k of any released set's rows, nor of any difference of them.
 * Without subjects every row is its own person and the bound is "≥ k rows", already required.
 */
export function rowSharesWithinK(blockOfRow: Int32Array, blocks: number, k: number, subjects?: Int32Array): boolean {
  if (!subjects) return true;
  // rows of each (block, subject), counted against a per-subject stamp of the block last seen, block by block
  const { start, bucketed, width } = subjectsByBlock(blockOfRow, blocks, subjects);
  const stamp = new Int32Array(width).fill(-1);
  const mine = new Int32Array(width);
  for (let b = 0; b < blocks; b++) {
    const rows = start[b + 1]! - start[b]!;
    for (let j = start[b]!; j < start[b + 1]!; j++) {
      const s = bucketed[j]!;
      if (stamp[s] !== b) {
        stamp[s] = b;
        mine[s] = 0;
      }
      if (++mine[s]! * k > rows) return false;
    }
  }
  return true;
}

/** Rows per block of weighted rows (atoms: a combination of codes and its row count). */
function rowsPerBlock(blockOfAtom: Int32Array, rows: Int32Array, blocks: number): Int32Array {
  const out = new Int32Array(blocks);
  for (let a = 0; a < blockOfAtom.length; a++) if (blockOfAtom[a]! >= 0) out[blockOfAtom[a]!]! += rows[a]!;
  return out;
}

const canonical = (p: DimPredicate): string => JSON.stringify(p);
const canonicalPlan = (p: PlannedSets): string => JSON.stringify({ groupBy: p.groupBy, predicates: p.predicates, setsPerGroup: p.setsPerGroup });

/**
 * The partition the caps are computed on: every distinct planned query of the history and this release's
 * (grouped dimensions split into all declared values, their predicates' atoms) — plus, for releases recorded
 * without a plan, their released sets. The nodes charged are the plans' bounds, so neither cap depends on
 * which groups passed k.
 */
function plannedPartition(history: { planned: PlannedSets[]; unplanned: DimPredicate[] }, c: DifferencingCheck, fresh: DimPredicate[]): PlannedPartition | undefined {
  const plans = [...history.planned];
  if (c.planned && !plans.some((p) => canonicalPlan(p) === canonicalPlan(c.planned!))) plans.push(c.planned);
  if (plans.length === 0) return undefined;
  const loose = c.planned ? history.unplanned : [...history.unplanned, ...fresh];
  return {
    split: [...new Set(plans.flatMap((p) => p.groupBy))],
    predicates: [...plans.flatMap((p) => p.predicates), ...loose],
    nodes: plans.reduce((a, p) => a + plannedNodes(p, c.dimensions), 0) + loose.reduce((a, p) => a + countNodes(p), 0),
  };
}

export class DifferencingGuard {
  /** `db`: the enclave's state store (PrivacyBudgetLedger.store), its tables made by the enclave's migrations. */
  constructor(private readonly db: Store) {}

  /**
   * The history's planned queries, distinct, and the released sets of releases recorded without a plan (they
   * stand for their own plan).
   */
  async plans(buyerOrgId: string, datasetId: string): Promise<{ planned: PlannedSets[]; unplanned: DimPredicate[] }> {
    const rows = await this.db.all<{ sets: string; planned: string | null }>('SELECT sets, planned FROM privacy_release_sets WHERE buyer_org_id = ? AND dataset_id = ? ORDER BY id', buyerOrgId, datasetId);
    const seen = new Set<string>();
    const planned: PlannedSets[] = [];
    const unplanned: DimPredicate[] = [];
    for (const r of rows) {
      if (r.planned === null) {
        for (const p of JSON.parse(r.sets) as DimPredicate[]) {
          const key = `set:${canonical(p)}`;
          if (!seen.has(key)) {
            seen.add(key);
            unplanned.push(p);
          }
        }
      } else if (!seen.has(r.planned)) {
        seen.add(r.planned);
        planned.push(JSON.parse(r.planned) as PlannedSets);
      }
    }
    return { planned, unplanned };
  }

  /** The history's released sets, distinct (in first-release order). */
  async history(buyerOrgId: string, datasetId: string): Promise<DimPredicate[]> {
    const rows = await this.db.all<{ sets: string }>('SELECT sets FROM privacy_release_sets WHERE buyer_org_id = ? AND dataset_id = ? ORDER BY id', buyerOrgId, datasetId);
    const seen = new Set<string>();
    const out: DimPredicate[] = [];
    for (const r of rows) {
      for (const p of JSON.parse(r.sets) as DimPredicate[]) {
        const key = canonical(p);
        if (!seen.has(key)) {
          seen.add(key);
          out.push(p);
        }
      }
    }
    return out;
  }

  /**
   * Check the release against the joint history and record its sets; throws `privacy-differencing-refused`
   * (data-dependent: recorded and charged by the caller) or `privacy-history-too-complex` (from the queries
   * alone, before any row is read). One transaction — inside the charge's when the release pays ε, so the
   * charge, its output and this history update commit together.
   */
  async checkAndRecord(c: DifferencingCheck): Promise<{ blocks: number; classCells: number }> {
    // PostgreSQL: checks on one history queue on an advisory lock (see Store.transaction), so two enclaves never
    // both pass against the history as it was before the other's release
    return this.db.transaction(async () => {
      const prior = await this.history(c.buyerOrgId, c.datasetId);
      const known = new Set(prior.map(canonical));
      const fresh: DimPredicate[] = [];
      for (const p of c.sets) {
        const key = canonical(p);
        if (!known.has(key)) {
          known.add(key);
          fresh.push(p);
        }
      }
      const b = declaredBlocks([...prior, ...fresh], c.dimensions, plannedPartition(await this.plans(c.buyerOrgId, c.datasetId), c, fresh));
      const legacy = await legacyLabels(this.db, c.buyerOrgId, c.datasetId, c.rows.rowCount);
      const atoms = legacy ? undefined : c.rows.atoms;
      const blockOfRow = atoms ? undefined : blockOfRows(b, c.rows);
      const people = atoms ? rowsPerBlock(blockOfRows(b, { rowCount: atoms.count, codes: atoms.codes }), atoms.rows, b.blocks) : peoplePerBlock(blockOfRow!, b.blocks, c.rows.subjects);
      const legacyOk = !legacy || legacyRefinementOk(legacy, blockOfRow!, b.blocks, c.rows.subjects, c.k);
      // atoms exist only where every row read is its own person: then the row shares are within k already
      const sharesOk = atoms ? true : rowSharesWithinK(blockOfRow!, b.blocks, c.k, c.rows.subjects);
      // 0 people is refused like 1..k−1: an empty declared block must not be told apart from a small one
      if (!legacyOk || !sharesOk || people.some((n) => n < c.k)) {
        throw new DomainError(
          'privacy-differencing-refused',
          `refused: combined with the earlier exact releases on this dataset (by any buyer), this result would single out fewer than ${c.k} people: some combination of declared values would hold fewer than ${c.k}, possibly none, or one person would hold more than 1/${c.k} of its rows (coarsen the query, cover the withheld values, or buy a differentially private release)`,
          { k: c.k },
        );
      }
      await this.db.run(
        'INSERT INTO privacy_release_sets (buyer_org_id, dataset_id, sets, planned, created_at) VALUES (?, ?, ?, ?, ?)',
        c.buyerOrgId,
        c.datasetId,
        JSON.stringify(fresh),
        c.planned ? canonicalPlan(c.planned) : null,
        new Date().toISOString(),
      );
      return { blocks: b.blocks, classCells: b.cells };
    }, { lock: `shuyu:enclave-history:${c.datasetId}` });
  }
}

/**
 * Histories recorded before the guard reasoned on declared cells were per-row labels (`privacy_partition`, in
 * embedded SQLite files only). They stay as a refinement: every non-empty (old label, block) part must hold ≥ k
 * people as well.
 */
async function legacyLabels(db: Store, buyerOrgId: string, datasetId: string, rowCount: number): Promise<Int32Array | undefined> {
  if (db.dialect !== 'sqlite') return undefined;
  const exists = await db.get("SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'privacy_partition'");
  if (!exists) return undefined;
  const rows = await db.all<{ row_count: number; labels: Buffer }>(
    "SELECT row_count, labels FROM privacy_partition WHERE (buyer_org_id = ? AND dataset_id = ?) OR (buyer_org_id <> ? AND instr(dataset_id, '@') > 0 AND substr(dataset_id, instr(dataset_id, '@') + 1) = ?)",
    buyerOrgId,
    datasetId,
    buyerOrgId,
    datasetId,
  );
  if (rows.length === 0) return undefined;
  let acc = new Int32Array(rowCount);
  for (const r of rows) {
    if (r.row_count !== rowCount) throw new DomainError('privacy-differencing-state', 'a recorded partition does not match the dataset size', { datasetId });
    const other = new Int32Array(r.labels.buffer.slice(r.labels.byteOffset, r.labels.byteOffset + r.labels.byteLength));
    const ids = new Map<number, number>();
    const next = new Int32Array(rowCount);
    for (let i = 0; i < rowCount; i++) {
      const pair = acc[i]! * (rowCount + 1) + other[i]!;
      let id = ids.get(pair);
      if (id === undefined) ids.set(pair, (id = ids.size));
      next[i] = id;
    }
    acc = next;
  }
  return acc;
}

function legacyRefinementOk(labels: Int32Array, blockOfRow: Int32Array, blocks: number, subjects: Int32Array | undefined, k: number): boolean {
  const ids = new Map<number, number>();
  const part = new Int32Array(blockOfRow.length);
  for (let r = 0; r < blockOfRow.length; r++) {
    if (blockOfRow[r]! < 0) {
      part[r] = -1;
      continue;
    }
    const key = labels[r]! * blocks + blockOfRow[r]!;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    part[r] = id;
  }
  return peoplePerBlock(part, ids.size, subjects).every((n) => n >= k);
}
