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
 * State: one label per dataset row per (buyer, dataset), in the enclave's privacy database.
 */

/**
 * The history key: one joint history per buyer × dataset VERSION for both release paths (HE and SQL), so
 * their releases are checked together; row numbers are only meaningful within one commitment.
 */
export const differencingScope = (datasetId: string, commitment: string): string => `${datasetId}@${commitment}`;

export interface Membership {
  row: Int32Array;
  group: Int32Array;
  mask: Int32Array;
}

export interface DifferencingCheck {
  buyerOrgId: string;
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
      // signature of each row in THIS release: 0 = in no released set, else (group, mask) id
      const sig = new Int32Array(c.rowCount);
      const sigIds = new Map<string, number>();
      const m = c.membership;
      for (let i = 0; i < m.row.length; i++) {
        const r = (m.row[i] as number) - 1;
        const g = m.group[i] as number;
        if (r < 0 || r >= c.rowCount || g < 0 || !c.releasedGroups.has(g)) continue;
        const key = `${g}:${m.mask[i]}`;
        let id = sigIds.get(key);
        if (id === undefined) sigIds.set(key, (id = sigIds.size + 1));
        sig[r] = id;
      }
      const next = new Int32Array(c.rowCount);
      const labelIds = new Map<number, number>();
      const members: Set<number>[] = [];
      for (let r = 0; r < c.rowCount; r++) {
        const pair = (old[r] as number) * 1_048_576 + (sig[r] as number); // exact in a double for < 2^32 labels × 2^20 sigs
        let id = labelIds.get(pair);
        if (id === undefined) {
          id = labelIds.size;
          labelIds.set(pair, id);
          members.push(new Set());
        }
        next[r] = id;
        (members[id] as Set<number>).add(c.subjects ? (c.subjects[r] as number) : r);
      }
      if (sigIds.size >= 1_048_576) throw new DomainError('privacy-differencing-refused', 'too many distinct released sets in one query');
      if (members.some((s) => s.size > 0 && s.size < c.k)) {
        throw new DomainError(
          'privacy-differencing-refused',
          `refused: combined with this buyer's earlier exact releases on the dataset, this result would single out fewer than ${c.k} people (coarsen the query, cover the withheld rows, or buy a differentially private release)`,
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
      return { blocks: members.length };
    });
    return tx.immediate();
  }
}
