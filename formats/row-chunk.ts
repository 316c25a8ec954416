import { DomainError } from '../contracts/errors.js';
import { fromUtf8, newBoxKey, openBox, sealBox, sm2Decrypt, sm2Encrypt, utf8 } from '../crypto/index.js';

/**
 * Row chunks: every full row of a dataset, sealed for the enclave's SQL sandbox.
 * Each chunk has its own random 32-byte data key (sealBox = SM4-CTR + HMAC-SM3, encrypt-then-MAC); the key
 * is wrapped with SM2 encryption (GB/T 32918.4, C1C3C2) to the enclave's unwrap key. The aad binds the
 * chunk to its bundle and position so chunks cannot be swapped or replayed into another dataset.
 *
 * Blob layout (one file in the content-addressed blob store):
 *   "SYRC" ‖ version(1) ‖ u16be wrappedKey length ‖ wrappedKey ‖ box
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

export function sealRowChunk(plain: RowChunkPlain, enclaveUnwrapPublicKey: Uint8Array, aad: Uint8Array): SealedRowChunk {
  checkPlain(plain);
  return sealRowChunkPlaintext(utf8(JSON.stringify(plain)), enclaveUnwrapPublicKey, aad);
}

/**
 * Seal a row chunk's plaintext bytes as they are: the JSON text of a RowChunkPlain, as sealRowChunk or a
 * RowChunkWriter produces it (callers do not pass anything else — the enclave checks the shape on open).
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
 * parse the JSON and check only its outer shape (columns are strings, rows an array) — callers that load
 * every value check each one as they go (the SQL sandbox), the rest call checkPlain via openRowChunk.
 * The decrypted bytes are zeroed here; the key stays the caller's to zero. `label` names the chunk in errors.
 */
export function openRowChunkBox(dataKey: Uint8Array, box: Uint8Array, aad: Uint8Array, label = 'row chunk'): { columns: string[]; rows: unknown[] } {
  return parseRowChunk(openRowChunkBytes(dataKey, box, aad, label), label);
}

/** Authenticate and decrypt a row chunk's box: its plaintext bytes, which the caller zeroes after use. */
export function openRowChunkBytes(dataKey: Uint8Array, box: Uint8Array, aad: Uint8Array, label = 'row chunk'): Uint8Array {
  try {
    return openBox(dataKey, box, aad);
  } catch {
    throw new DomainError('row-chunk-invalid', `${label} failed authentication (tampered, or bound to another bundle/position)`);
  }
}

/** Parse an opened row chunk's plaintext ({ columns, rows }); the bytes are zeroed whatever happens. */
export function parseRowChunk(bytes: Uint8Array, label = 'row chunk'): { columns: string[]; rows: unknown[] } {
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
 * A row chunk's plaintext written a batch of rows at a time: exactly the UTF-8 bytes of
 * JSON.stringify({ columns, rows }), with every value checked as checkPlain checks it. The owner's sealer
 * uses it so that a chunk's rows are not all held as arrays until one stringify at the end: a batch's
 * values die young instead of surviving into the old generation (garbage collection was ~20% of sealing's
 * CPU). One buffer, reused chunk after chunk.
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
