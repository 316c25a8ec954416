import { isUtf8 } from 'node:buffer';
import { DomainError } from '../contracts/errors.js';
import { fromUtf8, newBoxKey, openBox, sealBox, sm2Decrypt, sm2Encrypt, utf8 } from '../crypto/index.js';

/**
 * Row chunks: every full row of a dataset, sealed for the enclave's SQL sandbox. This file is the one
 * implementation of the format: sealing, opening, the v2 encoder and decoder, and the v1 (JSON) decoder.
 * Each chunk has its own random 32-byte data key (sealBox = SM4-CTR + HMAC-SM3, encrypt-then-MAC); the key
 * is wrapped with SM2 encryption (GB/T 32918.4, C1C3C2) to the enclave's unwrap key. The aad binds the
 * chunk to its bundle and position so chunks cannot be swapped or replayed into another dataset.
 *
 * Blob layout (one file in the content-addressed blob store; the same for every plaintext format):
 *   "SYRC" ‖ container version 1 ‖ u16be wrappedKey length ‖ wrappedKey ‖ box
 *
 * The plaintext inside the box (so its format is authenticated with it: a chunk cannot be re-labelled to
 * another format without the data key; the manifest's `rows.chunkFormat` says which one a bundle uses):
 *   v1 — the UTF-8 text of JSON.stringify({ columns, rows }) (first byte `{`); still opened, by JSON.parse.
 *   v2 — binary and columnar (the default for new bundles), below.
 *
 * v2 plaintext. Framing: every integer little-endian; every variable part length-prefixed or located by an
 * offsets array (Arrow-style: n + 1 u32 offsets into a byte run, the value i being bytes [off[i], off[i+1]));
 * every column block starts 8-byte aligned (zero padding), so its arrays are read as typed-array views.
 *
 *   offset  size            field
 *   0       4               magic "SYR2" (53 59 52 32)
 *   4       1               format version = 2
 *   5       3               zero
 *   8       4  u32          n: rows
 *   12      2  u16          c: columns (≥ 1)
 *   14      2               zero
 *   16      …               c directory entries: u8 name length ‖ UTF-8 name ‖ u8 encoding
 *                           (1 number, 2 text, 3 dictionary, 4 scaled number); zero padding to 8
 *   …       …               c column blocks, in directory order, each:
 *             ⌈n/8⌉         null bitmap: bit (r mod 8) of byte ⌊r/8⌋ set = row r is NULL (unused bits zero);
 *                           zero padding to 8
 *     1 number: 8n f64      the values (finite; 0 where NULL)
 *     4 scaled: u8 s ‖ 3 zero ‖ n × i32 v
 *                           fixed point: the value is v / 10^s (s ≤ 9), exact by construction — the writer
 *                           uses it only when every value round-trips bit for bit (ints, decimals with few digits)
 *     2 text:   4(n+1) u32  offsets (off[0] = 0, non-decreasing; a NULL is empty) ‖ off[n] bytes of UTF-8
 *     3 dictionary: u32 e ‖ 4(e+1) u32 entry offsets ‖ entry bytes (UTF-8) ‖ zero padding to 4 ‖
 *                 n codes of w bytes (w = 1 when e ≤ 256, 2 when e ≤ 65,536, else 4; each < e; 0 where NULL)
 *             …             zero padding to 8 (the chunk ends exactly after the last block)
 *
 * Values: number columns carry JS numbers (float64, or scaled int32 when that is exact: v1's JSON numbers
 * read back to the same doubles); text and dictionary columns carry strings (dictionary for columns with
 * few distinct values, such as dimensions). Text is UTF-8: a lone surrogate is written as U+FFFD.
 */

export interface RowChunkPlain {
  columns: string[];
  /** ints/decimals as numbers, dimension/text/date/identifier values as strings, missing as null. */
  rows: (string | number | null)[][];
}

export interface SealedRowChunk {
  wrappedKey: Uint8Array;
  box: Uint8Array;
}

const MAGIC = [0x53, 0x59, 0x52, 0x43]; // "SYRC"
const VERSION = 1;
/** Bounded so a hostile blob cannot make the enclave allocate without limit. */
export const MAX_ROW_CHUNK_BYTES = 64 * 1024 * 1024;

/** The aad of chunk `index` of bundle `bundleId` (the random id the owner's sealer puts in the manifest). */
export const rowChunkAad = (bundleId: string, index: number): Uint8Array =>
  utf8(`shuyu.row-chunk.v1|${bundleId}|${index}`);

/** Plaintext formats of a row chunk (see the top of this file); new bundles are sealed as ROW_CHUNK_FORMAT. */
export type RowChunkFormat = 1 | 2;
export const ROW_CHUNK_FORMAT: RowChunkFormat = 2;

