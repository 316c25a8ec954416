import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { type Column, DatasetSchema, type Level, type Tag } from '../../contracts/dataset/schema.js';
import type { SectorSlug } from '../../contracts/dataset/sectors.js';
import { DomainError } from '../../contracts/errors.js';
import { PiiScanner } from '../pii/scan.js';

/**
 * A first draft of a dataset schema from a CSV sample, for the owner to edit (issue 6: "describe
 * schema"): types from the values (numbers → measures, few distinct texts → dimensions, all-distinct texts → the identifier), bounds from the sample (widened
 * to round numbers), levels and tags from the PII scan. A draft, never a decision: the owner reviews it.
 */

export interface DescribeOptions {
  sector: SectorSlug;
  /** rows sampled (default 10,000) */
  maxRows?: number;
  /** a text column with at most this many distinct values becomes a dimension (default 64) */
  maxCategories?: number;
}

const INT = /^-?\d{1,15}$/;
const DEC = /^-?\d{1,15}\.(\d{1,6})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Rounds a bound outwards to a "round" number so a sample's extremes do not become the declared limits. */
function roundOut(x: number, up: boolean): number {
  if (x === 0) return 0;
  const mag = 10 ** Math.max(0, Math.floor(Math.log10(Math.abs(x))));
  return (up ? Math.ceil(x / mag) : Math.floor(x / mag)) * mag;
}

export async function describeCsv(file: string, opts: DescribeOptions): Promise<{ schema: DatasetSchema; rowsSampled: number }> {
  const maxRows = opts.maxRows ?? 10_000;
  const maxCats = opts.maxCategories ?? 64;
  const parser = createReadStream(file).pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: true }));
  let header: string[] | undefined;
  let cols: { ints: boolean; decs: number; dates: boolean; nonEmpty: number; min: number; max: number; distinct: Set<string>; all: Set<string> }[] = [];
  let pii: PiiScanner | undefined;
  let rows = 0;
  for await (const record of parser as AsyncIterable<string[]>) {
    if (!header) {
      header = record.map((h) => h.trim());
      cols = header.map(() => ({ ints: true, decs: 0, dates: true, nonEmpty: 0, min: Infinity, max: -Infinity, distinct: new Set<string>(), all: new Set<string>() }));
      pii = new PiiScanner(header, { maxRows });
      continue;
    }
    pii!.addRow(record);
    record.forEach((raw, i) => {
      const c = cols[i];
      const v = raw.trim();
      if (!c || v === '') return;
      c.nonEmpty++;
      if (c.distinct.size <= maxCats) c.distinct.add(v);
      c.all.add(v);
      const dec = DEC.exec(v);
      if (!INT.test(v)) c.ints = false;
      if (dec) c.decs = Math.max(c.decs, dec[1]!.length);
      if (INT.test(v) || dec) {
        const n = Number(v);
        c.min = Math.min(c.min, n);
        c.max = Math.max(c.max, n);
      } else c.decs = -1;
      if (!DATE.test(v)) c.dates = false;
    });
    if (++rows >= maxRows) break;
  }
  parser.destroy();
  if (!header) throw new DomainError('csv-empty', 'the CSV has no header row');
  const report = pii!.report();
  const columns: Column[] = header.map((name, i) => {
    const c = cols[i]!;
    const found = report.columns[i]!;
    const level: Level = found.suggestedLevel ?? 2;
    const tags: Tag[] = found.suggestedTags;
    const numeric = c.nonEmpty > 0 && c.decs >= 0 && (c.ints || c.decs > 0);
    let col: Record<string, unknown>;
    // every value distinct (and enough of them to tell): a key, never output
    const unique = c.nonEmpty >= 20 && c.all.size === c.nonEmpty;
    if (found.suggestedRole === 'identifier' || (!numeric && unique)) {
      col = { name, type: 'identifier', role: 'identifier' };
    } else if (numeric) {
      col = { name, type: c.ints ? 'int' : `decimal(${c.decs})`, role: 'measure', bounds: [roundOut(c.min, false), roundOut(c.max, true)] };
    } else if (c.dates && c.nonEmpty > 0) {
      col = { name, type: 'date', role: 'attribute' };
    } else if (c.nonEmpty > 0 && c.distinct.size <= maxCats) {
      col = { name, type: 'category', role: 'dimension', values: [...c.distinct].sort() };
    } else {
      col = { name, type: 'text', role: 'attribute' };
    }
    return { ...col, level, tags } as Column;
  });
  // at most one identifier column: keep the first, demote the rest to text attributes
  let seenId = false;
  for (const c of columns) {
    if (c.role !== 'identifier') continue;
    if (seenId) Object.assign(c, { role: 'attribute', type: 'text' });
    seenId = true;
  }
  const parsed = DatasetSchema.safeParse({ sector: opts.sector, columns });
  if (!parsed.success) throw new DomainError('schema-draft-invalid', `cannot draft a schema: ${parsed.error.issues[0]?.message}`);
  return { schema: parsed.data, rowsSampled: rows };
}
