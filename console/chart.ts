/**
 * Charts as inline SVG (no chart library to bundle, no external fonts): a horizontal bar chart for a result
 * grouped by one column (or none), a heat map for two. Labels are measured and wrapped onto more lines
 * rather than cut off; each chart is an image with a title, and the same numbers are in the table beside it.
 */
import { s } from './dom.js';
import { t } from './i18n.js';

export interface BarDatum {
  label: string;
  value: number;
}

const FONT = 13;
/** Width of text at the chart's font size: CJK and full-width characters about a square, Latin about 0.6 of it. */
export function textWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += /[\u1100-\uffdc]/.test(ch) ? FONT : ch === ' ' ? FONT * 0.3 : FONT * 0.62;
  return w;
}

/** Splits text into lines no wider than `width` (on spaces and · when it can, else between characters). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const token of text.split(/(?<=[ ·])/)) {
    if (textWidth(line + token) <= width) {
      line += token;
      continue;
    }
    if (line) lines.push(line.trimEnd());
    line = '';
    for (const ch of token) {
      if (textWidth(line + ch) > width && line) {
        lines.push(line);
        line = '';
      }
      line += ch;
    }
  }
  if (line.trim()) lines.push(line.trimEnd());
  return lines.length ? lines : [''];
}

/** A multi-line <text>, its lines centred on `y`. */
function label(lines: string[], x: number, y: number, attrs: Record<string, string>): SVGTextElement {
  const lh = FONT + 3;
  const top = y - ((lines.length - 1) * lh) / 2;
  return s('text', { x, y: top, ...attrs }, lines.map((l, i) => s('tspan', { x, y: top + i * lh, 'dominant-baseline': 'middle' }, l)));
}

/**
 * One bar per datum. `format` shows a value as the table does; `width` is the pixel width it will be
 * shown at, so text keeps its size on phones and desktops alike.
 */
export function barChart(title: string, data: BarDatum[], width = 560, format: (v: number) => string = String): SVGSVGElement {
  const valueW = Math.min(width * 0.3, Math.max(48, ...data.map((d) => textWidth(format(d.value)) + 10)));
  const longest = Math.max(24, ...data.map((d) => textWidth(d.label)));
  const labelW = Math.round(Math.min(longest + 14, width * 0.42));
  const wrapped = data.map((d) => wrap(d.label, labelW - 14));
  const top = 8;
  const rowHs = wrapped.map((l) => Math.max(28, l.length * (FONT + 3) + 10));
  const height = top * 2 + Math.max(28, rowHs.reduce((a, b) => a + b, 0));
  const plotW = Math.max(20, width - labelW - valueW);
  const max = Math.max(1e-9, ...data.map((d) => Math.abs(d.value)));
  let y = top;
  return s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('chart.label', { title }), preserveAspectRatio: 'xMinYMin meet' },
    s('title', null, t('chart.label', { title })),
    s('line', { x1: labelW, x2: labelW, y1: 0, y2: height, class: 'axis' }),
    data.map((d, i) => {
      const rowH = rowHs[i]!;
      const mid = y + rowH / 2;
      y += rowH;
      const w = Math.max(1, (Math.abs(d.value) / max) * plotW);
      return s(
        'g',
        { class: 'bar-row' },
        label(wrapped[i]!, labelW - 8, mid, { class: 'bar-label', 'text-anchor': 'end' }),
        s('rect', { x: labelW, y: mid - 10, width: w.toFixed(1), height: 20, rx: 3, class: d.value < 0 ? 'bar negative' : 'bar' }, s('title', null, `${d.label}: ${format(d.value)}`)),
        s('text', { x: labelW + w + 6, y: mid, class: 'bar-value', 'dominant-baseline': 'middle' }, format(d.value)),
      );
    }),
  );
}

export interface HeatCell {
  row: string;
  col: string;
  value: number | null;
}

/**
 * A heat map for a result grouped by two columns: rows are the first column's values, columns the second's,
 * each cell shaded by its value and labelled with it; a cell with no released value is left hatched.
 */
export function heatMap(title: string, rows: string[], cols: string[], cells: HeatCell[], width = 560, format: (v: number) => string = String): SVGSVGElement {
  const rowLabelW = Math.round(Math.min(Math.max(24, ...rows.map(textWidth)) + 14, width * 0.35));
  const widest = Math.max(0, ...cells.map((c) => (c.value === null ? 0 : textWidth(format(c.value)))));
  const cellW = Math.max(44, Math.ceil(widest + 12), Math.floor((width - rowLabelW) / Math.max(1, cols.length)));
  const colLines = cols.map((c) => wrap(c, cellW - 6));
  const headH = Math.max(...colLines.map((l) => l.length), 1) * (FONT + 3) + 10;
  const rowLines = rows.map((r) => wrap(r, rowLabelW - 14));
  const cellH = Math.max(26, ...rowLines.map((l) => l.length * (FONT + 3) + 8));
  const fullW = rowLabelW + cellW * cols.length;
  const height = headH + cellH * rows.length + 4;
  const values = cells.map((c) => c.value).filter((v): v is number => v !== null);
  const lo = Math.min(0, ...values);
  const hi = Math.max(1e-9, ...values);
  const byKey = new Map(cells.map((c) => [`${c.row}\u0000${c.col}`, c.value]));
  return s(
    'svg',
    { class: 'chart heatmap', viewBox: `0 0 ${fullW} ${height}`, width: fullW, role: 'img', 'aria-label': t('chart.heatLabel', { title }), preserveAspectRatio: 'xMinYMin meet' },
    s('title', null, t('chart.heatLabel', { title })),
    cols.map((_, j) => label(colLines[j]!, rowLabelW + j * cellW + cellW / 2, headH / 2, { class: 'col-label', 'text-anchor': 'middle' })),
    rows.map((r, i) => {
      const y = headH + i * cellH;
      return s(
        'g',
        { class: 'heat-row' },
        label(rowLines[i]!, rowLabelW - 8, y + cellH / 2, { class: 'bar-label', 'text-anchor': 'end' }),
        cols.map((c, j) => {
          const v = byKey.get(`${r}\u0000${c}`) ?? null;
          const x = rowLabelW + j * cellW;
          const share = v === null ? 0 : (v - lo) / (hi - lo);
          return s(
            'g',
            null,
            s('rect', { x: x + 1, y: y + 1, width: cellW - 2, height: cellH - 2, rx: 2, class: v === null ? 'cell empty' : 'cell', 'fill-opacity': v === null ? null : (0.12 + 0.88 * share).toFixed(3) }, s('title', null, `${r} · ${c}: ${v === null ? '—' : format(v)}`)),
            s('text', { x: x + cellW / 2, y: y + cellH / 2, class: share > 0.55 ? 'cell-value dark' : 'cell-value', 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, v === null ? '—' : format(v)),
          );
        }),
      );
    }),
  );
}
