import type { Readable } from 'node:stream';
import { type Column, DatasetSchema, type Level, type Tag } from '../../contracts/dataset/schema.js';
import type { SectorSlug } from '../../contracts/dataset/sectors.js';
import { DomainError } from '../../contracts/errors.js';
import { CsvBytes } from '../dataset/csv-bytes.js';
import { badByteAtParseError, badByteField, byteIssue, guardedRecords } from '../dataset/csv-check.js';
import { PII_SUGGESTIONS, type PiiKind } from '../pii/detectors.js';
import { PiiScanner } from '../pii/scan.js';

/**
 * A first draft of a dataset schema from a CSV sample, for the owner to edit: types from the values (numbers →
 * measures, few distinct texts → dimensions, all-distinct texts → the identifier), levels and tags from the PII
 * scan. The schema is published with the dataset, so the draft must not publish the data: measure bounds are
 * coarse (they do not place the extremes), dimension values held by fewer than `minPeople` people are not
 * listed, and a column of phone, ID or card numbers or e-mail addresses is never a measure or a dimension.
 * A draft, never a decision: the warnings say what to review.
 */

export interface DescribeOptions {
  sector: SectorSlug;
  /** rows sampled (default 10,000) */
  maxRows?: number;
  /** a text column with at most this many distinct values becomes a dimension (default 64) */
  maxCategories?: number;
  /**
   * a dimension value held by fewer people than this is not listed (default 5). People: distinct identifiers
   * when the draft has an identifier column, else rows.
   */
  minPeople?: number;
}

export interface DescribeResult {
  schema: DatasetSchema;
  rowsSampled: number;
  /** what the owner must review or change before sealing, one line each (never a value of the data) */
  warnings: string[];
}

/** The value rare dimension values are to be merged into. */
export const OTHER_VALUE = 'other';

const INT = /^-?\d{1,15}$/;
const DEC = /^-?\d{1,15}\.(\d{1,6})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The smallest power of ten strictly above x > 0 (as the double nearest to it: 1e-2, not 10 ** -2). */
export function powerOfTenAbove(x: number): number {
  let e = Math.floor(Math.log10(x));
  while (Number(`1e${e}`) > x) e--;
  while (Number(`1e${e}`) <= x) e++;
  return Number(`1e${e}`);
}

/**
 * Declared bounds that cover the sample without placing its extremes: 0 below when nothing is negative, else
 * minus the power of ten above |min|; the power of ten above max (0 when nothing is positive). Only the
 * order of magnitude of an extreme shows, never where in it the largest value sits.
 */
export function coarseBounds(min: number, max: number): [number, number] {
  const lo = min >= 0 ? 0 : -powerOfTenAbove(-min);
  let hi = max > 0 ? powerOfTenAbove(max) : 0;
  if (hi === lo) hi = 1;
  return [lo, hi];
}

/** The smallest value of a column of all-distinct whole numbers that is drafted as a key, not a measure (nine digits). */
const KEY_NUMBER_MIN = 100_000_000;

/** PII kinds that make a column a direct identifier of people: never a measure, never a dimension. */
const DIRECT_IDENTIFIERS: readonly PiiKind[] = ['cn-resident-id', 'cn-mobile', 'bank-card', 'email'];

interface ColumnSample {
  ints: boolean;
  decs: number;
  dates: boolean;
  nonEmpty: number;
  min: number;
  max: number;
  /** value → rows holding it, while there are at most maxCategories + 1 values */
  rowsByValue: Map<string, number[]> | undefined;
  all: Set<string>;
}

