import type Database from 'better-sqlite3';
import { DomainError } from '../../contracts/errors.js';

/**
 * Differencing defence for EXACT (un-noised) releases — see docs/privacy.md for the argument.
 *
 * Every released aggregate is a sum (or count/min/max) of a fixed per-row function over a set of rows:
 * the rows of one released group that pass WHERE and the aggregate's own CASE condition. Partition the
 * dataset's rows by which released sets of this buyer (all earlier exact releases and this one) they belong to.
 * Rows in the same block are in exactly the same sets, so every released number — and every linear
 * combination of released numbers — is a symmetric function of each block's rows: nothing released tells
 * the buyer which row of a block is whose. The rule: every block, including the block of rows never
 * released, must hold 0 or at least k distinct subjects. "Total" and "total minus one person" put that
 * person alone in a block, so the second query is refused.
 *
 * DP releases are not tracked here: their cost composes in the ε ledger instead.
 * State: one label per dataset row per history (production: one per dataset commitment, across buyers —
 * differencingHistory), in the enclave's privacy database.
 */

/**
 * Exact releases are checked against ONE history per dataset version, shared by both release paths (HE and
 * SQL) and by ALL buyers: two organisations' complementary queries are checked together, so colluding
 * buyers get no more than one buyer would. The version is its content commitment (what was sealed), so the
 * same bundle published under another listing shares the history; row numbers mean something only within one.
 */
export const ALL_BUYERS = '*';
export const differencingScope = (commitment: string): string => commitment;
/** The guard's (buyerOrgId, datasetId) pair of a dataset version's joint history. */
export const differencingHistory = (commitment: string): { buyerOrgId: string; datasetId: string } => ({
  buyerOrgId: ALL_BUYERS,
  datasetId: differencingScope(commitment),
});

export interface Membership {
  row: Int32Array;
  group: Int32Array;
  mask: Int32Array;
}

export interface DifferencingCheck {
  /** whose history: ALL_BUYERS in production (differencingHistory) */
  buyerOrgId: string;
  /** the history's dataset key: the commitment in production */
  datasetId: string;
  /** rows in the dataset (row numbers are 1..rowCount) */
  rowCount: number;
  k: number;
  /** subject number of each dataset row (index r-1); absent when rows are the subjects */
  subjects?: Int32Array;
  membership: Membership;
  /** indexes (into the query's result rows) of the groups being released */
  releasedGroups: Set<number>;
}