/** Seal a chunk's rows (checked first) in `format` (v1 only for tests and benches of old bundles). */
export function sealRowChunk(plain: RowChunkPlain, enclaveUnwrapPublicKey: Uint8Array, aad: Uint8Array, format: RowChunkFormat = ROW_CHUNK_FORMAT): SealedRowChunk {
  checkPlain(plain);
  const bytes = format === 1 ? utf8(JSON.stringify(plain)) : encodeRowChunkV2(plain);
  try {
    return sealRowChunkPlaintext(bytes, enclaveUnwrapPublicKey, aad);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Seal a row chunk's plaintext bytes as they are: as sealRowChunk, a ColumnarRowChunkWriter (v2) or a
 * RowChunkWriter (v1) produces them (callers do not pass anything else — the enclave checks them on open).
 */
export function sealRowChunkPlaintext(json: Uint8Array, enclaveUnwrapPublicKey: Uint8Array, aad: Uint8Array): SealedRowChunk {
  return sealRowChunkWithKey(json, newRowChunkKey(enclaveUnwrapPublicKey), aad);
}

/** A fresh data key for ONE row chunk and its SM2 wrapping (made ahead, e.g. on another thread than the sealing). */
export interface RowChunkKey {
  key: Uint8Array;
  wrappedKey: Uint8Array;
}

export function newRowChunkKey(enclaveUnwrapPublicKey: Uint8Array): RowChunkKey {
  const key = newBoxKey();
  return { key, wrappedKey: sm2Encrypt(enclaveUnwrapPublicKey, key) };
}

/** sealRowChunkPlaintext with a key from newRowChunkKey — used for this one chunk, and zeroed here. */
export function sealRowChunkWithKey(json: Uint8Array, dataKey: RowChunkKey, aad: Uint8Array): SealedRowChunk {
  try {
    if (dataKey.key.length !== 32) throw new DomainError('row-chunk-invalid', 'row chunk data key must be 32 bytes');
    return { wrappedKey: dataKey.wrappedKey, box: sealBox(dataKey.key, json, aad) };
  } finally {
    dataKey.key.fill(0);
  }
}

export function openRowChunk(sealed: SealedRowChunk, unwrapPrivateKey: Uint8Array, aad: Uint8Array): RowChunkPlain {
  let key: Uint8Array;
  try {
    key = sm2Decrypt(unwrapPrivateKey, sealed.wrappedKey);
  } catch {
    throw new DomainError('row-chunk-invalid', 'the row chunk key cannot be unwrapped with this enclave key');
  }
  try {
    if (key.length !== 32) throw new DomainError('row-chunk-invalid', 'unwrapped row chunk key has the wrong length');
    const parsed = openRowChunkBox(key, sealed.box, aad);
    checkPlain(parsed);
    return parsed;
  } finally {
    key.fill(0);
  }
}

/**
 * Open a row chunk's box with its already-unwrapped data key: authenticate and decrypt (SM4-CTR + HMAC-SM3),
 * decode it (v2, or v1's JSON) as rows and check only its outer shape (columns are strings, rows an array) —
 * callers that load every value check each one as they go, the rest call checkPlain via openRowChunk.
 * With `expectedFormat` (the manifest's), a chunk in another format is refused. The decrypted bytes are
 * zeroed here; the key stays the caller's to zero. `label` names the chunk in errors.
 */
export function openRowChunkBox(dataKey: Uint8Array, box: Uint8Array, aad: Uint8Array, label = 'row chunk', expectedFormat?: RowChunkFormat): { columns: string[]; rows: unknown[] } {
  const bytes = openRowChunkBytes(dataKey, box, aad, label);
  if (expectedFormat !== undefined && rowChunkFormat(bytes) !== expectedFormat) {
    const format = rowChunkFormat(bytes);
    bytes.fill(0);
    throw new DomainError('row-chunk-invalid', `${label} is in row chunk format v${format}, its bundle's in v${expectedFormat}`);
  }
  return parseRowChunk(bytes, label);
}

/** Authenticate and decrypt a row chunk's box: its plaintext bytes, which the caller zeroes after use. */
export function openRowChunkBytes(dataKey: Uint8Array, box: Uint8Array, aad: Uint8Array, label = 'row chunk'): Uint8Array {
  try {
    return openBox(dataKey, box, aad);
  } catch {
    throw new DomainError('row-chunk-invalid', `${label} failed authentication (tampered, or bound to another bundle/position)`);
  }
}

/** The plaintext format of an opened row chunk: 2 when it starts with v2's magic, else 1 (JSON decides). */
export function rowChunkFormat(bytes: Uint8Array): RowChunkFormat {
  return V2_MAGIC.every((m, i) => bytes[i] === m) ? 2 : 1;
}

/**
 * An opened row chunk's rows as values ({ columns, rows }), whichever its format; the bytes are zeroed
 * whatever happens. The SQL sandbox reads v2 as typed columns instead (decodeRowChunkV2).
 */
export function parseRowChunk(bytes: Uint8Array, label = 'row chunk'): { columns: string[]; rows: unknown[] } {
  if (rowChunkFormat(bytes) === 2) {
    let chunk: ColumnarRowChunk | undefined;
    try {
      chunk = decodeRowChunkV2(bytes, label);
      return { columns: chunk.columns.map((c) => c.name), rows: columnarRows(chunk) };
    } finally {
      if (chunk) wipeColumnarRowChunk(chunk);
      bytes.fill(0);
    }
  }
  return parseRowChunkV1(bytes, label);
}

/** v1: the JSON text ({ columns, rows }) by JSON.parse; the bytes are zeroed whatever happens. */
export function parseRowChunkV1(bytes: Uint8Array, label = 'row chunk'): { columns: string[]; rows: unknown[] } {
  let parsed: { columns?: unknown; rows?: unknown };
  try {
    parsed = JSON.parse(fromUtf8(bytes)) as typeof parsed;
  } catch {
    throw new DomainError('row-chunk-invalid', `${label} content is not valid JSON`);
  } finally {
    bytes.fill(0);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.columns) || !parsed.columns.every((c) => typeof c === 'string') || !Array.isArray(parsed.rows)) {
    throw new DomainError('row-chunk-invalid', `${label} does not have columns and rows`);
  }
  return parsed as { columns: string[]; rows: unknown[] };
}

/**
 * A v1 row chunk's plaintext written a batch of rows at a time: exactly the UTF-8 bytes of
 * JSON.stringify({ columns, rows }), with every value checked as checkPlain checks it. The owner's sealer
 * uses it only when asked for v1 (tests and benches of older bundles); batches keep a chunk's rows from all
 * being held as arrays until one stringify at the end. One buffer, reused chunk after chunk.
 */
export class RowChunkWriter {
  private readonly head: string;
  private buf = Buffer.alloc(1 << 16);
  private len = 0;
  rows = 0;

  constructor(readonly columns: string[]) {
    checkColumns(columns);
    this.head = `{"columns":${JSON.stringify(columns)},"rows":[`;
    this.write(this.head);
  }

  /** Bytes written so far (before the closing `]}`). */
  get bytes(): number {
    return this.len;
  }

  /**
   * Append rows (each checked by checkRow, as in checkPlain). Pass a few thousand at a time: one JSON.stringify
   * per call is far cheaper than per value, and the arrays can be dropped right after.
   */
  addRows(rows: readonly (readonly unknown[])[]): void {
    if (rows.length === 0) return;
    for (let r = 0; r < rows.length; r++) checkRow(rows[r], this.columns.length, this.rows + r);
    const text = JSON.stringify(rows); // "[row,row,…]": its inside continues the chunk's rows array
    if (this.rows > 0) this.write(',');
    this.write(text.slice(1, -1));
    this.rows += rows.length;
  }

  /** The finished plaintext: a view of the writer's buffer, valid until `reset`. */
  finish(): Uint8Array {
    this.write(']}');
    return this.buf.subarray(0, this.len);
  }

  /** Start the next chunk (the previous plaintext is zeroed). */
  reset(): void {
    this.buf.fill(0, 0, this.len);
    this.len = 0;
    this.rows = 0;
    this.write(this.head);
  }

  private write(s: string): void {
    // at most 3 UTF-8 bytes per UTF-16 unit
    if (this.len + 3 * s.length > this.buf.length) {
      const grown = Buffer.alloc(Math.max(2 * this.buf.length, this.len + 3 * s.length));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf.fill(0, 0, this.len);
      this.buf = grown;
    }
    this.len += this.buf.write(s, this.len, 'utf8');
  }
}

/** Structural check without zod: chunks hold thousands of rows and this runs on every one of them. */
function checkPlain(p: unknown): asserts p is RowChunkPlain {
  const bad = (m: string) => new DomainError('row-chunk-invalid', `row chunk: ${m}`);
  if (typeof p !== 'object' || p === null) throw bad('not an object');
  const { columns, rows } = p as Record<string, unknown>;
  checkColumns(columns);
  if (!Array.isArray(rows)) throw bad('rows must be an array');
  for (let i = 0; i < rows.length; i++) checkRow(rows[i], columns.length, i);
}

function checkColumns(columns: unknown): asserts columns is string[] {
  if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === 'string')) {
    throw new DomainError('row-chunk-invalid', 'row chunk: columns must be strings');
  }
}