export async function describeCsv(input: string | Readable, opts: DescribeOptions): Promise<DescribeResult> {
  const maxRows = opts.maxRows ?? 10_000;
  const maxCats = opts.maxCategories ?? 64;
  const minPeople = opts.minPeople ?? 5;
  if (!Number.isSafeInteger(minPeople) || minPeople < 1) throw new DomainError('describe-options', 'minPeople must be a positive integer');
  let header: string[] | undefined;
  let cols: ColumnSample[] = [];
  let pii: PiiScanner | undefined;
  const rows: string[][] = [];
  /** data rows (1-based, as `owner check` numbers them) whose field count is not the header's */
  const ragged: number[] = [];
  const bytes = new CsvBytes();
  const refuse = (row: number, field: number): never => {
    throw new DomainError('csv-invalid', `cannot describe the CSV: ${byteIssue(bytes.problem!, row, field, header ?? []).message}`);
  };
  try {
    for await (const record of guardedRecords(input, bytes)) {
      if (bytes.problem && badByteField(record) !== -1) refuse(header ? rows.length + 1 : 0, badByteField(record));
      if (!header) {
        header = record.map((h) => h.trim());
        cols = header.map(() => ({ ints: true, decs: 0, dates: true, nonEmpty: 0, min: Infinity, max: -Infinity, rowsByValue: new Map(), all: new Set<string>() }));
        pii = new PiiScanner(header, { maxRows });
        continue;
      }
      const r = rows.length;
      if (record.length !== header.length) ragged.push(r + 1);
      rows.push(record);
      pii!.addRow(record);
      record.forEach((raw, i) => {
        const c = cols[i];
        const v = raw.trim();
        if (!c || v === '') return;
        c.nonEmpty++;
        if (c.rowsByValue) {
          const at = c.rowsByValue.get(v);
          if (at) at.push(r);
          else if (c.rowsByValue.size <= maxCats) c.rowsByValue.set(v, [r]);
          else c.rowsByValue = undefined;
        }
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
      if (rows.length >= maxRows) break;
    }
  } catch (e) {
    const at = bytes.problem ? badByteAtParseError(e, 0) : undefined;
    if (at) refuse(at.row, at.field);
    throw e;
  }
  if (!header) throw new DomainError('csv-empty', 'the CSV has no header row');
  const report = pii!.report();
  const warnings: string[] = [];
  // a draft, not a check: still drafted from the fields there are, but said, since `owner check` refuses such rows
  if (ragged.length) warnings.push(`${ragged.length} row(s) have another number of fields than the header's ${header.length} (the first: row ${ragged[0]}): \`owner check\` refuses them; fix the CSV before sealing`);
  const measures: string[] = [];
  const directColumns: [number, PiiKind[]][] = [];
  const keyNumbers: string[] = [];
  const columns: Column[] = header.map((name, i) => {
    const c = cols[i]!;
    const found = report.columns[i]!;
    const level: Level = found.suggestedLevel ?? 2;
    const tags: Tag[] = found.suggestedTags;
    const numeric = c.nonEmpty > 0 && c.decs >= 0 && (c.ints || c.decs > 0);
    // every value distinct (and enough of them to tell): a key, never output
    const unique = c.nonEmpty >= 20 && c.all.size === c.nonEmpty;
    const direct = found.kinds.filter((k) => DIRECT_IDENTIFIERS.includes(k));
    let col: Record<string, unknown>;
    if (direct.length > 0) {
      // phone, ID and card numbers look like numbers or categories; they are people, and published bounds or
      // value lists would name them
      const asId = found.suggestedRole === 'identifier' || unique;
      col = asId ? { name, type: 'identifier', role: 'identifier' } : { name, type: 'text', role: 'attribute' };
      directColumns.push([i, direct]);
    } else if (found.suggestedRole === 'identifier' || (!numeric && unique)) {
      col = { name, type: 'identifier', role: 'identifier' };
    } else if (numeric && c.ints && unique && c.min >= KEY_NUMBER_MIN) {
      // all-distinct long whole numbers are keys — customer numbers, or 15-digit ID numbers, which carry no check
      // digit for the PII scan to find: as a measure their magnitude would be published and their sum mean nothing
      col = { name, type: 'identifier', role: 'identifier' };
      keyNumbers.push(name);
    } else if (numeric) {
      col = { name, type: c.ints ? 'int' : `decimal(${c.decs})`, role: 'measure', bounds: coarseBounds(c.min, c.max) };
      measures.push(name);
    } else if (c.dates && c.nonEmpty > 0) {
      col = { name, type: 'date', role: 'attribute' };
    } else if (c.nonEmpty > 0 && c.rowsByValue && c.rowsByValue.size <= maxCats) {
      col = { name, type: 'category', role: 'dimension', values: [...c.rowsByValue.keys()].sort() };
    } else {
      col = { name, type: 'text', role: 'attribute' };
    }
    return { ...col, level, tags } as Column;
  });
  // at most one identifier column: keep the first, demote the rest to text attributes
  let idIndex = -1;
  columns.forEach((c, i) => {
    if (c.role !== 'identifier') return;
    if (idIndex !== -1) Object.assign(c, { role: 'attribute', type: 'text' });
    else idIndex = i;
  });
  for (const [i, kinds] of directColumns) {
    const c = columns[i]!;
    warnings.push(
      `column ${c.name} holds ${kinds.map((k) => PII_SUGGESTIONS[k].label).join(' and ')}: drafted as ${c.role === 'identifier' ? 'the identifier' : 'a text attribute'} at level ${c.level}, never as a measure or dimension; check it is needed at all`,
    );
  }
  for (const name of keyNumbers) {
    const c = columns.find((x) => x.name === name)!;
    warnings.push(`column ${name}: every value is a distinct whole number of nine or more digits — a key or an ID number: drafted as ${c.role === 'identifier' ? 'the identifier' : 'a text attribute'}, never as a measure; check it is needed at all`);
  }
  if (measures.length) {
    warnings.push(
      `measure bounds (${measures.join(', ')}) are drafted coarse — 0, or a power of ten beyond the sample's extremes — so that the published schema does not place them; review them: values outside are refused, and DP noise grows with the width`,
    );
  }
  columns.forEach((c, i) => {
    if (c.role !== 'dimension') return;
    const rare = rareValues(cols[i]!.rowsByValue!, rows, idIndex, minPeople);
    if (rare.values.length === 0) return;
    const common = c.values!.filter((v) => !rare.values.includes(v));
    const who = idIndex === -1 ? 'rows' : `distinct ${columns[idIndex]!.name} values`;
    if (common.filter((v) => v !== OTHER_VALUE).length === 0) {
      Object.assign(c, { role: 'attribute', type: 'text' });
      delete (c as { values?: unknown }).values;
      c.description = `draft: every value is held by fewer than ${minPeople} people; not a dimension`;
      warnings.push(`column ${c.name}: every value is held by fewer than ${minPeople} ${who}: drafted as a text attribute, not a dimension`);
      return;
    }
    c.values = [...new Set([...common, OTHER_VALUE])].sort();
    c.description = `draft: ${rare.values.length} value(s) held by fewer than ${minPeople} people are not listed; merge them into "${OTHER_VALUE}" in the CSV before sealing`;
    warnings.push(
      `column ${c.name}: ${rare.values.length} value(s) are held by fewer than ${minPeople} ${who} and are not listed (a published value list would show them): ` +
        `merge them into "${OTHER_VALUE}" in the CSV (owner check names the rows)` +
        (rare.people < minPeople ? `; merged they still hold fewer than ${minPeople}: drop those rows or the column` : ''),
    );
  });
  const parsed = DatasetSchema.safeParse({ sector: opts.sector, columns });
  if (!parsed.success) throw new DomainError('schema-draft-invalid', `cannot draft a schema: ${parsed.error.issues[0]?.message}`);
  return { schema: parsed.data, rowsSampled: rows.length, warnings };
}

/** The dimension values held by fewer than `k` people, and how many people hold any of them. */
function rareValues(rowsByValue: Map<string, number[]>, rows: string[][], idIndex: number, k: number): { values: string[]; people: number } {
  const peopleOf = (at: number[]): Set<string> => {
    const ids = new Set<string>();
    for (const r of at) {
      const id = idIndex === -1 ? String(r) : rows[r]![idIndex]?.trim();
      if (id) ids.add(id);
    }
    return ids;
  };
  const values: string[] = [];
  const all = new Set<string>();
  for (const [value, at] of rowsByValue) {
    const people = peopleOf(at);
    if (people.size >= k) continue;
    values.push(value);
    for (const p of people) all.add(p);
  }
  return { values, people: all.size };
}
