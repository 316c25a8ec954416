import { DomainError } from '../../contracts/errors.js';
import { openRowChunkBox, openRowChunkBytes, parseRowChunk } from '../../formats/row-chunk.js';
import type { SandboxJob } from './protocol.js';

/**
 * One sealed row chunk opened, checked value by value and laid out for binding into SQLite: the sandbox's
 * unseal stage. It runs in the sandbox's unseal helper thread (or in the sandbox worker itself) and hands
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
export function openCheckedChunk(ch: SealedChunk, index: number, chunkColumns: readonly string[]): { columns: string[]; rows: unknown[] } {
  let plain: { columns: string[]; rows: unknown[] };
  try {
    plain = openRowChunkBox(ch.dataKey, ch.box, ch.aad, `row chunk ${index}`);
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
 * path's row map (worker.ts mapRows), which share one history: equal identifier values get one number, and
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
  /** chunks read in place (the rest went the JSON.parse way) */
  readInPlace = 0;

  constructor(
    private readonly chunkColumns: string[],
    private readonly columns: LoadColumn[],
    /** number the subjects (identifier values) of every row */
    withSubjects: boolean,
    /** read chunks in JSON.stringify's layout byte by byte (false: always JSON.parse; tests compare the two) */
    private readonly byteReader = true,
  ) {
    this.numeric = columns.map((c) => c.type === 'int' || c.type.startsWith('decimal'));
    this.idCol = withSubjects ? columns.findIndex((c) => c.role === 'identifier') : -1;
  }

  /** Open chunk `index` (its data key is zeroed whatever happens) and check and lay out its rows. */
  decode(ch: SealedChunk, index: number): EncodedChunk {
    let bytes: Uint8Array;
    try {
      bytes = openRowChunkBytes(ch.dataKey, ch.box, ch.aad, `row chunk ${index}`);
    } finally {
      ch.dataKey.fill(0);
    }
    if (this.byteReader) {
      // the plaintext as the sealer writes it (JSON.stringify's bytes) is read in place; anything else —
      // including every invalid chunk — goes the JSON.parse way below, whose checks name the error
      try {
        const reader = new StringifiedChunkReader(bytes, this.chunkColumns, this.columns, this.numeric, this.idCol, this.text);
        const out = reader.read();
        this.text = reader.textBuffer();
        if (out) {
          if (this.idCol >= 0) for (const id of out.subjectIds) this.subjectNumbers.add(id, ++this.rowCount);
          else this.rowCount += out.chunk.rows;
          this.readInPlace++;
          bytes.fill(0);
          return out.chunk;
        }
      } catch (e) {
        bytes.fill(0);
        throw e;
      }
    }
    const plain = checkChunkColumns(parseRowChunk(bytes, `row chunk ${index}`), index, this.chunkColumns); // zeroes bytes
    try {
      return this.layOut(plain, index);
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** 10^0 … 10^22: exactly representable doubles */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * A chunk's plaintext read in place when it is exactly in JSON.stringify's layout —
 * `{"columns":[…],"rows":[[…],…]}` with no white space, strings of printable ASCII without escapes, numbers
 * without exponents, `null` — laid out exactly as ChunkDecoder.layOut lays out JSON.parse's result
 * (the same slots, bytes, clamped numbers). `read()` answers null at the first byte outside that layout or
 * at anything layOut would refuse or convert (wrong width, a string in a numeric column, columns not the
 * schema's): the caller then takes the JSON.parse way, whose checks and messages decide. So this reader
 * never accepts what JSON.parse and layOut would refuse, and never refuses anything itself.
 */
class StringifiedChunkReader {
  private i = 0;
  /** the text bytes laid out so far (in `text`), and the slot arrays (`lens`, `nums`: grown by doubling) */
  private off = 0;
  private lens = new Int32Array(0);
  private nums = new Float64Array(0);

  constructor(
    private readonly b: Uint8Array,
    private readonly chunkColumns: string[],
    private readonly columns: LoadColumn[],
    private readonly numeric: boolean[],
    private readonly idCol: number,
    private text: Uint8Array,
  ) {}

  /** The chunk laid out, or null (then nothing of it is kept: every byte and number written is zeroed). */
  read(): { chunk: EncodedChunk; subjectIds: (string | number | null)[] } | null {
    const out = this.parse();
    this.text.fill(0, 0, this.off);
    if (!out) {
      this.lens.fill(0);
      this.nums.fill(0);
    }
    return out;
  }

  /** The reusable text buffer (grown if a chunk needed more), zeroed. */
  textBuffer(): Uint8Array {
    return this.text;
  }

  private parse(): { chunk: EncodedChunk; subjectIds: (string | number | null)[] } | null {
    const b = this.b;
    if (!this.literal('{"columns":[')) return null;
    const names: string[] = [];
    for (;;) {
      const s = this.string();
      if (s < 0) return null;
      names.push(ascii(b, s, this.i - 1));
      if (b[this.i] === COMMA) this.i++;
      else break;
    }
    if (!this.literal('],"rows":[')) return null;
    // openCheckedChunk's column check, and layOut's column positions
    if (names.length !== this.chunkColumns.length || !this.chunkColumns.every((c) => names.includes(c))) return null;
    const width = this.columns.length;
    const cw = names.length;
    const pos = this.columns.map((c) => names.indexOf(c.name));
    // one row's values in chunk order: kind 0 null, 1 string bytes [start, end), 2 number
    const kind = new Uint8Array(cw);
    const start = new Int32Array(cw);
    const end = new Int32Array(cw);
    const value = new Float64Array(cw);
    this.lens = new Int32Array(1024 * width);
    this.nums = new Float64Array(1024 * width);
    let rows = 0;
    const subjectIds: (string | number | null)[] = [];
    if (b[this.i] === CLOSE) this.i++;
    else
      for (;;) {
        if (b[this.i++] !== OPEN) return null;
        for (let v = 0; ; v++) {
          if (v >= cw) return null; // too wide
          const c = b[this.i]!;
          if (c === QUOTE) {
            const s = this.string();
            if (s < 0) return null;
            kind[v] = 1;
            start[v] = s;
            end[v] = this.i - 1;
          } else if (c === 0x6e) {
            if (!this.literal('null')) return null;
            kind[v] = 0;
          } else {
            const x = this.number();
            if (!Number.isFinite(x)) return null; // not a number here, or one layOut checks (too big)
            kind[v] = 2;
            value[v] = x;
          }
          const d = b[this.i++];
          if (d === COMMA) continue;
          if (d !== CLOSE || v !== cw - 1) return null; // not JSON, or too narrow
          break;
        }
        if ((rows + 1) * width > this.lens.length) this.growSlots();
        const lens = this.lens;
        const nums = this.nums;
        const base = rows * width;
        for (let j = 0; j < width; j++) {
          const v = pos[j]!;
          const slot = base + j;
          const k = kind[v];
          if (k === 0) lens[slot] = NULL_SLOT;
          else if (k === 2) {
            const x = value[v]!;
            const bounds = this.numeric[j] ? this.columns[j]!.bounds : undefined;
            nums[slot] = bounds ? Math.min(Math.max(x, bounds[0]), bounds[1]) : x;
            lens[slot] = NUMBER_SLOT;
          } else {
            if (this.numeric[j]) return null; // a string in a numeric column: layOut converts it (or refuses)
            const from = start[v]!;
            const n = end[v]! - from;
            if (this.off + n > this.text.length) this.growText(this.off + n);
            const text = this.text;
            let o = this.off;
            for (let k = 0; k < n; k++) text[o++] = b[from + k]!; // short values: cheaper than a subarray object each
            this.off = o;
            lens[slot] = n;
          }
        }
        if (this.idCol >= 0) {
          const v = pos[this.idCol]!;
          subjectIds.push(kind[v] === 0 ? null : kind[v] === 2 ? value[v]! : ascii(b, start[v]!, end[v]!));
        }
        rows++;
        const d = b[this.i++];
        if (d === COMMA) continue;
        if (d !== CLOSE) return null;
        break;
      }
    if (b[this.i++] !== 0x7d || this.i !== b.length) return null;
    // views of the slot arrays (their tails were never written); the text copied out of the reused buffer
    const n = rows * width;
    return { chunk: { rows, len: this.lens.subarray(0, n), num: this.nums.subarray(0, n), text: this.text.slice(0, this.off) }, subjectIds };
  }

  private growSlots(): void {
    const lens = new Int32Array(this.lens.length * 2);
    lens.set(this.lens);
    this.lens.fill(0);
    this.lens = lens;
    const nums = new Float64Array(this.nums.length * 2);
    nums.set(this.nums);
    this.nums.fill(0);
    this.nums = nums;
  }

  private growText(need: number): void {
    const grown = new Uint8Array(Math.max(need, 2 * this.text.length));
    grown.set(this.text.subarray(0, this.off));
    this.text.fill(0);
    this.text = grown;
  }

  private literal(s: string): boolean {
    for (let k = 0; k < s.length; k++) if (this.b[this.i + k] !== s.charCodeAt(k)) return false;
    this.i += s.length;
    return true;
  }

  /** A string of printable ASCII without escapes: its first byte's index (this.i after the closing quote), or −1. */
  private string(): number {
    const b = this.b;
    if (b[this.i] !== QUOTE) return -1;
    const s = ++this.i;
    for (;;) {
      const c = b[this.i++];
      if (c === QUOTE) return s;
      if (c === undefined || c < 0x20 || c > 0x7f || c === BACKSLASH) return -1;
    }
  }

  /**
   * A JSON number without exponent, as JSON.parse reads it: up to 15 digits m with f decimals is m / 10^f
   * (both exact doubles, so IEEE division rounds the exact decimal value once, as parsing does); longer
   * ones are given to Number. NaN when the bytes are not such a number.
   */
  private number(): number {
    const b = this.b;
    const s = this.i;
    let i = s;
    const neg = b[i] === MINUS;
    if (neg) i++;
    let m = 0;
    let digits = 0;
    const first = b[i];
    if (first === undefined || first < ZERO || first > NINE) return NaN;
    if (first === ZERO) {
      i++;
      digits = 1;
    } else
      for (let c = b[i]; c !== undefined && c >= ZERO && c <= NINE; c = b[++i]) {
        m = m * 10 + (c - ZERO);
        digits++;
      }
    let f = 0;
    if (b[i] === DOT) {
      i++;
      for (let c = b[i]; c !== undefined && c >= ZERO && c <= NINE; c = b[++i]) {
        m = m * 10 + (c - ZERO);
        f++;
      }
      if (f === 0) return NaN;
    }
    const after = b[i];
    if (after === 0x65 || after === 0x45 || (after !== undefined && after >= ZERO && after <= NINE)) return NaN; // exponent, or a leading zero
    this.i = i;
    if (digits + f <= 15) return neg ? -(m / POW10[f]!) : m / POW10[f]!;
    return Number(ascii(b, s, i));
  }
}

/** Bytes [from, to) of ASCII text as a string. */
function ascii(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');
}