/** Row `index` of a chunk: `width` values, each a string, a finite number or null. */
function checkRow(r: unknown, width: number, index: number): void {
  if (!Array.isArray(r) || r.length !== width) throw new DomainError('row-chunk-invalid', `row chunk: row ${index} has the wrong number of values`);
  for (let i = 0; i < width; i++) {
    const v: unknown = r[i];
    if (v !== null && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) {
      throw new DomainError('row-chunk-invalid', `row chunk: row ${index} holds a non-scalar value`);
    }
  }
}

export function encodeSealedRowChunk(s: SealedRowChunk): Uint8Array {
  if (s.wrappedKey.length > 0xffff) throw new DomainError('row-chunk-invalid', 'wrapped key too long');
  const out = new Uint8Array(4 + 1 + 2 + s.wrappedKey.length + s.box.length);
  out.set(MAGIC, 0);
  out[4] = VERSION;
  out[5] = s.wrappedKey.length >> 8;
  out[6] = s.wrappedKey.length & 0xff;
  out.set(s.wrappedKey, 7);
  out.set(s.box, 7 + s.wrappedKey.length);
  return out;
}

export function decodeSealedRowChunk(blob: Uint8Array): SealedRowChunk {
  const bad = (m: string) => new DomainError('row-chunk-invalid', `row chunk blob: ${m}`);
  if (blob.length > MAX_ROW_CHUNK_BYTES) throw bad('too large');
  if (blob.length < 7 || MAGIC.some((b, i) => blob[i] !== b)) throw bad('bad magic');
  if (blob[4] !== VERSION) throw bad(`unsupported version ${blob[4]}`);
  const len = (blob[5]! << 8) | blob[6]!;
  if (len === 0 || 7 + len >= blob.length) throw bad('truncated');
  return { wrappedKey: blob.subarray(7, 7 + len), box: blob.subarray(7 + len) };
}

