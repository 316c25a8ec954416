import { DomainError } from '../../contracts/errors.js';
import {
  type ColumnarRowChunk,
  columnarRows,
  decodeRowChunkV2,
  isNullAt,
  openRowChunkBox,
  openRowChunkBytes,
  parseRowChunkV1,
  type RowChunkColumn,
  type RowChunkFormat,
  rowChunkFormat,
  wipeColumnarRowChunk,
} from '../../formats/row-chunk.js';
import type { SandboxJob } from './protocol.js';

/**
 * One sealed row chunk opened, checked value by value and laid out for binding into SQLite: the sandbox's
 * unseal stage. A v2 chunk's typed columns (formats/row-chunk.ts decodes them) go straight into the slots; a
 * v1 chunk (older bundles) is read by JSON.parse and its values checked one by one. It runs in the sandbox's unseal helper thread (or in the sandbox worker itself) and hands
 * the loader flat typed arrays (transferable, no per-value JS objects on the loading thread).
 *
 * Slot `row * columns.length + j` holds the value of loaded column j:
 *   len ≥ 0  — a text value of that many UTF-8 bytes, next in `text` (rows in order)
 *   len = −1 — NULL
 *   len = −2 — the number `num[slot]` (numeric columns: finite, clamped to the schema bounds)
 */
export interface EncodedChunk {
  rows: number;
  len: Int32Array;
  num: Float64Array;
  text: Uint8Array;
}

export const NULL_SLOT = -1;
export const NUMBER_SLOT = -2;

type LoadColumn = SandboxJob['columns'][number];

const invalid = (message: string): DomainError => new DomainError('row-chunk-invalid', message);

type SealedChunk = { dataKey: Uint8Array; box: Uint8Array; aad: Uint8Array };

/**
 * Open chunk `index` (formats/row-chunk.ts, the one opener; its data key is zeroed whatever happens)
 * and check it holds exactly the dataset's columns. Rows are the caller's to check as it reads them.
 */
export function openCheckedChunk(ch: SealedChunk, index: number, chunkColumns: readonly string[], expectedFormat?: RowChunkFormat): { columns: string[]; rows: unknown[] } {
  let plain: { columns: string[]; rows: unknown[] };
  try {
    plain = openRowChunkBox(ch.dataKey, ch.box, ch.aad, `row chunk ${index}`, expectedFormat);
  } finally {
    ch.dataKey.fill(0);
  }
  return checkChunkColumns(plain, index, chunkColumns);
}

function checkChunkColumns(plain: { columns: string[]; rows: unknown[] }, index: number, chunkColumns: readonly string[]): { columns: string[]; rows: unknown[] } {
  if (plain.columns.length !== chunkColumns.length || !chunkColumns.every((c) => plain.columns.includes(c))) {
    throw invalid(`chunk ${index}: its columns do not match the dataset schema`);
  }
  return plain;
}

/**
 * Dense subject numbers for the differencing defence, the same on the SQL path (ChunkDecoder) and the HE
 * path's row map (row-map-job.ts mapRows), which share one history: equal identifier values get one number, and
 * a row without an identifier is a subject of its own.
 */
export class SubjectNumbers {
  private readonly numberOf = new Map<unknown, number>();
  private readonly list: number[] = [];

  /** Number the subject of dataset row `row` (1-based) whose identifier value is `id`. */
  add(id: unknown, row: number): void {
    const key = id ?? `\u0000row${row}`;
    let s = this.numberOf.get(key);
    if (s === undefined) this.numberOf.set(key, (s = this.numberOf.size));
    this.list.push(s);
  }

  /** The numbers of every row added so far (index = row − 1); forgets the identifier values. */
  take(): Int32Array {
    const out = Int32Array.from(this.list);
    this.numberOf.clear();
    this.list.length = 0;
    return out;
  }
}

/** Decodes a job's chunks in order; keeps the subject numbering (differencing defence) across chunks. */
export class ChunkDecoder {
  private readonly numeric: boolean[];
  private readonly idCol: number;
  private readonly subjectNumbers = new SubjectNumbers();
  private rowCount = 0;
  private text: Uint8Array = new Uint8Array(1 << 20);
  /** chunks decoded per plaintext format (v2 columns straight into slots; v1 through JSON.parse) */
  readonly formats = { v1: 0, v2: 0 };

  constructor(
    private readonly chunkColumns: string[],
    private readonly columns: LoadColumn[],
    /** number the subjects (identifier values) of every row */
    withSubjects: boolean,
    /** the format the bundle's manifest says its chunks are in: a chunk in another is refused */
    private readonly expectedFormat?: RowChunkFormat,
  ) {
    this.numeric = columns.map((c) => c.type === 'int' || c.type.startsWith('decimal'));
    this.idCol = withSubjects ? columns.findIndex((c) => c.role === 'identifier') : -1;
  }

