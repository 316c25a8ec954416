import { DomainError } from '../../contracts/errors.js';
import { openRowChunkBox } from '../format/row-chunk.js';
import type { SandboxJob } from './sandbox-protocol.js';

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
 * Open chunk `index` (enclave/format/row-chunk.ts, the one opener; its data key is zeroed whatever happens)
 * and check it holds exactly the dataset's columns. Rows are the caller's to check as it reads them.
 */
export function openCheckedChunk(ch: SealedChunk, index: number, chunkColumns: readonly string[]): { columns: string[]; rows: unknown[] } {
  let plain: { columns: string[]; rows: unknown[] };
  try {
    plain = openRowChunkBox(ch.dataKey, ch.box, ch.aad, `row chunk ${index}`);
  } finally {
    ch.dataKey.fill(0);
  }
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

  constructor(
    private readonly chunkColumns: string[],
    private readonly columns: LoadColumn[],
    /** number the subjects (identifier values) of every row */
    withSubjects: boolean,
  ) {
    this.numeric = columns.map((c) => c.type === 'int' || c.type.startsWith('decimal'));
    this.idCol = withSubjects ? columns.findIndex((c) => c.role === 'identifier') : -1;
  }

  /** Open chunk `index` (its data key is zeroed whatever happens) and check and lay out its rows. */
  decode(ch: SealedChunk, index: number): EncodedChunk {
    const plain = openCheckedChunk(ch, index, this.chunkColumns);
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