// ---- v2: binary and columnar (layout at the top of this file) ----

const V2_MAGIC = [0x53, 0x59, 0x52, 0x32]; // "SYR2"
const V2_HEADER = 16;
const ENCODING_NUMBER = 1;
const ENCODING_TEXT = 2;
const ENCODING_DICTIONARY = 3;
const ENCODING_SCALED = 4;

/** How the sealer stores a column: numbers, text, or text as codes into a dictionary of its distinct values. */
export type ColumnEncoding = 'number' | 'text' | 'dictionary';

interface ColumnBase {
  name: string;
  /** null bitmap: bit (r mod 8) of byte ⌊r/8⌋ set = row r is NULL */
  nulls: Uint8Array;
}

/** One decoded v2 column: typed-array views into the plaintext (a NULL row's slot holds 0 / nothing). */
export type RowChunkColumn =
  | (ColumnBase & { encoding: 'number'; values: Float64Array })
  | (ColumnBase & { encoding: 'text'; offsets: Uint32Array; bytes: Uint8Array })
  | (ColumnBase & { encoding: 'dictionary'; entryOffsets: Uint32Array; entryBytes: Uint8Array; codes: Uint8Array | Uint16Array | Uint32Array });

export interface ColumnarRowChunk {
  rows: number;
  columns: RowChunkColumn[];
  /** every buffer the columns' views point into (the caller zeroes them with wipeColumnarRowChunk) */
  buffers: Uint8Array[];
}

/** Whether row `r` of a decoded column is NULL. */
export const isNullAt = (c: RowChunkColumn, r: number): boolean => ((c.nulls[r >> 3]! >> (r & 7)) & 1) === 1;

/** Zero every plaintext byte a decoded chunk holds. */
export function wipeColumnarRowChunk(chunk: ColumnarRowChunk): void {
  for (const b of chunk.buffers) b.fill(0);
}

/**
 * Decode a v2 plaintext, checking every byte of its framing: sizes within the plaintext, offsets and codes
 * in range, numbers finite, text valid UTF-8 cut only at character boundaries, padding zero, nothing after
 * the last column. The columns are views into `bytes` (or into one aligned copy of it, also in `buffers`).
 */
