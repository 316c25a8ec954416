import type Database from 'better-sqlite3';
import { DomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';

/**
 * One per-person row cap for every exact release of a dataset version (docs/privacy.md §4, "Rows per person").
 * The differencing guard reasons on sets of declared cells, but which rows an exact aggregate over a set reads
 * depends on the cap m (each person's first m rows): the same set read under m = 1 and m = 10 differs by the
 * rows beyond each person's first, and two such releases give those rows' total. So the first exact release
 * ATTEMPTED on a version (after its approval is verified, before any row is read) pins its declared cap, and an
 * exact release under any other cap is refused with `privacy-row-cap-conflict`.
 *
 * The decision reads only the terms of earlier exact releases and this one's, never a row or a result, so it is
 * neither recorded nor charged. With one declared cap c, every exact release reads the same rows: SQL keeps
 * each person's first c rows; HE reads all rows but releases only when no person has more than c, when all rows
 * are exactly the first c. Pinning the effective view min(c, most rows of a person) instead would let m = 1 and
 * m = 10 coexist where nobody has two rows, but that decision would depend on the data.
 */

/** The cap that decides which rows an exact release reads: m where rows are grouped into people, else 1. */
export function exactRowCapOf(schema: DatasetSchema, maxRowsPerPerson: number | undefined): number {
  // without an identifier every row is a person and m has no effect on which rows are read
  return schema.columns.some((c) => c.role === 'identifier') ? (maxRowsPerPerson ?? 1) : 1;
}

export class ExactRowCaps {
  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS privacy_exact_row_cap (
        dataset_key TEXT PRIMARY KEY,
        row_cap     INTEGER NOT NULL CHECK (row_cap >= 1),
        trade_id    TEXT NOT NULL,
        created_at  TEXT NOT NULL
      );
    `);
  }

  /** The pinned cap of a dataset version, if an exact release was attempted on it. */
  pinned(datasetKey: string): number | undefined {
    return (this.db.prepare('SELECT row_cap FROM privacy_exact_row_cap WHERE dataset_key = ?').get(datasetKey) as { row_cap: number } | undefined)?.row_cap;
  }

  /** Pin `rowCap` for the version (first attempt) or refuse when another cap is pinned; one immediate transaction. */
  pin(c: { datasetKey: string; rowCap: number; tradeId: string }): void {
    const tx = this.db.transaction((): number => {
      this.db
        .prepare('INSERT OR IGNORE INTO privacy_exact_row_cap (dataset_key, row_cap, trade_id, created_at) VALUES (?, ?, ?, ?)')
        .run(c.datasetKey, c.rowCap, c.tradeId, new Date().toISOString());
      return this.pinned(c.datasetKey)!;
    });
    const pinned = tx.immediate();
    if (pinned !== c.rowCap) {
      throw new DomainError(
        'privacy-row-cap-conflict',
        `refused: exact releases on this dataset version read at most ${pinned} row(s) per person; this offer's cap is ${c.rowCap}, and two caps would difference the rows between them (use the same cap, or a differentially private release)`,
        { pinnedRowCap: pinned, rowCap: c.rowCap },
      );
    }
  }
}

/** Pin (or check) the row cap of an exact release, before any row is read. */
export function pinExactRowCap(
  db: Database.Database,
  c: { commitment: string; schema: DatasetSchema; maxRowsPerPerson: number | undefined; tradeId: string },
): void {
  new ExactRowCaps(db).pin({ datasetKey: c.commitment, rowCap: exactRowCapOf(c.schema, c.maxRowsPerPerson), tradeId: c.tradeId });
}
