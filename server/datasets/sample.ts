import { randomInt } from 'node:crypto';
import { scaleOf, type DatasetSchema, type Column } from '../../contracts/dataset/schema.js';

/**
 * A GENERATED sample that follows a dataset's schema: the server never holds plaintext rows, so a sample
 * is drawn from the declared types, bounds and dimension values only — it shows a buyer the shape of the
 * data and can never contain a real row. Identifiers and free text are obviously synthetic.
 */
export function generateSample(schema: DatasetSchema, rows: number): { columns: string[]; rows: (string | number | null)[][] } {
  const out: (string | number | null)[][] = [];
  for (let i = 0; i < rows; i++) out.push(schema.columns.map((c) => sampleValue(c, i)));
  return { columns: schema.columns.map((c) => c.name), rows: out };
}

function sampleValue(c: Column, i: number): string | number | null {
  if (c.role === 'dimension' && c.values) return c.values[randomInt(c.values.length)]!;
  if (c.role === 'measure' && c.bounds) {
    const scale = scaleOf(c.type);
    const f = 10 ** scale;
    const lo = Math.ceil(c.bounds[0] * f);
    const hi = Math.floor(c.bounds[1] * f);
    const v = hi > lo ? lo + randomInt(Math.min(hi - lo, 2 ** 47)) : lo;
    return Number((v / f).toFixed(scale));
  }
  if (c.type === 'date') {
    const d = new Date(Date.UTC(2024, 0, 1) + randomInt(366) * 86_400_000);
    return d.toISOString().slice(0, 10);
  }
  if (c.role === 'identifier') return `SAMPLE-${String(i + 1).padStart(6, '0')}`;
  if (c.type === 'int') return randomInt(1000);
  if (c.type.startsWith('decimal')) return Number((randomInt(100_000) / 100).toFixed(2));
  return `synthetic-${c.name}-${i + 1}`;
}