export function decodeRowChunkV2(bytes: Uint8Array, label = 'row chunk'): ColumnarRowChunk {
  const bad = (m: string) => new DomainError('row-chunk-invalid', `${label}: ${m}`);
  if (!LITTLE_ENDIAN) throw bad('v2 row chunks are read on little-endian machines only');
  // typed-array views need their offsets aligned: a plaintext that does not start on 8 bytes is copied once
  const b = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
  const buffers = b === bytes ? [b] : [b, bytes];
  if (b.length < V2_HEADER || !V2_MAGIC.every((m, i) => b[i] === m)) throw bad('not a v2 row chunk');
  if (b[4] !== 2) throw bad(`unsupported row chunk format ${b[4]}`);
  if (b[5] !== 0 || b[6] !== 0 || b[7] !== 0 || b[14] !== 0 || b[15] !== 0) throw bad('header padding is not zero');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = dv.getUint32(8, true);
  const c = dv.getUint16(12, true);
  if (c === 0) throw bad('no columns');
  let at = V2_HEADER;
  const need = (k: number): void => {
    if (k > b.length - at) throw bad('truncated');
  };
  const pad = (to: number): void => {
    const k = (to - (at % to)) % to;
    need(k);
    for (let i = 0; i < k; i++) if (b[at++] !== 0) throw bad('padding is not zero');
  };
  const heads: { name: string; encoding: number }[] = [];
  for (let j = 0; j < c; j++) {
    need(1);
    const len = b[at++]!;
    need(len + 1);
    const raw = b.subarray(at, at + len);
    if (len === 0 || !isUtf8(raw)) throw bad('a column name is not UTF-8 text');
    const name = fromUtf8(raw);
    at += len;
    const encoding = b[at++]!;
    if (encoding < ENCODING_NUMBER || encoding > ENCODING_SCALED) throw bad(`column ${name} has an unknown encoding ${encoding}`);
    if (heads.some((h) => h.name === name)) throw bad(`column ${name} appears twice`);
    heads.push({ name, encoding });
  }
  pad(8);
  const bitmapBytes = (n + 7) >> 3;
  const columns: RowChunkColumn[] = [];
  /** offsets[0, count] into a run of `total` UTF-8 bytes starting at `at`: checked, and the run taken */
  const textRun = (offsets: Uint32Array, count: number, what: string): Uint8Array => {
    if (offsets[0] !== 0) throw bad(`${what}: offsets do not start at 0`);
    for (let i = 0; i < count; i++) if (offsets[i + 1]! < offsets[i]!) throw bad(`${what}: offsets go backwards`);
    const total = offsets[count]!;
    need(total);
    const run = b.subarray(at, at + total);
    at += total;
    if (!isUtf8(run)) throw bad(`${what}: text is not valid UTF-8`);
    // the run is valid UTF-8 and no value starts on a continuation byte: so every value is valid UTF-8
    for (let i = 0; i < count; i++) if (offsets[i]! < total && (run[offsets[i]!]! & 0xc0) === 0x80) throw bad(`${what}: a value is cut inside a character`);
    return run;
  };
  for (const { name, encoding } of heads) {
    need(bitmapBytes);
    const nulls = b.subarray(at, at + bitmapBytes);
    at += bitmapBytes;
    if (n & 7 && nulls[bitmapBytes - 1]! >> (n & 7) !== 0) throw bad(`column ${name}: null bitmap has bits past the last row`);
    pad(8);
    if (encoding === ENCODING_NUMBER) {
      need(8 * n);
      const values = new Float64Array(b.buffer, b.byteOffset + at, n);
      at += 8 * n;
      for (let r = 0; r < n; r++) if (!Number.isFinite(values[r]!)) throw bad(`column ${name}: a number is not finite`);
      columns.push({ name, nulls, encoding: 'number', values });
    } else if (encoding === ENCODING_SCALED) {
      need(4);
      const scale = b[at]!;
      if (scale > SCALED_MAX || b[at + 1] !== 0 || b[at + 2] !== 0 || b[at + 3] !== 0) throw bad(`column ${name}: bad scale`);
      at += 4;
      need(4 * n);
      const ints = new Int32Array(b.buffer, b.byteOffset + at, n);
      at += 4 * n;
      const values = new Float64Array(n);
      const unit = POW10[scale]!;
      for (let r = 0; r < n; r++) values[r] = ints[r]! / unit; // exact integer over exact power of ten: correctly rounded
      buffers.push(new Uint8Array(values.buffer));
      columns.push({ name, nulls, encoding: 'number', values });
    } else if (encoding === ENCODING_TEXT) {
      need(4 * (n + 1));
      const offsets = new Uint32Array(b.buffer, b.byteOffset + at, n + 1);
      at += 4 * (n + 1);
      const run = textRun(offsets, n, `column ${name}`);
      columns.push({ name, nulls, encoding: 'text', offsets, bytes: run });
    } else {
      need(4);
      const e = dv.getUint32(at, true);
      at += 4;
      need(4 * (e + 1));
      const entryOffsets = new Uint32Array(b.buffer, b.byteOffset + at, e + 1);
      at += 4 * (e + 1);
      const entryBytes = textRun(entryOffsets, e, `column ${name}'s dictionary`);
      pad(4);
      const w = codeWidth(e);
      need(w * n);
      const codes = w === 1 ? b.subarray(at, at + n) : w === 2 ? new Uint16Array(b.buffer, b.byteOffset + at, n) : new Uint32Array(b.buffer, b.byteOffset + at, n);
      at += w * n;
      const col = { name, nulls, encoding: 'dictionary' as const, entryOffsets, entryBytes, codes };
      for (let r = 0; r < n; r++) if (codes[r]! >= e && !(codes[r] === 0 && isNullAt(col, r))) throw bad(`column ${name}: a code is outside its dictionary`);
      columns.push(col);
    }
    pad(8);
  }
  if (at !== b.length) throw bad('bytes after the last column');
  return { rows: n, columns, buffers };
}

