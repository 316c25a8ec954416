import { createReadStream } from 'node:fs';
import { type Readable, pipeline } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { type Column, type DatasetSchema, scaleOf } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { fixedBounds, parseFixed, parseFixedNumber } from '../../he/layout.js';
import { BAD_BYTE_MARK, type ByteProblem, CsvBytes, describeByteProblem, guardBytes } from './csv-bytes.js';

/**
 * Validation of an owner's CSV against its declared schema, on the owner's machine. Streaming
 * (csv-parse), row- and column-precise messages, stops collecting after `maxErrors`. The same row validator
 * is what the sealer uses, so a CSV that checks clean is exactly a CSV that seals.
 *
 * Rows are numbered from 1 for the first data row (the header is row 0).
 */

export interface CsvIssue {
  row: number;
  column?: string;
  message: string;
}

export interface ColumnStats {
  empty: number;
  min?: number;
  max?: number;
  /** distinct values seen, for dimensions (bounded by the declared value list) */
  distinct?: number;
}

export interface CsvCheckResult {
  ok: boolean;
  rows: number;
  errors: CsvIssue[];
  /** true when more errors exist than were collected */
  truncated: boolean;
  stats: Record<string, ColumnStats>;
}

export type RowValue = string | number | null;

/** One parsed value: the row-chunk value and, for measures and dimensions, the HE encoding. */
export interface ParsedRow {
  values: RowValue[];
  /**
   * fixed-point integer per measure, in schema order of measures: a number when the measure's declared
   * bounds lie within ±2^53 (exact there, and no BigInt per value), a bigint otherwise
   */
  measures: (number | bigint)[];
  /** code per dimension with declared values, in schema order of those dimensions */
  codes: number[];
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
function isDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

const INT = /^[+-]?\d{1,15}$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** INT.test(s) ? Number(s) : null, by character code (at most 15 digits: always exact). */
function parseIntNumber(s: string): number | null {
  const n = s.length;
  let i = 0;
  const sign = s.charCodeAt(0);
  if (sign === 43 || sign === 45) i = 1; // + -
  if (n - i < 1 || n - i > 15) return null;
  let v = 0;
  for (; i < n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return sign === 45 ? -v : v;
}

const show = (s: string): string => (s.length > 40 ? `'${s.slice(0, 40)}…'` : `'${s}'`);

/** Compiled per-column checks for one schema. */
export class RowValidator {
  private readonly checks: ((raw: string, row: number, out: ParsedRow, issues: CsvIssue[]) => void)[];

  constructor(readonly schema: DatasetSchema) {
    this.checks = schema.columns.map((c) => this.compile(c));
  }

  /** Header must name exactly the schema's columns, in order. */
  checkHeader(header: string[]): CsvIssue[] {
    const want = this.schema.columns.map((c) => c.name);
    const got = header.map((h) => h.trim());
    const issues: CsvIssue[] = [];
    const missing = want.filter((w) => !got.includes(w));
    const extra = got.filter((g) => !want.includes(g));
    if (missing.length) issues.push({ row: 0, message: `header lacks column(s) ${missing.join(', ')}` });
    if (extra.length) issues.push({ row: 0, message: `header has column(s) not in the schema: ${extra.join(', ')}` });
    if (!missing.length && !extra.length && want.some((w, i) => got[i] !== w)) {
      issues.push({ row: 0, message: `header columns must be in schema order: ${want.join(', ')}` });
    }
    return issues;
  }

  parseRow(record: string[], row: number, issues: CsvIssue[]): ParsedRow | null {
    return this.parseInto(record, row, issues, { values: new Array(record.length), measures: [], codes: [] });
  }

  private readonly scratch: ParsedRow = { values: [], measures: [], codes: [] };
  /**
   * parseRow for the sealer's hot loop: the record array itself becomes `values` (its strings replaced by the
   * typed values), and `measures`/`codes` are arrays reused by the next call — copy what you keep.
   */
  parseRowInPlace(record: string[], row: number, issues: CsvIssue[]): ParsedRow | null {
    const out = this.scratch;
    out.values = record;
    out.measures.length = 0;
    out.codes.length = 0;
    return this.parseInto(record, row, issues, out);
  }

  private parseInto(record: string[], row: number, issues: CsvIssue[], out: ParsedRow): ParsedRow | null {
    if (record.length !== this.checks.length) {
      issues.push({ row, message: `has ${record.length} fields, the schema has ${this.checks.length} columns` });
      return null;
    }
    const before = issues.length;
    for (let i = 0; i < this.checks.length; i++) this.checks[i]!(record[i]!, row, out, issues);
    return issues.length === before ? out : null;
  }

  private compile(c: Column): (raw: string, row: number, out: ParsedRow, issues: CsvIssue[]) => void {
    const idx = this.schema.columns.indexOf(c);
    const fail = (issues: CsvIssue[], row: number, message: string) => issues.push({ row, column: c.name, message: `row ${row}, column ${c.name}: ${message}` });
    const required = c.role === 'measure' || c.role === 'dimension' || c.role === 'identifier';
    if (c.role === 'measure') {
      const scale = scaleOf(c.type);
      const [lo, hi] = fixedBounds(c);
      const typeName = c.type === 'int' ? 'an int' : `a ${c.type}`;
      // bounds within ±2^53: every in-bounds value is an exact Number, and an out-of-bounds one still compares out
      const asNumber = lo >= -MAX_SAFE && hi <= MAX_SAFE;
      const [loN, hiN] = [Number(lo), Number(hi)];
      const isInt = c.type === 'int';
      const unit = 10 ** scale;
      return (raw, row, out, issues) => {
        const s = raw.trim();
        if (s === '') return void fail(issues, row, 'is empty (measures need a value)');
        let v: number | bigint | null;
        if (isInt) v = asNumber ? parseIntNumber(s) : INT.test(s) ? BigInt(s) : null;
        else v = asNumber ? parseFixedNumber(s, scale) : parseFixed(s, scale);
        if (v === null) return void fail(issues, row, `${show(s)} is not ${typeName}`);
        if (asNumber ? v < loN || v > hiN : v < lo || v > hi) return void fail(issues, row, `${show(s)} is outside the declared bounds [${c.bounds![0]}, ${c.bounds![1]}]`);
        // = Number(s): v is exact (within ±2^53) and the division by 10^scale is correctly rounded, as is
        // Number's reading of the decimal text (its digits past the scale are zeros)
        out.values[idx] = asNumber ? (v as number) / unit : Number(s);
        out.measures.push(v);
      };
    }
    if (c.role === 'dimension' && c.values) {
      const codes = new Map(c.values.map((v, i) => [v, i]));
      return (raw, row, out, issues) => {
        const code = codes.get(raw);
        if (code === undefined) {
          return void fail(issues, row, raw === '' ? 'is empty (dimensions need one of their declared values)' : `${show(raw)} is not one of the declared values of ${c.name}`);
        }
        out.values[idx] = raw;
        out.codes.push(code);
      };
    }
    // the column's kind decided once here, not per value
    const kind = c.type === 'int' ? 'int' : c.type.startsWith('decimal') ? 'decimal' : c.type === 'date' ? 'date' : 'text';
    const scale = scaleOf(c.type);
    return (raw, row, out, issues) => {
      if (raw === '') {
        if (required) return void fail(issues, row, 'is empty');
        out.values[idx] = null;
        return;
      }
      if (kind === 'int') {
        if (!INT.test(raw.trim())) return void fail(issues, row, `${show(raw)} is not an int`);
        out.values[idx] = Number(raw);
      } else if (kind === 'decimal') {
        if (parseFixed(raw, scale) === null) return void fail(issues, row, `${show(raw)} is not a ${c.type}`);
        out.values[idx] = Number(raw);
      } else if (kind === 'date') {
        if (!isDate(raw.trim())) return void fail(issues, row, `${show(raw)} is not a date (YYYY-MM-DD)`);
        out.values[idx] = raw.trim();
      } else {
        out.values[idx] = raw;
      }
    };
  }
}

export const openCsv = (input: string | Readable): Readable => (typeof input === 'string' ? createReadStream(input) : input);

/** csv-parse configured the one way Shuyu reads CSV: records as string arrays, BOM stripped, no casting. */
export const CSV_PARSE_OPTIONS = { bom: true, relax_column_count: true, skip_empty_lines: true } as const;
export const csvParser = () => parse(CSV_PARSE_OPTIONS);

/**
 * The records of a CSV input whose bytes pass `check` (csv-bytes.ts): the first offending byte and everything
 * after it are not parsed; a record holding BAD_BYTE_MARK in its field comes last instead (`badByteField`), or
 * a quote left open by the cut makes csv-parse throw (`badByteIssueOfParseError`). A read error (a directory, a
 * file that cannot be opened) rejects the iteration as `bad-input-file`; nothing is left unhandled.
 */
export function guardedRecords(input: string | Readable, check: CsvBytes, onBytes?: (bytes: number) => void): AsyncIterable<string[]> {
  const parser = csvParser();
  pipeline(guardBytes(openCsv(input), check, onBytes), parser, () => undefined);
  const path = typeof input === 'string' ? input : undefined;
  return {
    async *[Symbol.asyncIterator]() {
      try {
        yield* parser as AsyncIterable<string[]>;
      } catch (e) {
        throw readFailure(e, path);
      } finally {
        parser.destroy();
      }
    },
  };
}

/** An error of reading (not of parsing) as the input's problem; csv-parse's own errors stay as they are. */
function readFailure(e: unknown, path: string | undefined): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof CsvError || e instanceof DomainError || typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return e;
  return new DomainError('bad-input-file', `cannot read ${path ?? 'the CSV'}: ${code === 'EISDIR' ? 'it is a directory' : code}`);
}

/** The field index holding the bad-byte mark (-1: none) — only ever looked at once `check.problem` is set. */
export const badByteField = (record: string[]): number => record.findIndex((f) => f.includes(BAD_BYTE_MARK));

/** The issue for an offending byte in data row `row` (0: the header), field `field` (-1: unknown). */
export function byteIssue(problem: ByteProblem, row: number, field: number, names: readonly string[]): CsvIssue {
  const what = describeByteProblem(problem);
  if (row === 0) return { row: 0, message: `header${field >= 0 ? ` field ${field + 1}` : ''}: ${what}; the CSV is read no further` };
  const column = field >= 0 ? (names[field] ?? `#${field + 1}`) : undefined;
  return { row, ...(column ? { column } : {}), message: `row ${row}${column ? `, column ${column}` : ''}: ${what}; the CSV is read no further` };
}

/** csv-parse's refusal of the input cut at an offending byte inside quotes: where it was (row from `firstRow`). */
export function badByteAtParseError(e: unknown, firstRow: number): { row: number; field: number } | undefined {
  if (!(e instanceof CsvError) || e.code !== 'CSV_QUOTE_NOT_CLOSED') return undefined;
  const { records, column } = e as unknown as { records?: number; column?: number };
  return { row: firstRow + (records ?? 0), field: typeof column === 'number' ? column : -1 };
}

/**
 * An offending byte at `at` in `bytes` (whole records from data row `firstRow`; 0: from the file's start, the
 * header first): its row and field, and the records before it (as the streamed reader would have had them).
 */
export function locateBadByte(bytes: Uint8Array, at: number, firstRow: number): { row: number; field: number; before: string[][] } {
  const text = Buffer.concat([bytes.subarray(0, at), Buffer.from(BAD_BYTE_MARK)]);
  try {
    const records = parseCsvSync(text, { ...CSV_PARSE_OPTIONS, bom: firstRow === 0 }) as string[][];
    const i = records.findIndex((r) => badByteField(r) !== -1);
    return i === -1 ? { row: firstRow + records.length, field: -1, before: records } : { row: firstRow + i, field: badByteField(records[i]!), before: records.slice(0, i) };
  } catch (e) {
    return { ...(badByteAtParseError(e, firstRow) ?? { row: firstRow, field: -1 }), before: [] };
  }
}

export async function checkCsv(input: string | Readable, schema: DatasetSchema, opts: { maxErrors?: number; onBytes?: (bytes: number) => void } = {}): Promise<CsvCheckResult> {
  const maxErrors = opts.maxErrors ?? 100;
  const v = new RowValidator(schema);
  const errors: CsvIssue[] = [];
  const stats: Record<string, ColumnStats> = Object.fromEntries(schema.columns.map((c) => [c.name, { empty: 0 }]));
  const seen = schema.columns.map(() => new Set<string>());
  const names = schema.columns.map((c) => c.name);
  let rows = 0;
  let truncated = false;
  let header = true;
  const bytes = new CsvBytes();
  try {
    for await (const record of guardedRecords(input, bytes, opts.onBytes)) {
      if (bytes.problem) {
        const field = badByteField(record);
        if (field !== -1) {
          errors.push(byteIssue(bytes.problem, header ? 0 : rows + 1, field, names));
          header = false;
          break;
        }
      }
      if (header) {
        header = false;
        const hi = v.checkHeader(record);
        if (hi.length) {
          errors.push(...hi);
          break; // nothing below can be read against the wrong columns
        }
        continue;
      }
      rows++;
      const issues: CsvIssue[] = [];
      const parsed = v.parseRow(record, rows, issues);
      if (issues.length) {
        for (const i of issues) {
          if (errors.length < maxErrors) errors.push(i.column ? i : { ...i, message: `row ${i.row}: ${i.message}` });
          else truncated = true;
        }
      }
      if (parsed) {
        schema.columns.forEach((c, i) => {
          const val = parsed.values[i];
          const st = stats[c.name]!;
          if (val === null || val === undefined) st.empty++;
          else if (typeof val === 'number') {
            st.min = st.min === undefined ? val : Math.min(st.min, val);
            st.max = st.max === undefined ? val : Math.max(st.max, val);
          } else if (c.role === 'dimension') seen[i]!.add(val);
        });
      }
    }
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    const at = bytes.problem ? badByteAtParseError(e, 0) : undefined;
    errors.push(at ? byteIssue(bytes.problem!, at.row, at.field, names) : csvParseIssue(e, 0, rows + 1));
    header = false;
  }
  if (header) errors.push({ row: 0, message: 'the CSV is empty (no header)' });
  schema.columns.forEach((c, i) => {
    if (c.role === 'dimension') stats[c.name]!.distinct = seen[i]!.size;
  });
  return { ok: errors.length === 0, rows, errors, truncated, stats };
}

/**
 * What csv-parse refused, as a row-precise issue. `firstRow`: the data row number of the parsed input's first
 * record (0 when that is the header); `rowIfUnknown` for errors that are not csv-parse's (a failed read).
 * csv-parse's "at line N" is dropped: in a segment of a split file it counts from the segment's start.
 */
export function csvParseIssue(e: unknown, firstRow: number, rowIfUnknown: number): CsvIssue {
  const records = (e as { records?: unknown } | null)?.records;
  const row = typeof records === 'number' ? firstRow + records : rowIfUnknown;
  const reason = (e instanceof Error ? e.message : String(e)).replace(/ at line \d+/, '');
  return { row, message: `CSV cannot be parsed near row ${row}: ${reason}` };
}

/** What a sealing path throws for an error of its parse: csv-parse's refusal as csv-invalid naming its row, anything else as it is. */
export const csvParseFailure = (e: unknown, firstRow: number): unknown =>
  e instanceof CsvError ? csvInvalid({ errors: [csvParseIssue(e, firstRow, firstRow)], truncated: false }) : e;

export function csvInvalid(result: Pick<CsvCheckResult, 'errors' | 'truncated'>): DomainError {
  const first = result.errors.slice(0, 5).map((e) => e.message).join('; ');
  return new DomainError('csv-invalid', `the CSV does not match its schema: ${first}${result.errors.length > 5 || result.truncated ? ' …' : ''}`, {
    errors: result.errors,
    truncated: result.truncated,
  });
}
