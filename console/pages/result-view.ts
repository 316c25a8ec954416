/**
 * A verified result as people read it: one number format per output (decimals from the schema's scale,
 * thousands separators, the unit in the column head), DP values with their ± 95 % interval, the groups an
 * exact release left out named once, 核验 answers as sentences, a chart (bars for one grouping column,
 * a heat map for two) and the released numbers as a CSV download.
 */
import type { Computation } from '../../contracts/computation.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { barChart, heatMap } from '../chart.js';
import { field, h, replace, table } from '../dom.js';
import { lang, list, t } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { absentKeys, bars, formatNumber, halfWidthFor, outputFormat, resultCsv, resultTable, type OutputAccuracyFacts, type OutputFormat, type ResultTable } from '../result.js';
import { notice, section } from '../ui.js';

export interface ResultContext {
  tradeId: string;
  schema: DatasetSchema | null;
  computation: Computation;
  /** the receipt's `privacy` block (accuracy per DP output, absent-group rule) */
  privacy: Record<string, unknown> | undefined;
}

const locale = (): string => (lang() === 'zh' ? 'zh-CN' : 'en-GB');

export function download(name: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const unitText = (f: OutputFormat): string => (f.unit ? t(`unit.${f.unit}` as MessageKey) : '');

/** A verification answer: the overall yes/no as a sentence, then one per attribute when asked for. */
function verifySection(title: string, r: { match?: unknown; perAttribute?: Record<string, boolean> }, c: Computation): HTMLElement {
  const match = c.kind === 'verify' ? c.match : {};
  const values = Object.entries(match).map(([k, v]) => `${k} = ${v}`);
  return section(
    title,
    h(
      'div',
      { class: 'verify-answer', 'data-match': String(r.match === true) },
      h('p', { class: 'answer' }, t('result.verifyExists', { values: list(values) }), ' ', h('strong', null, r.match === true ? t('common.yes') : t('common.no'))),
      r.perAttribute
        ? h('ul', null, Object.entries(r.perAttribute).map(([k, ok]) => h('li', null, t('result.verifyAttr', { col: k, value: String(match[k] ?? '') }), ' ', h('strong', null, ok ? t('common.yes') : t('common.no')))))
        : null,
    ),
  );
}

export function resultSection(title: string, result: unknown, ctx: ResultContext): HTMLElement {
  const r = result as Record<string, unknown> | null;
  if (r && r.kind === 'verify') return verifySection(title, r as { match?: unknown }, ctx.computation);
  const tbl = resultTable(result);
  if (!tbl) return section(title, h('pre', null, JSON.stringify(result, null, 2)));

  const accuracy = (ctx.privacy?.accuracy ?? {}) as Record<string, OutputAccuracyFacts>;
  const formats = tbl.columns.map((c, i) => outputFormat(c, ctx.schema, tbl.rows.map((row) => row[i])));
  const fmt = (col: number) => (v: number) => formatNumber(v, formats[col]!.decimals, locale());
  const rowObj = (row: ResultTable['rows'][number]) => Object.fromEntries(tbl.columns.map((c, i) => [c, row[i]]));
  const halfWidth = (ri: number, ci: number): number | null => halfWidthFor(tbl.columns[ci]!, accuracy[tbl.columns[ci]!], rowObj(tbl.rows[ri]!));
  const dp = Object.keys(accuracy).length > 0;

  const headers = tbl.columns.map((c, i) => (tbl.numericColumns.includes(i) && formats[i]!.unit ? `${c}（${unitText(formats[i]!)}）` : c));
  const rows = tbl.rows.map((row, ri) =>
    row.map((v, ci) => {
      if (v === null) return h('span', { class: 'absent', title: t('result.nullValue') }, '—');
      if (typeof v !== 'number') return String(v);
      const hw = dp ? halfWidth(ri, ci) : null;
      return hw === null ? fmt(ci)(v) : h('span', null, fmt(ci)(v), h('small', { class: 'pm' }, ` ± ${formatNumber(hw, formats[ci]!.decimals, locale())}`));
    }),
  );

  // Absent groups are said once, under the table, in words (never as rows: the release did not name them).
  const filters = ctx.computation.kind === 'aggregate' ? ctx.computation.filters ?? [] : [];
  const absent = ctx.privacy?.absentGroups === 'none' ? [] : absentKeys(result, ctx.schema, filters);
  const absentNote = absent.length
    ? h('p', { class: 'absent-note' }, t('result.absent', { n: absent.length }), ' ', h('span', { class: 'absent-keys' }, list(absent.slice(0, 24).map((k) => k.join(' · '))) + (absent.length > 24 ? ' …' : '')))
    : null;
  const nullNote = tbl.rows.some((row) => row.some((v) => v === null)) ? h('p', { class: 'hint' }, '— ', t('result.nullValue')) : null;

  const chartBox = h('figure', { class: 'chart-box' });
  let column = tbl.numericColumns[0] ?? 0;
  let drawnWidth = 0;
  const drawChart = (col: number): void => {
    column = col;
    drawnWidth = Math.round(chartBox.clientWidth) || 560;
    const w = Math.max(280, drawnWidth);
    const name = tbl.columns[col]!;
    const chart =
      tbl.labelColumns.length === 2
        ? heatMapOf(tbl, col, ctx.schema, w, fmt(col))
        : barChart(name, bars(tbl, col), w, fmt(col));
    replace(chartBox, chart, h('figcaption', null, `${t('trade.chart')}: ${headers[col]}${dp ? ` · ${t('result.chartNoise')}` : ''}`));
  };
  new ResizeObserver(() => {
    if (Math.round(chartBox.clientWidth) !== drawnWidth) requestAnimationFrame(() => drawChart(column));
  }).observe(chartBox);
  let picker: HTMLElement | null = null;
  if (tbl.numericColumns.length > 1) {
    const sel = h('select', null, tbl.numericColumns.map((c) => h('option', { value: String(c) }, headers[c]!)));
    sel.addEventListener('change', () => drawChart(Number(sel.value)));
    picker = field(t('trade.chart'), sel);
  }
  if (tbl.numericColumns.length) drawChart(tbl.numericColumns[0]!);

  const csvButton = h('button', { type: 'button', onclick: () => download(`result-${ctx.tradeId}.csv`, resultCsv(tbl, dp ? halfWidth : undefined), 'text/csv;charset=utf-8') }, t('result.csv'));
  return section(
    title,
    dp ? notice('info', t('result.dpNote')) : null,
    h(
      'div',
      // a heat map needs the width: it goes under the table
      { class: tbl.labelColumns.length === 2 ? 'result stacked' : 'result' },
      h('div', null, table(title, headers, rows, { numeric: tbl.numericColumns, className: 'result-table' }), absentNote, nullNote, h('div', { class: 'actions' }, csvButton)),
      tbl.numericColumns.length ? h('div', null, picker, chartBox) : null,
    ),
  );
}

/** The heat map of one output over the two grouping columns, their values in the schema's declared order. */
function heatMapOf(tbl: ResultTable, col: number, schema: DatasetSchema | null, width: number, format: (v: number) => string): SVGSVGElement {
  const order = (i: number): string[] => {
    const seen = [...new Set(tbl.rows.map((r) => String(r[tbl.labelColumns[i]!] ?? '∅')))];
    const declared = schema?.columns.find((c) => c.name === tbl.columns[tbl.labelColumns[i]!])?.values;
    return declared ? [...declared.filter((v) => seen.includes(v)), ...seen.filter((v) => !declared.includes(v))] : seen;
  };
  const cells = tbl.rows.map((r) => ({ row: String(r[0] ?? '∅'), col: String(r[1] ?? '∅'), value: typeof r[col] === 'number' ? (r[col] as number) : null }));
  return heatMap(tbl.columns[col]!, order(0), order(1), cells, width, format);
}