/** A decoded chunk's rows as values (strings, numbers, null), as v1's JSON.parse gave them. */
export function columnarRows(chunk: ColumnarRowChunk): (string | number | null)[][] {
  const text = (bytes: Uint8Array, from: number, to: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('utf8');
  const entries = chunk.columns.map((c) => (c.encoding === 'dictionary' ? Array.from({ length: c.entryOffsets.length - 1 }, (_, i) => text(c.entryBytes, c.entryOffsets[i]!, c.entryOffsets[i + 1]!)) : []));
  const rows: (string | number | null)[][] = new Array(chunk.rows);
  for (let r = 0; r < chunk.rows; r++) {
    const row: (string | number | null)[] = new Array(chunk.columns.length);
    for (let j = 0; j < chunk.columns.length; j++) {
      const c = chunk.columns[j]!;
      if (isNullAt(c, r)) row[j] = null;
      else if (c.encoding === 'number') row[j] = c.values[r]!;
      else if (c.encoding === 'text') row[j] = text(c.bytes, c.offsets[r]!, c.offsets[r + 1]!);
      else row[j] = entries[j]![c.codes[r]!]!;
    }
    rows[r] = row;
  }
  return rows;
}

/** Encode rows as a v2 plaintext; each column's encoding follows from its values (see encodingsOf). */
export function encodeRowChunkV2(plain: RowChunkPlain): Uint8Array {
  checkPlain(plain);
  const writer = new ColumnarRowChunkWriter(plain.columns, encodingsOf(plain));
  writer.addRows(plain.rows);
  return writer.finish();
}

/**
 * The encoding of each column of `plain`: numbers → number; strings → dictionary when they have few distinct
 * values (at most a quarter of the rows), else text; only NULLs → number. A column mixing numbers and
 * strings has no v2 encoding (the sealer never writes one: a schema column is numeric or not).
 */
export function encodingsOf(plain: RowChunkPlain): ColumnEncoding[] {
  return plain.columns.map((_, j) => {
    let numbers = 0;
    const distinct = new Set<string>();
    let strings = 0;
    for (const r of plain.rows) {
      const v = r[j];
      if (typeof v === 'number') numbers++;
      else if (typeof v === 'string') {
        strings++;
        if (distinct.size <= plain.rows.length / 4) distinct.add(v);
      }
    }
    if (numbers > 0 && strings > 0) throw new DomainError('row-chunk-invalid', `row chunk: column ${plain.columns[j]} mixes numbers and text`);
    if (strings === 0) return 'number';
    return distinct.size <= Math.max(1, plain.rows.length / 4) ? 'dictionary' : 'text';
  });
}

/** Scaled int32 numbers: up to this many decimals (10^SCALED_MAX is an exact double). */
const SCALED_MAX = 9;
const POW10 = Array.from({ length: SCALED_MAX + 1 }, (_, i) => 10 ** i);
const INT32_MAX = 2 ** 31 - 1;

/** Typed-array views read and write the machine's byte order: v2's little-endian framing needs a little-endian machine. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const codeWidth = (entries: number): 1 | 2 | 4 => (entries <= 256 ? 1 : entries <= 65536 ? 2 : 4);

/** A growable byte run (text), written without a string per value for ASCII. */
class ByteRun {
  buf = Buffer.alloc(1 << 12);
  len = 0;

  /** Append `s` as UTF-8 (a lone surrogate becomes U+FFFD, as the sandbox always stored it). */
  add(s: string): void {
    if (this.len + 3 * s.length > this.buf.length) this.grow(this.len + 3 * s.length);
    const buf = this.buf;
    let o = this.len;
    for (let k = 0; k < s.length; k++) {
      const c = s.charCodeAt(k);
      if (c >= 0x80) {
        this.len += buf.write(s, this.len, 'utf8');
        return;
      }
      buf[o++] = c;
    }
    this.len = o;
  }

  private grow(need: number): void {
    const grown = Buffer.alloc(Math.max(need, 2 * this.buf.length));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf.fill(0, 0, this.len);
    this.buf = grown;
  }

  wipe(): void {
    this.buf.fill(0, 0, this.len);
    this.len = 0;
  }
}

/** One column being written: its null bitmap and values (grown with the rows). */
class ColumnBuilder {
  nulls = new Uint8Array(1 << 9);
  values = new Float64Array(0);
  offsets = new Uint32Array(0);
  codes = new Uint32Array(0);
  readonly run = new ByteRun();
  readonly dictionary = new Map<string, number>();
  readonly entries = new ByteRun();
  entryOffsets: number[] = [0];

  constructor(
    readonly name: string,
    readonly encoding: ColumnEncoding,
  ) {
    if (encoding === 'number') this.values = new Float64Array(1 << 12);
    else if (encoding === 'text') this.offsets = new Uint32Array((1 << 12) + 1);
    else this.codes = new Uint32Array(1 << 12);
  }

  ensure(rows: number): void {
    if (rows > this.nulls.length * 8) this.nulls = grown(this.nulls, Math.max(rows >> 2, this.nulls.length * 2));
    if (this.encoding === 'number' && rows > this.values.length) this.values = grown(this.values, Math.max(rows, 2 * this.values.length));
    if (this.encoding === 'text' && rows + 1 > this.offsets.length) this.offsets = grown(this.offsets, Math.max(rows + 1, 2 * this.offsets.length));
    if (this.encoding === 'dictionary' && rows > this.codes.length) this.codes = grown(this.codes, Math.max(rows, 2 * this.codes.length));
  }

  /** Set row r (the rows before it set); false when the value does not fit the column's encoding. */
  set(r: number, v: string | number | null): boolean {
    if (v === null) {
      this.nulls[r >> 3]! |= 1 << (r & 7);
      if (this.encoding === 'text') this.offsets[r + 1] = this.run.len;
      return true;
    }
    if (this.encoding === 'number') {
      if (typeof v !== 'number') return false;
      this.values[r] = v;
      return true;
    }
    if (typeof v !== 'string') return false;
    if (this.encoding === 'text') {
      this.run.add(v);
      this.offsets[r + 1] = this.run.len;
      return true;
    }
    let code = this.dictionary.get(v);
    if (code === undefined) {
      this.dictionary.set(v, (code = this.dictionary.size));
      this.entries.add(v);
      this.entryOffsets.push(this.entries.len);
    }
    this.codes[r] = code;
    return true;
  }

  /** The smallest decimal scale at which every value is an exact int32 over 10^scale (-1: none). */
  scale(rows: number): number {
    const v = this.values;
    for (let s = 0; s <= SCALED_MAX; s++) {
      const unit = POW10[s]!;
      let ok = true;
      for (let r = 0; r < rows && ok; r++) {
        const i = Math.round(v[r]! * unit);
        ok = Math.abs(i) <= INT32_MAX && i / unit === v[r] && !Object.is(v[r], -0);
      }
      if (ok) return s;
    }
    return -1;
  }

  /** The column's block size (after the bitmap and its padding) and its writer. */
  block(rows: number): { encoding: number; size: number; write: (out: Buffer, at: number) => void } {
    if (this.encoding === 'number') {
      const s = this.scale(rows);
      if (s >= 0) {
        return {
          encoding: ENCODING_SCALED,
          size: 4 + 4 * rows,
          write: (out, at) => {
            out[at] = s;
            const unit = POW10[s]!;
            const ints = new Int32Array(out.buffer, out.byteOffset + at + 4, rows);
            for (let r = 0; r < rows; r++) ints[r] = Math.round(this.values[r]! * unit);
          },
        };
      }
      return { encoding: ENCODING_NUMBER, size: 8 * rows, write: (out, at) => Buffer.from(this.values.buffer, 0, 8 * rows).copy(out, at) };
    }
    if (this.encoding === 'text') {
      return {
        encoding: ENCODING_TEXT,
        size: 4 * (rows + 1) + this.run.len,
        write: (out, at) => {
          Buffer.from(this.offsets.buffer, 0, 4 * (rows + 1)).copy(out, at);
          this.run.buf.copy(out, at + 4 * (rows + 1), 0, this.run.len);
        },
      };
    }
    const e = this.dictionary.size;
    const w = codeWidth(e);
    const head = 4 + 4 * (e + 1) + this.entries.len;
    const codesAt = head + ((4 - (head % 4)) % 4);
    return {
      encoding: ENCODING_DICTIONARY,
      size: codesAt + w * rows,
      write: (out, at) => {
        out.writeUInt32LE(e, at);
        for (let i = 0; i <= e; i++) out.writeUInt32LE(this.entryOffsets[i]!, at + 4 + 4 * i);
        this.entries.buf.copy(out, at + 4 + 4 * (e + 1), 0, this.entries.len);
        const c = at + codesAt;
        if (w === 1) for (let r = 0; r < rows; r++) out[c + r] = this.codes[r]!;
        else if (w === 2) new Uint16Array(out.buffer, out.byteOffset + c, rows).set(this.codes.subarray(0, rows));
        else Buffer.from(this.codes.buffer, 0, 4 * rows).copy(out, c);
      },
    };
  }

  reset(rows: number): void {
    this.nulls.fill(0);
    this.values.fill(0, 0, rows);
    this.offsets.fill(0, 0, rows + 1);
    this.codes.fill(0, 0, rows);
    this.run.wipe();
    this.entries.wipe();
    this.dictionary.clear();
    this.entryOffsets = [0];
  }
}

function grown<T extends Uint8Array | Uint32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  a.fill(0);
  return b;
}