export class DifferencingGuard {
  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS privacy_partition (
        buyer_org_id TEXT NOT NULL,
        dataset_id   TEXT NOT NULL,
        row_count    INTEGER NOT NULL,
        labels       BLOB NOT NULL,
        releases     INTEGER NOT NULL,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (buyer_org_id, dataset_id)
      );
    `);
    mergeBuyerHistories(db);
  }

  /** Check the release against this buyer's history and record it; throws `privacy-differencing-refused`. */
  checkAndRecord(c: DifferencingCheck): { blocks: number } {
    const tx = this.db.transaction(() => {
      const prior = this.db
        .prepare('SELECT row_count, labels, releases FROM privacy_partition WHERE buyer_org_id = ? AND dataset_id = ?')
        .get(c.buyerOrgId, c.datasetId) as { row_count: number; labels: Buffer; releases: number } | undefined;
      if (prior && prior.row_count !== c.rowCount) {
        throw new DomainError('privacy-differencing-state', 'recorded partition does not match the dataset size', { datasetId: c.datasetId });
      }
      const old = prior ? new Int32Array(prior.labels.buffer.slice(prior.labels.byteOffset, prior.labels.byteOffset + prior.labels.byteLength)) : new Int32Array(c.rowCount);
      // signature of each row in THIS release: 0 = in no released set, else (group, mask) id.
      // Keys are numbers (group · 2^32 + mask, exact below 2^53): this loop runs once per row of a 1M-row dataset.
      const sig = new Int32Array(c.rowCount);
      const sigIds = new Map<number, number>();
      const m = c.membership;
      let lastKey = -1;
      let lastId = 0;
      for (let i = 0; i < m.row.length; i++) {
        const r = (m.row[i] as number) - 1;
        const g = m.group[i] as number;
        if (r < 0 || r >= c.rowCount || g < 0 || !c.releasedGroups.has(g)) continue;
        if (g >= 2_097_152) throw new DomainError('privacy-differencing-refused', 'too many groups in one query');
        const key = g * 4_294_967_296 + ((m.mask[i] as number) >>> 0);
        if (key !== lastKey) {
          let id = sigIds.get(key);
          if (id === undefined) sigIds.set(key, (id = sigIds.size + 1));
          lastKey = key;
          lastId = id;
        }
        sig[r] = lastId;
      }
      if (sigIds.size >= 1_048_576) throw new DomainError('privacy-differencing-refused', 'too many distinct released sets in one query');
      // new label = id of the (old label, signature) pair; a dense table when small, a map otherwise
      let oldLabels = 0;
      for (let r = 0; r < c.rowCount; r++) if ((old[r] as number) >= oldLabels) oldLabels = (old[r] as number) + 1;
      const sigs = sigIds.size + 1;
      const table = oldLabels * sigs <= 4_194_304 ? new Int32Array(oldLabels * sigs).fill(-1) : null;
      const labelIds = new Map<number, number>();
      const next = new Int32Array(c.rowCount);
      let labels = 0;
      for (let r = 0; r < c.rowCount; r++) {
        const pair = (old[r] as number) * sigs + (sig[r] as number);
        let id: number | undefined;
        if (table) {
          id = table[pair] as number;
          if (id < 0) table[pair] = id = labels++;
        } else {
          id = labelIds.get(pair);
          if (id === undefined) labelIds.set(pair, (id = labels++));
        }
        next[r] = id;
      }
      // distinct subjects per label: rows are subjects unless the schema has an identifier
      const people = new Int32Array(labels);
      if (!c.subjects) {
        for (let r = 0; r < c.rowCount; r++) people[next[r] as number]!++;
      } else {
        const subj = c.subjects;
        let maxSubject = 0;
        for (let r = 0; r < c.rowCount; r++) if ((subj[r] as number) > maxSubject) maxSubject = subj[r] as number;
        const rowsOf = new Int32Array(maxSubject + 1);
        for (let r = 0; r < c.rowCount; r++) rowsOf[subj[r] as number]!++;
        const seen = new Set<number>(); // (label, subject) of subjects with several rows
        for (let r = 0; r < c.rowCount; r++) {
          const who = subj[r] as number;
          const label = next[r] as number;
          if (rowsOf[who] === 1) people[label]!++;
          else {
            const key = label * (maxSubject + 1) + who;
            if (!seen.has(key)) {
              seen.add(key);
              people[label]!++;
            }
          }
        }
      }
      if (people.some((n) => n > 0 && n < c.k)) {
        throw new DomainError(
          'privacy-differencing-refused',
          `refused: combined with the earlier exact releases on this dataset (by any buyer), this result would single out fewer than ${c.k} people (coarsen the query, cover the withheld rows, or buy a differentially private release)`,
          { k: c.k },
        );
      }
      const blob = Buffer.from(next.buffer, next.byteOffset, next.byteLength);
      this.db
        .prepare(
          `INSERT INTO privacy_partition (buyer_org_id, dataset_id, row_count, labels, releases, updated_at) VALUES (?, ?, ?, ?, 1, ?)
           ON CONFLICT (buyer_org_id, dataset_id) DO UPDATE SET labels = excluded.labels, releases = releases + 1, updated_at = excluded.updated_at`,
        )
        .run(c.buyerOrgId, c.datasetId, c.rowCount, blob, new Date().toISOString());
      return { blocks: labels };
    });
    return tx.immediate();
  }
}

const labelsOf = (b: Buffer): Int32Array => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/**
 * Histories recorded per buyer under `<listing id>@<commitment>` (before they were joint) become the joint
 * history of their commitment: the common refinement of every buyer's partition, which is what all those
 * releases together reveal. A refinement that already holds a block below k leaves every later exact
 * release on that version refused — the conservative reading of what was released.
 */
function mergeBuyerHistories(db: Database.Database): void {
  const legacy = db
    .prepare(`SELECT buyer_org_id, dataset_id, row_count, labels, releases FROM privacy_partition WHERE buyer_org_id <> ? AND instr(dataset_id, '@') > 0`)
    .all(ALL_BUYERS) as { buyer_org_id: string; dataset_id: string; row_count: number; labels: Buffer; releases: number }[];
  if (legacy.length === 0) return;
  db.transaction(() => {
    const byCommitment = new Map<string, typeof legacy>();
    for (const r of legacy) {
      const c = r.dataset_id.slice(r.dataset_id.indexOf('@') + 1);
      byCommitment.set(c, [...(byCommitment.get(c) ?? []), r]);
    }
    for (const [commitment, rows] of byCommitment) {
      const h = differencingHistory(commitment);
      const joint = db.prepare('SELECT row_count, labels, releases FROM privacy_partition WHERE buyer_org_id = ? AND dataset_id = ?').get(h.buyerOrgId, h.datasetId) as
        | { row_count: number; labels: Buffer; releases: number }
        | undefined;
      const parts = [...(joint ? [joint] : []), ...rows];
      const rowCount = parts[0]!.row_count;
      if (parts.some((p) => p.row_count !== rowCount)) continue; // inconsistent state: left for the guard to report
      let acc = new Int32Array(rowCount);
      for (const p of parts) {
        const other = labelsOf(p.labels);
        const ids = new Map<number, number>();
        const next = new Int32Array(rowCount);
        const width = rowCount + 1;
        for (let r = 0; r < rowCount; r++) {
          const pair = (acc[r] as number) * width + (other[r] as number);
          let id = ids.get(pair);
          if (id === undefined) ids.set(pair, (id = ids.size));
          next[r] = id;
        }
        acc = next;
      }
      const releases = parts.reduce((n, p) => n + p.releases, 0);
      db.prepare(
        `INSERT INTO privacy_partition (buyer_org_id, dataset_id, row_count, labels, releases, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (buyer_org_id, dataset_id) DO UPDATE SET labels = excluded.labels, releases = excluded.releases, updated_at = excluded.updated_at`,
      ).run(h.buyerOrgId, h.datasetId, rowCount, Buffer.from(acc.buffer, acc.byteOffset, acc.byteLength), releases, new Date().toISOString());
      const del = db.prepare('DELETE FROM privacy_partition WHERE buyer_org_id = ? AND dataset_id = ?');
      for (const r of rows) del.run(r.buyer_org_id, r.dataset_id);
    }
  }).immediate();
}
