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
 * neither recorded nor charged. With one pinned cap c, every exact release reads the same rows: SQL, under
 * exactly c, keeps each person's first c rows. HE reads all rows, so it needs no conflict: under its own cap m it
 * releases only when no person has more than min(m, c) rows (else `privacy-contribution-unbounded`, recorded
 * and charged as before), and then all rows are exactly each person's first c. Letting SQL under m ≠ c through
 * where nobody has more than min(m, c) rows would be sound too, but that decision would read the data.
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

  /** Pin `rowCap` for the version unless a cap is pinned already; returns the pinned cap (one immediate transaction). */
  pin(c: { datasetKey: string; rowCap: number; tradeId: string }): number {
    const tx = this.db.transaction((): number => {
      this.db
        .prepare('INSERT OR IGNORE INTO privacy_exact_row_cap (dataset_key, row_cap, trade_id, created_at) VALUES (?, ?, ?, ?)')
        .run(c.datasetKey, c.rowCap, c.tradeId, new Date().toISOString());
      return this.pinned(c.datasetKey)!;
    });
    return tx.immediate();
  }
}

/**
 * Pin (or check) the row cap of an exact release, before any row is read, and return the version's cap. A release
 * that drops rows beyond the cap (SQL) is refused under another cap; one that reads every row (HE) gets the
 * pinned cap back and must release only when no person has more than the smaller of it and its own.
 */
export function pinExactRowCap(
  db: Database.Database,
  c: { commitment: string; schema: DatasetSchema; maxRowsPerPerson: number | undefined; tradeId: string; readsAllRows?: boolean },
): number {
  const rowCap = exactRowCapOf(c.schema, c.maxRowsPerPerson);
  const pinned = new ExactRowCaps(db).pin({ datasetKey: c.commitment, rowCap, tradeId: c.tradeId });
  if (pinned !== rowCap && !c.readsAllRows) {
      throw new DomainError(
        'privacy-row-cap-conflict',
        `refused: exact releases on this dataset version read at most ${pinned} row(s) per person; this offer's cap is ${rowCap}, and two caps would difference the rows between them (use the same cap, or a differentially private release)`,
        { pinnedRowCap: pinned, rowCap },
      );
  }
  return pinned;
}