const align = (x: number, to: number): number => x + ((to - (x % to)) % to);

/**
 * A v2 row chunk's plaintext written a batch of rows at a time (the owner's sealer; the same interface as
 * RowChunkWriter): each value checked as checkPlain checks it and put straight into its column's typed
 * arrays, so no row outlives its batch. Buffers reused chunk after chunk and zeroed between them.
 */
export class ColumnarRowChunkWriter {
  private readonly cols: ColumnBuilder[];
  private out = Buffer.alloc(0);
  private outLen = 0;
  rows = 0;

  constructor(
    readonly columns: string[],
    encodings: readonly ColumnEncoding[],
  ) {
    checkColumns(columns);
    if (!LITTLE_ENDIAN) throw new DomainError('row-chunk-invalid', 'v2 row chunks are written on little-endian machines only');
    if (encodings.length !== columns.length) throw new DomainError('row-chunk-invalid', 'row chunk: one encoding per column');
    if (columns.some((c) => utf8(c).length > 255 || c.length === 0) || new Set(columns).size !== columns.length) {
      throw new DomainError('row-chunk-invalid', 'row chunk: column names must be distinct, 1–255 bytes');
    }
    if (columns.length > 0xffff) throw new DomainError('row-chunk-invalid', 'row chunk: too many columns');
    this.cols = columns.map((c, j) => new ColumnBuilder(c, encodings[j]!));
  }

