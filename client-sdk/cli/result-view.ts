import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { type TableColumn, table } from './output.js';

/**
 * A verified result as people read it in a terminal: a table with one number format per output (fixed
 * decimals from the schema's scale, thousands separators), a DP output's ± 95 % interval when the receipt
 * states one, the groups an exact release left out explained once ("empty or withheld"), and a
 * verification answer as a sentence. `--json` prints the result itself instead.
 */

export interface ResultContext {
  /** the dataset's schema (decimals, declared group values); null when it could not be read */
  schema?: DatasetSchema | null;
  /** the receipt payload's `privacy` block: `accuracy` per DP output, `absentGroups`, `minGroupSize` */
  privacy?: Record<string, unknown>;
  /** the computation as the receipt names it (its IN filters narrow the groups that could be absent) */
  computation?: unknown;
  /** show at most this many rows, then say how many more there are */
  maxRows?: number;
}

interface Accuracy {
  halfWidth95?: number | null;
  sumHalfWidth?: number;
  countHalfWidth?: number;
}

type Values = Record<string, number | string | null>;
interface Groups {
  groupBy: string[];
  outputs: string[];
  groups: { key: string[]; values: Values }[];
}

const scaleOf = (type: string | undefined): number => Number(/^decimal\((\d)\)$/.exec(type ?? '')?.[1] ?? 0);

/** Decimal places for one output: counts whole; sum/min/max at the measure's scale; mean/stddev/variance at least one. */
export function decimalsFor(output: string, schema: DatasetSchema | null | undefined, values: unknown[]): number {
  if (output === 'count') return 0;
  const m = /^(\w+)\(([\w]+)\)$/.exec(output);
  const col = schema?.columns.find((c) => c.name === (m ? m[2] : output));
  if (col && (col.role === 'measure' || m)) {
    const scale = scaleOf(col.type);
    return m && ['mean', 'stddev', 'variance'].includes(m[1]!) ? Math.max(1, scale) : scale;
  }
  return values.every((v) => typeof v !== 'number' || Number.isInteger(v)) ? 0 : 2;
}

export const formatNumber = (v: number, decimals: number): string =>
  v.toLocaleString('en', { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: true });