  /** Open chunk `index` (its data key is zeroed whatever happens) and check and lay out its rows. */
  decode(ch: SealedChunk, index: number): EncodedChunk {
    const label = `row chunk ${index}`;
    let bytes: Uint8Array;
    try {
      bytes = openRowChunkBytes(ch.dataKey, ch.box, ch.aad, label);
    } finally {
      ch.dataKey.fill(0);
    }
    const format = rowChunkFormat(bytes);
    if (this.expectedFormat !== undefined && format !== this.expectedFormat) {
      bytes.fill(0);
      throw invalid(`${label} is in row chunk format v${format}, its bundle's in v${this.expectedFormat}`);
    }
    if (format === 2) {
      let chunk: ColumnarRowChunk | undefined;
      try {
        chunk = decodeRowChunkV2(bytes, label);
        const out = this.layOutColumns(chunk, index);
        this.formats.v2++;
        return out;
      } finally {
        if (chunk) wipeColumnarRowChunk(chunk);
        bytes.fill(0);
      }
    }
    const plain = checkChunkColumns(parseRowChunkV1(bytes, label), index, this.chunkColumns); // zeroes bytes
    try {
      const out = this.layOut(plain, index);
      this.formats.v1++;
      return out;
    } finally {
      plain.rows.length = 0; // drop references to the plaintext as soon as it is laid out
    }
  }

  /** Dense subject number of every row decoded so far (index = dataset row − 1). */
  subjects(): Int32Array {
    return this.subjectNumbers.take();
  }

  /** Zero the reusable text buffer (the last chunk's plaintext bytes). */
  wipe(): void {
    this.text.fill(0);
  }

  /**
   * A v2 chunk's typed columns into slots, with the checks layOut makes on v1's values: the dataset's
   * columns exactly, numbers (finite: the decoder checked) in numeric columns, clamped to the schema
   * bounds; text as its UTF-8 bytes (the decoder checked them), a number in a text column bound as a number.
   */
  private layOutColumns(chunk: ColumnarRowChunk, ci: number): EncodedChunk {
    const cols = this.columns;
    const width = cols.length;
    const names = chunk.columns.map((c) => c.name);
    if (names.length !== this.chunkColumns.length || !this.chunkColumns.every((c) => names.includes(c))) {
      throw invalid(`chunk ${ci}: its columns do not match the dataset schema`);
    }
    const src = cols.map((c) => chunk.columns[names.indexOf(c.name)]!);
    const n = chunk.rows;
    const len = new Int32Array(n * width);
    const num = new Float64Array(n * width);
    // slot kinds and text lengths column by column (the source's order); row r's text starts at rowStart[r]
    const rowStart = new Int32Array(n + 1);
    for (let j = 0; j < width; j++) {
      const s = src[j]!;
      // a numeric column sealed as text (the sealer writes a numeric dimension's declared spelling): Number(text), as v1
      const values = s.encoding === 'number' ? s.values : this.numeric[j] ? numbersOfText(s, n, ci, cols[j]!.type) : undefined;
      const b = this.numeric[j] ? cols[j]!.bounds : undefined; // clamp step: every row's contribution within the schema bounds
      for (let r = 0, slot = j; r < n; r++, slot += width) {
        if (isNullAt(s, r)) {
          len[slot] = NULL_SLOT;
        } else if (values) {
          const v = values[r]!;
          num[slot] = b ? Math.min(Math.max(v, b[0]), b[1]) : v;
          len[slot] = NUMBER_SLOT;
        } else if (s.encoding !== 'number') {
          const k = s.encoding === 'text' ? s.offsets[r + 1]! - s.offsets[r]! : s.entryOffsets[s.codes[r]! + 1]! - s.entryOffsets[s.codes[r]!]!;
          len[slot] = k;
          rowStart[r + 1]! += k;
        }
      }
      if (values && values !== (s as { values?: Float64Array }).values) values.fill(0); // numbers read from text: plaintext
    }
    for (let r = 0; r < n; r++) rowStart[r + 1]! += rowStart[r]!;
    // the text bytes in row order, each row's values in loaded-column order (as the loader reads them)
    const text = new Uint8Array(rowStart[n]!);
    const cursor = rowStart; // advanced column by column: ends as the next row's start
    for (let j = 0; j < width; j++) {
      const s = src[j]!;
      if (s.encoding === 'number' || this.numeric[j]) continue;
      const from = s.encoding === 'text' ? s.bytes : s.entryBytes;
      for (let r = 0, slot = j; r < n; r++, slot += width) {
        const k = len[slot]!;
        if (k <= 0) continue;
        const a = s.encoding === 'text' ? s.offsets[r]! : s.entryOffsets[s.codes[r]!]!;
        let o = cursor[r]!;
        if (k < 16) for (let t = a; t < a + k; t++) text[o++] = from[t]!; // short values: cheaper than a subarray object each
        else {
          text.set(from.subarray(a, a + k), o);
          o += k;
        }
        cursor[r] = o;
      }
    }
    if (this.idCol >= 0) {
      const s = src[this.idCol]!;
      const rows = columnarRows({ rows: n, columns: [s], buffers: [] });
      for (const [id] of rows) this.subjectNumbers.add(id, ++this.rowCount);
    } else this.rowCount += n;
    return { rows: n, len, num, text };
  }