  /** Bytes of values written so far (an estimate of the plaintext's size). */
  get bytes(): number {
    let n = 0;
    for (const c of this.cols) n += c.encoding === 'number' ? 8 * this.rows : c.encoding === 'text' ? c.run.len + 4 * this.rows : this.rows;
    return n;
  }

  /** Append rows (each checked by checkRow, and each value against its column's encoding). */
  addRows(rows: readonly (readonly unknown[])[]): void {
    if (rows.length === 0) return;
    for (let r = 0; r < rows.length; r++) checkRow(rows[r], this.columns.length, this.rows + r);
    const end = this.rows + rows.length;
    if (end > 0xffffffff) throw new DomainError('row-chunk-invalid', 'row chunk: too many rows');
    for (const c of this.cols) c.ensure(end);
    for (let j = 0; j < this.cols.length; j++) {
      const c = this.cols[j]!;
      for (let r = 0; r < rows.length; r++) {
        if (!c.set(this.rows + r, rows[r]![j] as string | number | null)) {
          throw new DomainError('row-chunk-invalid', `row chunk: row ${this.rows + r} holds a value column ${c.name} (${c.encoding}) cannot hold`);
        }
      }
    }
    this.rows = end;
  }

  /** The finished plaintext: a view of the writer's buffer, valid until `reset`. */
  finish(): Uint8Array {
    const n = this.rows;
    const names = this.cols.map((c) => utf8(c.name));
    const bitmap = align((n + 7) >> 3, 8);
    const blocks = this.cols.map((c) => c.block(n));
    let size = align(V2_HEADER + names.reduce((a, x) => a + 2 + x.length, 0), 8);
    for (const bl of blocks) size += bitmap + align(bl.size, 8);
    if (size > this.out.length) {
      this.out.fill(0);
      this.out = Buffer.alloc(size);
    }
    const out = this.out;
    out.fill(0, 0, size);
    out.set(V2_MAGIC, 0);
    out[4] = 2;
    out.writeUInt32LE(n, 8);
    out.writeUInt16LE(this.cols.length, 12);
    let at = V2_HEADER;
    for (let j = 0; j < this.cols.length; j++) {
      out[at++] = names[j]!.length;
      out.set(names[j]!, at);
      at += names[j]!.length;
      out[at++] = blocks[j]!.encoding;
    }
    at = align(at, 8);
    for (let j = 0; j < this.cols.length; j++) {
      const c = this.cols[j]!;
      Buffer.from(c.nulls.buffer, 0, (n + 7) >> 3).copy(out, at);
      at += bitmap;
      blocks[j]!.write(out, at);
      at += align(blocks[j]!.size, 8);
    }
    this.outLen = size;
    return out.subarray(0, size);
  }

  /** Start the next chunk (the previous plaintext and every value buffer zeroed). */
  reset(): void {
    this.out.fill(0, 0, this.outLen);
    this.outLen = 0;
    for (const c of this.cols) c.reset(this.rows);
    this.rows = 0;
  }
}
