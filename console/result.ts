/**
 * A released result (the receipt payload's `result`) as rows for a table and bars for a chart. Shapes:
 * the HE aggregate and SQL releases ({ kind, groupBy, outputs, groups:[{ key, values }] }), a table
 * ({ columns, rows }), or any flat object (verification answers). Also what a reader needs around the
 * numbers: one number format per output (decimals from the schema's scale, a unit), the ± interval of a
 * DP output, the groups absent from an exact release, and the released numbers as CSV.
 */
import type { DatasetSchema } from '../contracts/dataset/schema.js';

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

// ── number formats ───────────────────────────────────────────────────────────

export interface OutputFormat {
  /** fixed decimal places every value of the output is shown with */
  decimals: number;
  /** the measure's unit, from its name's suffix (spend_yuan → yuan); null when none is known */
  unit: 'yuan' | 'tonnes' | 'km' | 'kg' | 'percent' | 'nights' | null;
}

const UNIT_SUFFIXES: [RegExp, NonNullable<OutputFormat['unit']>][] = [
  [/(^|_)(yuan|fen_yuan|cny)$/, 'yuan'],
  [/(^|_)tonnes?$/, 'tonnes'],
  [/(^|_)km$/, 'km'],
  [/(^|_)kg$/, 'kg'],
  [/(^|_)(pct|percent)$/, 'percent'],
  [/(^|_)nights$/, 'nights'],
];

const unitOf = (measure: string): OutputFormat['unit'] => UNIT_SUFFIXES.find(([re]) => re.test(measure))?.[1] ?? null;

/** `op(measure)` → its parts; `count` → op only; anything else (an SQL alias) → null. */
export function parseOutput(output: string): { op: string; measure?: string } | null {
  if (output === 'count') return { op: 'count' };
  const m = /^(sum|mean|variance|stddev|min|max|median)\(([a-z][a-z0-9_]*)\)$/.exec(output);
  return m ? { op: m[1]!, measure: m[2]! } : null;
}

const scaleOfType = (type: string): number => Number(/^decimal\((\d)\)$/.exec(type)?.[1] ?? 0);

/**
 * The format of one output: counts whole; sums, minima, maxima and medians at the measure's scale; means
 * and standard deviations at the scale but at least one place; variances in squared units, so
 * without a unit. Outputs the schema does not name (SQL aliases): whole when every value is whole, else two.
 */
export function outputFormat(output: string, schema: DatasetSchema | null, values: readonly unknown[] = []): OutputFormat {
  const p = parseOutput(output);
  const col = p?.measure ? schema?.columns.find((c) => c.name === p.measure) : undefined;
  if (p?.op === 'count') return { decimals: 0, unit: null };
  if (p && col) {
    const scale = scaleOfType(col.type);
    const unit = unitOf(col.name);
    if (p.op === 'mean' || p.op === 'stddev') return { decimals: Math.max(1, scale), unit };
    if (p.op === 'variance') return { decimals: Math.max(1, scale), unit: null };
    return { decimals: scale, unit };
  }
  const byName = schema?.columns.find((c) => c.name === output);
  if (byName && byName.role === 'measure') return { decimals: scaleOfType(byName.type), unit: unitOf(byName.name) };
  const whole = values.every((v) => typeof v !== 'number' || Number.isInteger(v));
  return { decimals: whole ? 0 : 2, unit: unitOf(output) };
}

/** A number at fixed decimals with the locale's thousands separators. */
export function formatNumber(v: number, decimals: number, locale: string): string {
  return v.toLocaleString(locale, { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: true });
}

// ── DP accuracy ──────────────────────────────────────────────────────────────

export interface OutputAccuracyFacts {
  mechanism?: string;
  noiseScale?: number;
  halfWidth95?: number | null;
  sumHalfWidth?: number;
  countHalfWidth?: number;
  formula?: string;
}

/**
 * The 95 % half-width of one released DP value. Counts and sums have a fixed one; a mean's depends on its
 * group's size, so it is derived from the released count of the same group when there is one:
 * (sum's half-width + |mean| × count's half-width) / count. Null when it cannot be stated.
 */
export function halfWidthFor(output: string, acc: OutputAccuracyFacts | undefined, row: Record<string, unknown>): number | null {
  if (!acc) return null;
  if (typeof acc.halfWidth95 === 'number') return acc.halfWidth95;
  const p = parseOutput(output);
  const n = row.count;
  const v = row[output];
  if (p?.op === 'mean' && typeof n === 'number' && n >= 1 && typeof v === 'number' && typeof acc.sumHalfWidth === 'number' && typeof acc.countHalfWidth === 'number') {
    return (acc.sumHalfWidth + Math.abs(v) * acc.countHalfWidth) / n;
  }
  return null;
}

// ── absent groups ────────────────────────────────────────────────────────────

/**
 * Keys of the grouping columns' declared values that an exact release left out (no rows, or fewer than the
 * minimum group size — the release never says which). Respects the computation's IN filters; empty when a
 * grouping column has no declared values (an SQL expression) or the domain is too large to list.
 */
export function absentKeys(result: unknown, schema: DatasetSchema | null, filters: readonly { column: string; in: string[] }[] = [], max = 4096): string[][] {
  const r = result as { groupBy?: unknown; groups?: { key?: unknown[] }[] } | null;
  if (!schema || !r || !Array.isArray(r.groupBy) || !Array.isArray(r.groups) || r.groupBy.length === 0) return [];
  const domains: string[][] = [];
  for (const name of r.groupBy as string[]) {
    const values = schema.columns.find((c) => c.name === name)?.values;
    if (!values) return [];
    const f = filters.find((x) => x.column === name);
    domains.push(f ? values.filter((v) => f.in.includes(v)) : values);
  }
  if (domains.reduce((a, d) => a * d.length, 1) > max) return [];
  let keys: string[][] = [[]];
  for (const d of domains) keys = keys.flatMap((k) => d.map((v) => [...k, v]));
  const present = new Set(r.groups.map((g) => JSON.stringify((g.key ?? []).map(String))));
  return keys.filter((k) => !present.has(JSON.stringify(k)));
}

// ── CSV ──────────────────────────────────────────────────────────────────────

const csvCell = (v: Cell): string => {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/**
 * The released numbers as CSV (RFC 4180, CRLF): the values exactly as the receipt holds them, and for DP
 * outputs a `<output> ±95%` column after each. A BOM so spreadsheet programs read the UTF-8 names.
 */
export function resultCsv(tbl: ResultTable, halfWidths?: (row: number, column: number) => number | null): string {
  const withInterval = tbl.numericColumns.filter((c) => halfWidths && tbl.rows.some((_, i) => halfWidths(i, c) !== null));
  const header: string[] = [];
  tbl.columns.forEach((c, i) => {
    header.push(c);
    if (withInterval.includes(i)) header.push(`${c} ±95%`);
  });
  const lines = tbl.rows.map((r, ri) => {
    const out: Cell[] = [];
    r.forEach((v, ci) => {
      out.push(v);
      if (withInterval.includes(ci)) {
        const hw = halfWidths!(ri, ci);
        out.push(hw === null ? null : Number(hw.toPrecision(6)));
      }
    });
    return out.map(csvCell).join(',');
  });
  return `\ufeff${[header.map(csvCell).join(','), ...lines].join('\r\n')}\r\n`;
}
