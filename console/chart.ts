/**
 * A horizontal bar chart as inline SVG (no chart library to bundle, no external fonts): one bar per
 * result row, value labels at the bar ends, scaled to the largest absolute value. Accessible as an
 * image with a title; the same numbers are in the result table next to it.
 */
import { s } from './dom.js';
import { num, t } from './i18n.js';

export interface BarDatum {
  label: string;
  value: number;
}

/** `width` is the pixel width it will be shown at, so text keeps its size on phones and desktops alike. */
export function barChart(title: string, data: BarDatum[], width = 560): SVGSVGElement {
  const rowH = 28;
  const labelW = Math.round(Math.min(130, width * 0.3));
  const valueW = 64;
  const top = 8;
  const height = top * 2 + Math.max(1, data.length) * rowH;
  const plotW = width - labelW - valueW;
  const max = Math.max(1e-9, ...data.map((d) => Math.abs(d.value)));
  const svg = s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('chart.label', { title }), preserveAspectRatio: 'xMinYMin meet' },
    s('title', null, t('chart.label', { title })),
    s('line', { x1: labelW, x2: labelW, y1: 0, y2: height, class: 'axis' }),
    data.map((d, i) => {
      const y = top + i * rowH;
      const w = Math.max(1, (Math.abs(d.value) / max) * plotW);
      const label = d.label.length > 10 ? `${d.label.slice(0, 9)}…` : d.label;
      return s(
        'g',
        { class: 'bar-row' },
        s('text', { x: labelW - 8, y: y + rowH / 2, class: 'bar-label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, label, s('title', null, d.label)),
        s('rect', { x: labelW, y: y + 4, width: w.toFixed(1), height: rowH - 8, rx: 3, class: d.value < 0 ? 'bar negative' : 'bar' }),
        s('text', { x: labelW + w + 6, y: y + rowH / 2, class: 'bar-value', 'dominant-baseline': 'middle' }, num(d.value)),
      );
    }),
  );
  return svg;
}
