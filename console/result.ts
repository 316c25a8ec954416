/**
 * A released result (the receipt payload's `result`) as rows for a table and bars for a chart. Shapes:
 * the HE aggregate ({ kind:'aggregate', groupBy, outputs, groups:[{ key, values }] }), a table
 * ({ columns, rows }), or any flat object (verification answers).
 */

export interface ResultTable {
  columns: string[];
  rows: (string | number | boolean | null)[][];
  /** columns that label a row (group keys) and columns holding numbers, for the chart */
  labelColumns: number[];
  numericColumns: number[];
}

type Cell = string | number | boolean | null;
const cell = (v: unknown): Cell => (v === null || v === undefined ? null : typeof v === 'object' ? JSON.stringify(v) : (v as Cell));

export function resultTable(result: unknown): ResultTable | null {
  if (!result || typeof result !== 'object') return null;
  const r = result as Record<string, unknown>;
  let columns: string[];
  let rows: Cell[][];
  let labelCount = 0;
  if (Array.isArray(r.groups)) {
    const groupBy = Array.isArray(r.groupBy) ? (r.groupBy as string[]) : [];
    const groups = r.groups as { key?: unknown[]; values?: Record<string, unknown> }[];
    const outputs = Array.isArray(r.outputs) ? (r.outputs as string[]) : Object.keys(groups[0]?.values ?? {});
    columns = [...groupBy, ...outputs];
    rows = groups.map((g) => [...groupBy.map((_, i) => cell(g.key?.[i])), ...outputs.map((o) => cell(g.values?.[o]))]);
    labelCount = groupBy.length;
  } else if (Array.isArray(r.columns) && Array.isArray(r.rows)) {
    columns = (r.columns as unknown[]).map(String);
    rows = (r.rows as unknown[]).map((row) =>
      Array.isArray(row) ? row.map(cell) : columns.map((c) => cell((row as Record<string, unknown>)[c])),
    );
    labelCount = Math.max(0, columns.findIndex((_, i) => rows.every((x) => typeof x[i] === 'number' || x[i] === null)));
  } else {
    const entries = Object.entries(r).filter(([k]) => k !== 'kind');
    columns = entries.map(([k]) => k);
    rows = [entries.map(([, v]) => cell(v))];
  }
  const numericColumns = columns.map((_, i) => i).filter((i) => i >= labelCount && rows.length > 0 && rows.every((x) => typeof x[i] === 'number' || x[i] === null) && rows.some((x) => typeof x[i] === 'number'));
  return { columns, rows, labelColumns: Array.from({ length: labelCount }, (_, i) => i), numericColumns };
}

/** Bars of one numeric column, labelled by the group keys (rows without a value are left out). */
export function bars(tbl: ResultTable, column: number): { label: string; value: number }[] {
  return tbl.rows
    .filter((r) => typeof r[column] === 'number')
    .map((r, i) => ({ label: tbl.labelColumns.length ? tbl.labelColumns.map((c) => String(r[c] ?? '∅')).join(' · ') : `#${i + 1}`, value: r[column] as number }));
}