  private layOut(plain: { columns: string[]; rows: unknown[] }, ci: number): EncodedChunk {
    const cols = this.columns;
    const width = cols.length;
    const expected = this.chunkColumns.length;
    // chunk column order → loaded column order (openCheckedChunk checked the column set)
    const pos = cols.map((c) => plain.columns.indexOf(c.name));
    if (pos.some((p) => p < 0)) throw invalid(`chunk ${ci}: its columns do not match the dataset schema`);
    const n = plain.rows.length;
    const len = new Int32Array(n * width);
    const num = new Float64Array(n * width);
    let text = this.text;
    let off = 0;
    for (let i = 0; i < n; i++) {
      const r = plain.rows[i] as unknown[];
      if (!Array.isArray(r) || r.length !== expected) throw invalid(`chunk ${ci}: a row has the wrong width`);
      this.rowCount++;
      const base = i * width;
      for (let j = 0; j < width; j++) {
        const raw: unknown = r[pos[j]!] ?? null;
        const slot = base + j;
        if (raw === null) {
          len[slot] = NULL_SLOT;
          continue;
        }
        if (typeof raw !== 'string' && typeof raw !== 'number') throw invalid(`chunk ${ci}: a value is not a scalar`);
        if (this.numeric[j]) {
          const v = typeof raw === 'number' ? raw : Number(raw);
          if (!Number.isFinite(v)) throw invalid(`chunk ${ci}: a ${cols[j]!.type} value is not a number`);
          const b = cols[j]!.bounds; // clamp step: every row's contribution within the schema bounds
          num[slot] = b ? Math.min(Math.max(v, b[0]), b[1]) : v;
          len[slot] = NUMBER_SLOT;
        } else if (typeof raw === 'number') {
          num[slot] = raw; // bound as a number; the TEXT column's affinity turns it into text, as before
          len[slot] = NUMBER_SLOT;
        } else {
          if (off + 3 * raw.length > text.length) text = this.grow(off + 3 * raw.length);
          const start = off;
          for (let k = 0; k < raw.length; k++) {
            const c = raw.charCodeAt(k);
            if (c >= 0x80) {
              // not ASCII: let the UTF-8 encoder write the whole value
              off = start + Buffer.from(text.buffer, text.byteOffset, text.length).write(raw, start, 'utf8');
              break;
            }
            text[off++] = c;
          }
          len[slot] = off - start;
        }
      }
      if (this.idCol >= 0) this.subjectNumbers.add(r[pos[this.idCol]!], this.rowCount);
    }
    const out = text.slice(0, off);
    text.fill(0, 0, off);
    return { rows: n, len, num, text: out };
  }

  private grow(need: number): Uint8Array {
    const grown = new Uint8Array(Math.max(need, 2 * this.text.length));
    grown.set(this.text);
    this.text.fill(0);
    this.text = grown;
    return grown;
  }
}

/** A text column's values read as numbers (Number(text), finite, as v1's layOut reads a numeric string). */
function numbersOfText(s: Exclude<RowChunkColumn, { encoding: 'number' }>, n: number, ci: number, type: string): Float64Array {
  const out = new Float64Array(n);
  const text = (bytes: Uint8Array, a: number, b: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + a, b - a).toString('utf8');
  const entries = s.encoding === 'dictionary' ? Array.from({ length: s.entryOffsets.length - 1 }, (_, i) => Number(text(s.entryBytes, s.entryOffsets[i]!, s.entryOffsets[i + 1]!))) : [];
  for (let r = 0; r < n; r++) {
    if (isNullAt(s, r)) continue;
    const v = s.encoding === 'text' ? Number(text(s.bytes, s.offsets[r]!, s.offsets[r + 1]!)) : entries[s.codes[r]!]!;
    if (!Number.isFinite(v)) throw invalid(`chunk ${ci}: a ${type} value is not a number`);
    out[r] = v;
  }
  return out;
}