/** The 95 % half-width of one DP value: stated per output, or for a mean derived from its group's noisy count. */
function halfWidth(output: string, acc: Accuracy | undefined, values: Values): number | null {
  if (!acc) return null;
  if (typeof acc.halfWidth95 === 'number') return acc.halfWidth95;
  const n = values.count;
  const v = values[output];
  if (/^mean\(/.test(output) && typeof n === 'number' && n >= 1 && typeof v === 'number' && typeof acc.sumHalfWidth === 'number' && typeof acc.countHalfWidth === 'number') {
    return (acc.sumHalfWidth + Math.abs(v) * acc.countHalfWidth) / n;
  }
  return null;
}

/** Keys of the grouping columns' declared values (inside the computation's IN filters) that the release does not list. */
function absentKeys(r: Groups, schema: DatasetSchema | null | undefined, computation: unknown, max = 4096): string[][] | null {
  if (!schema || r.groupBy.length === 0) return null;
  const filters = ((computation as { filters?: { column: string; in: string[] }[] } | null)?.filters ?? []).filter((f) => Array.isArray(f?.in));
  const domains: string[][] = [];
  for (const name of r.groupBy) {
    const values = schema.columns.find((c) => c.name === name)?.values;
    if (!values) return null;
    const f = filters.find((x) => x.column === name);
    domains.push(f ? values.filter((v) => f.in.includes(v)) : values);
  }
  if (domains.reduce((a, d) => a * d.length, 1) > max) return null;
  let keys: string[][] = [[]];
  for (const d of domains) keys = keys.flatMap((k) => d.map((v) => [...k, v]));
  const present = new Set(r.groups.map((g) => JSON.stringify(g.key.map(String))));
  return keys.filter((k) => !present.has(JSON.stringify(k)));
}

function verifySentence(r: { match?: unknown; perAttribute?: unknown }): string {
  const per = r.perAttribute && typeof r.perAttribute === 'object' ? Object.entries(r.perAttribute as Record<string, boolean>) : [];
  const head = r.match ? 'Verification: the record you gave MATCHES the dataset' : 'Verification: the record you gave does NOT match the dataset';
  if (per.length === 0) return `${head}.`;
  const yes = per.filter(([, v]) => v).map(([k]) => k);
  const no = per.filter(([, v]) => !v).map(([k]) => k);
  return `${head}${no.length ? ` (matching: ${yes.join(', ') || 'none'}; not matching: ${no.join(', ')})` : ` (every attribute: ${yes.join(', ')})`}.`;
}

export function resultText(result: unknown, ctx: ResultContext = {}): string {
  if (!result || typeof result !== 'object') return String(result);
  const r = result as Record<string, unknown>;
  if (r.kind === 'verify') return verifySentence(r);
  if (!Array.isArray(r.groups)) {
    // an unknown shape: its fields, one per line, rather than nothing
    return Object.entries(r).filter(([k]) => k !== 'kind').map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n');
  }
  const g: Groups = {
    groupBy: Array.isArray(r.groupBy) ? (r.groupBy as string[]) : [],
    outputs: Array.isArray(r.outputs) ? (r.outputs as string[]) : Object.keys((r.groups as { values?: Values }[])[0]?.values ?? {}),
    groups: (r.groups as { key?: unknown[]; values?: Values }[]).map((x) => ({ key: (x.key ?? []).map(String), values: x.values ?? {} })),
  };
  const accuracy = (ctx.privacy?.accuracy ?? {}) as Record<string, Accuracy>;
  const dp = Object.keys(accuracy).length > 0 || ctx.privacy?.absentGroups === 'none';
  const decimals = g.outputs.map((o) => decimalsFor(o, ctx.schema, g.groups.map((x) => x.values[o])));
  const columns: TableColumn<(typeof g.groups)[number]>[] = [
    ...g.groupBy.map((name, i) => ({ header: name, get: (x: (typeof g.groups)[number]) => x.key[i] })),
    ...g.outputs.map((o, i) => ({
      header: accuracy[o] ? `${o} (± 95%)` : o,
      align: 'right' as const,
      get: (x: (typeof g.groups)[number]) => {
        const v = x.values[o];
        if (v === null || v === undefined) return '—';
        if (typeof v !== 'number') return v;
        const hw = halfWidth(o, accuracy[o], x.values);
        return hw === null ? formatNumber(v, decimals[i]!) : `${formatNumber(v, decimals[i]!)} ± ${formatNumber(hw, decimals[i]!)}`;
      },
    })),
  ];
  const max = ctx.maxRows ?? Infinity;
  const shown = g.groups.slice(0, max);
  const lines = [g.groups.length === 0 ? '(no group was released)' : table(shown, columns)];
  if (g.groups.length > shown.length) lines.push(`… and ${g.groups.length - shown.length} more row(s), all in the receipt.`);
  if (!dp && g.groupBy.length > 0) {
    const k = typeof ctx.privacy?.minGroupSize === 'number' ? ` (fewer than ${ctx.privacy.minGroupSize} people)` : '';
    const absent = absentKeys(g, ctx.schema, ctx.computation);
    if (absent === null) lines.push(`Groups not listed are empty or withheld${k}; the release never says which.`);
    else if (absent.length > 0) {
      const names = absent.slice(0, 8).map((a) => a.join(' · ')).join(', ');
      lines.push(`${absent.length} group(s) not listed are empty or withheld${k}; the release never says which: ${names}${absent.length > 8 ? ', …' : ''}.`);
    }
  }
  if (dp) lines.push('Values carry calibrated noise (differential privacy); ± is the 95 % interval of that noise where the receipt states it.');
  return lines.join('\n');
}
