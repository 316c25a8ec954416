import { DomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { Store } from '../../store/engine.js';

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
  /** `db`: the enclave's state store (PrivacyBudgetLedger.store). */
  constructor(private readonly db: Store) {}

  /** The pinned cap of a dataset version, if an exact release was attempted on it. */
  async pinned(datasetKey: string): Promise<number | undefined> {
    const r = await this.db.get<{ row_cap: number }>('SELECT row_cap FROM privacy_exact_row_cap WHERE dataset_key = ?', datasetKey);
    return r === undefined ? undefined : Number(r.row_cap);
  }

  /** Pin `rowCap` for the version unless a cap is pinned already; returns the pinned cap (one transaction). */
  async pin(c: { datasetKey: string; rowCap: number; tradeId: string }): Promise<number> {
    return this.db.transaction(async (): Promise<number> => {
      await this.db.run(
        'INSERT INTO privacy_exact_row_cap (dataset_key, row_cap, trade_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (dataset_key) DO NOTHING',
        c.datasetKey,
        c.rowCap,
        c.tradeId,
        new Date().toISOString(),
      );
      return (await this.pinned(c.datasetKey))!;
    }, { lock: `shuyu:enclave-row-cap:${c.datasetKey}` });
  }
}

/**
 * Pin (or check) the row cap of an exact release, before any row is read, and return the version's cap. A release
 * that drops rows beyond the cap (SQL) is refused under another cap; one that reads every row (HE) gets the
 * pinned cap back and must release only when no person has more than the smaller of it and its own.
 */
export async function pinExactRowCap(
  db: Store,
  c: { commitment: string; schema: DatasetSchema; maxRowsPerPerson: number | undefined; tradeId: string; readsAllRows?: boolean },
): Promise<number> {
  const rowCap = exactRowCapOf(c.schema, c.maxRowsPerPerson);
  const pinned = await new ExactRowCaps(db).pin({ datasetKey: c.commitment, rowCap, tradeId: c.tradeId });
  if (pinned !== rowCap && !c.readsAllRows) {
      throw new DomainError(
        'privacy-row-cap-conflict',
        `refused: exact releases on this dataset version read at most ${pinned} row(s) per person; this offer's cap is ${rowCap}, and two caps would difference the rows between them (use the same cap, or a differentially private release)`,
        { pinnedRowCap: pinned, rowCap },
      );
  }
  return pinned;
}
