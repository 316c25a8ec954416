import { createReadStream } from 'node:fs';
import { type Readable, pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import { type DatasetSchema, type Level, type Tag, TAGS, columnByName } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { PII_KINDS, PII_SUGGESTIONS, type PiiKind, inspectCell } from './detectors.js';

/**
 * Per-column PII scan of a CSV sample, run on the owner's machine before anything is sealed or sent.
 * Reports counts and ratios only — never the values themselves, so the report can be printed and logged.
 */

export interface PiiScanOptions {
  /** Stop after this many data rows (default 10,000): a sample is enough to classify a column. */
  maxRows?: number;
  /**
   * Bank-card candidates are flagged only when at least this share of them pass Luhn (default 0.5):
   * one in ten random digit strings passes Luhn, so a column of order numbers stays unflagged while a
   * column of cards (or a comment holding one card) is flagged. Other kinds are flagged on any hit —
   * their validators (dates, MOD 11-2, numbering plan) rarely pass by chance.
   */
  minCardRatio?: number;
}

export interface ColumnPiiFinding {
  column: string;
  /** non-empty values scanned */
  values: number;
  /** values holding at least one valid value of the kind */
  hits: Partial<Record<PiiKind, number>>;
  /** hits / values, rounded to 4 decimals */
  ratios: Partial<Record<PiiKind, number>>;
  /** the kinds this column is flagged for */
  kinds: PiiKind[];
  /** null when nothing was flagged */
  suggestedLevel: Level | null;
  suggestedTags: Tag[];
  /** a column that is (almost) entirely ID numbers is an identifier: never output, join/verify key only */
  suggestedRole?: 'identifier';
  /** set when a schema was given and it declares less than suggested */
  underDeclared?: { declaredLevel: Level; missingTags: Tag[]; message: string };
}

export interface PiiReport {
  rowsScanned: number;
  columns: ColumnPiiFinding[];
  /** names of the flagged columns, in column order */
  flagged: string[];
  /** highest suggested level over the flagged columns, null when none */
  suggestedLevel: Level | null;
  /** one line per under-declared column */
  warnings: string[];
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** Accumulates rows; call `report()` at the end. Usable on any row source (CSV, generated data, tests). */
export class PiiScanner {
  private readonly values: number[];
  private readonly valid: Array<Record<PiiKind, number>>;
  private readonly shaped: Array<Record<PiiKind, number>>;
  private rows = 0;

  constructor(
    readonly columns: readonly string[],
    private readonly opts: PiiScanOptions = {},
  ) {
    const zero = (): Record<PiiKind, number> => ({ 'cn-resident-id': 0, 'bank-card': 0, 'cn-mobile': 0, email: 0 });
    this.values = columns.map(() => 0);
    this.valid = columns.map(zero);
    this.shaped = columns.map(zero);
  }

  get rowsScanned(): number {
    return this.rows;
  }

  get full(): boolean {
    return this.rows >= (this.opts.maxRows ?? 10_000);
  }

  addRow(cells: readonly (string | number | null | undefined)[]): void {
    this.rows++;
    for (let i = 0; i < this.columns.length; i++) {
      const cell = cells[i];
      if (cell === null || cell === undefined) continue;
      const text = String(cell);
      if (text.trim() === '') continue;
      this.values[i]!++;
      const f = inspectCell(text);
      for (const k of f.shaped) this.shaped[i]![k]++;
      for (const k of f.valid) this.valid[i]![k]++;
    }
  }

  report(schema?: DatasetSchema): PiiReport {
    const minCardRatio = this.opts.minCardRatio ?? 0.5;
    const columns = this.columns.map((column, i): ColumnPiiFinding => {
      const values = this.values[i]!;
      const hits: ColumnPiiFinding['hits'] = {};
      const ratios: ColumnPiiFinding['ratios'] = {};
      const kinds: PiiKind[] = [];
      for (const k of PII_KINDS) {
        const n = this.valid[i]![k];
        if (n === 0) continue;
        hits[k] = n;
        ratios[k] = round4(n / values);
        const flagged = k === 'bank-card' ? n / this.shaped[i]![k] >= minCardRatio : true;
        if (flagged) kinds.push(k);
      }
      const finding: ColumnPiiFinding = { column, values, hits, ratios, kinds, suggestedLevel: null, suggestedTags: [] };
      if (kinds.length > 0) {
        finding.suggestedLevel = Math.max(...kinds.map((k) => PII_SUGGESTIONS[k].level)) as Level;
        const tags = new Set(kinds.flatMap((k) => PII_SUGGESTIONS[k].tags));
        finding.suggestedTags = TAGS.filter((t) => tags.has(t));
        if ((ratios['cn-resident-id'] ?? 0) >= 0.9) finding.suggestedRole = 'identifier';
        const declared = schema ? columnByName(schema, column) : undefined;
        if (declared) {
          const missingTags = finding.suggestedTags.filter((t) => !declared.tags.includes(t));
          if (declared.level < finding.suggestedLevel || missingTags.length > 0) {
            const what = kinds.map((k) => `${PII_SUGGESTIONS[k].label} in ${pct(ratios[k]!)} of ${values} values`);
            finding.underDeclared = {
              declaredLevel: declared.level,
              missingTags,
              message:
                `column ${column} holds ${what.join(' and ')}: declared level ${declared.level}` +
                (declared.tags.length ? ` with tags ${declared.tags.join(', ')}` : ' without tags') +
                `; suggest level ≥ ${finding.suggestedLevel} and tags ${finding.suggestedTags.join(', ')}`,
            };
          }
        }
      }
      return finding;
    });
    const flagged = columns.filter((c) => c.kinds.length > 0);
    return {
      rowsScanned: this.rows,
      columns,
      flagged: flagged.map((c) => c.column),
      suggestedLevel: flagged.length ? (Math.max(...flagged.map((c) => c.suggestedLevel!)) as Level) : null,
      warnings: flagged.flatMap((c) => (c.underDeclared ? [c.underDeclared.message] : [])),
    };
  }
}

const pct = (r: number): string => `${round4(r * 100)}%`;

/** Scans the first `maxRows` rows of a CSV stream (header row required). */
export async function scanCsvStream(input: Readable, opts: PiiScanOptions & { schema?: DatasetSchema } = {}): Promise<PiiReport> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true });
  // pipeline, not pipe: a read error (a directory, a file that cannot be opened) must reach the loop below
  pipeline(input, parser, () => undefined);
  let scanner: PiiScanner | undefined;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!scanner) {
        scanner = new PiiScanner(record.map((h) => h.trim()), opts);
        continue;
      }
      scanner.addRow(record);
      if (scanner.full) break;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) throw new DomainError('bad-input-file', `cannot read the CSV: ${code}`);
    throw new DomainError('csv-unreadable', `cannot parse the CSV: ${(e as Error).message}`);
  } finally {
    parser.destroy();
    input.destroy();
  }
  if (!scanner) throw new DomainError('csv-empty', 'the CSV has no header row');
  return scanner.report(opts.schema);
}

export function scanCsvFile(path: string, opts: PiiScanOptions & { schema?: DatasetSchema } = {}): Promise<PiiReport> {
  return scanCsvStream(createReadStream(path), opts);
}
