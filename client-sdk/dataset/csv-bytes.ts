import { isUtf8 } from 'node:buffer';

/**
 * The bytes of an owner's CSV are the data: a CSV is UTF-8 text without NUL bytes, and a byte-order mark may
 * only open the file. Anything else is refused, never decoded into replacement characters (two different byte
 * strings would then seal as the same identifier or value). The checks are native whole-buffer ones
 * (`buffer.isUtf8`, `indexOf`), so they cost next to nothing beside parsing; only when one fails does a JS loop
 * look for the exact byte.
 */

export type ByteProblemKind = 'nul' | 'utf8' | 'bom';

export interface ByteProblem {
  kind: ByteProblemKind;
  /** offset of the offending byte (of the first byte of a broken sequence) from the start of the input */
  offset: number;
  byte: number;
}

const BOM = Buffer.of(0xef, 0xbb, 0xbf);
const EMPTY = new Uint8Array(0);

/**
 * Index of the first byte in `b` that starts an ill-formed UTF-8 sequence (Unicode 15, table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or -1. `allowCut`: a sequence cut short by the end is fine.
 */
export function firstInvalidUtf8(b: Uint8Array, allowCut = false): number {
  const n = b.length;
  for (let i = 0; i < n; ) {
    const x = b[i]!;
    if (x < 0x80) {
      i++;
      continue;
    }
    let len: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (x >= 0xc2 && x <= 0xdf) len = 2;
    else if (x === 0xe0) (len = 3), (lo = 0xa0);
    else if (x === 0xed) (len = 3), (hi = 0x9f);
    else if (x >= 0xe1 && x <= 0xef) len = 3;
    else if (x === 0xf0) (len = 4), (lo = 0x90);
    else if (x === 0xf4) (len = 4), (hi = 0x8f);
    else if (x >= 0xf1 && x <= 0xf3) len = 4;
    else return i;
    for (let k = 1; k < len; k++) {
      if (i + k >= n) return allowCut ? -1 : i;
      const y = b[i + k]!;
      if (k === 1 ? y < lo || y > hi : y < 0x80 || y > 0xbf) return i;
    }
    i += len;
  }
  return -1;
}

/** Where a multi-byte sequence cut by the end of `b` starts (b.length when none is): it is checked with the next chunk. */
function cutTail(b: Uint8Array): number {
  const n = b.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const x = b[i]!;
    if (x < 0x80) return n;
    if (x >= 0xc0) return i + (x >= 0xf0 ? 4 : x >= 0xe0 ? 3 : 2) > n ? i : n;
  }
  return n;
}

const seqLen = (lead: number): number => (lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2);

/**
 * The byte rules over an input read in chunks, in order. `scan` returns the index in the chunk of the first
 * offending byte (-1: none) and records the first problem; `end` reports a sequence cut off by the end of input.
 * A sequence broken across two chunks is checked whole.
 */
export class CsvBytes {
  problem: ByteProblem | undefined;
  private offset = 0;
  private carry: Uint8Array = EMPTY;

  /** `start`: the input's offset of this chunk's first byte, when the chunks do not start at 0 (a segment of a file) */
  constructor(start = 0) {
    this.offset = start;
  }

  scan(bytes: Uint8Array): number {
    if (this.problem) return 0;
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const base = this.offset;
    let from = 0;
    if (this.carry.length) {
      const carried = this.carry;
      const need = seqLen(carried[0]!) - carried.length;
      const piece = Buffer.concat([carried, chunk.subarray(0, need)]);
      const at = base - carried.length;
      if (piece.length < carried.length + need) {
        // still cut short (a chunk of one or two bytes)
        if (firstInvalidUtf8(piece, true) !== -1) return this.fail('utf8', at, piece[0]!, 0);
        this.carry = piece;
        this.offset += chunk.length;
        return -1;
      }
      if (!isUtf8(piece)) return this.fail('utf8', at, piece[0]!, 0);
      if (at !== 0 && piece.equals(BOM)) return this.fail('bom', at, piece[0]!, 0);
      from = need;
    }
    const tail = cutTail(chunk);
    let bad = -1;
    let kind: ByteProblemKind = 'utf8';
    const body = chunk.subarray(from, Math.max(from, tail));
    if (!isUtf8(body)) bad = from + firstInvalidUtf8(body);
    const nul = chunk.indexOf(0, from);
    if (nul !== -1 && (bad === -1 || nul < bad)) (bad = nul), (kind = 'nul');
    let bom = chunk.indexOf(BOM, from);
    if (bom === 0 && base === 0) bom = chunk.indexOf(BOM, 3);
    if (bom !== -1 && (bad === -1 || bom < bad)) (bad = bom), (kind = 'bom');
    if (bad !== -1) return this.fail(kind, base + bad, chunk[bad]!, bad);
    this.carry = tail < chunk.length ? Buffer.from(chunk.subarray(tail)) : EMPTY; // a copy: the source may reuse its buffer
    this.offset += chunk.length;
    return -1;
  }

  /** The input ended: a sequence still cut short is a problem. True when the input has one (from `scan` or here). */
  end(): boolean {
    if (!this.problem && this.carry.length) this.fail('utf8', this.offset - this.carry.length, this.carry[0]!, 0);
    return this.problem !== undefined;
  }

  private fail(kind: ByteProblemKind, offset: number, byte: number, index: number): number {
    this.problem = { kind, offset, byte };
    return index;
  }
}

/** One chunk checked whole (its own input, e.g. a segment of a file cut at record ends): the first offending byte's index, or -1. */
export function firstBadByte(bytes: Uint8Array, start: number): { index: number; problem: ByteProblem } | undefined {
  const check = new CsvBytes(start);
  let index = check.scan(bytes);
  if (index === -1 && check.end()) index = bytes.length;
  return index === -1 ? undefined : { index, problem: check.problem! };
}

/**
 * Stands in for the first offending byte and everything after it: the reader parses the bytes before it and
 * this marker, so the record and field holding the byte come out of the one CSV parser (the marker is a NUL,
 * which can never be data once the rules hold).
 */
export const BAD_BYTE_MARK = '\u0000';
const MARK_BYTES = Buffer.from(BAD_BYTE_MARK);

/**
 * The input's chunks as they are, up to the first offending byte, which is replaced by the mark; nothing after
 * it is read (returning closes the source). Strings (object-mode sources) are taken as their UTF-8 bytes.
 */
export async function* guardBytes(input: AsyncIterable<Uint8Array | string>, check: CsvBytes, onBytes?: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    seen += chunk.length;
    onBytes?.(seen);
    const bad = check.scan(chunk);
    if (bad === -1) {
      yield chunk;
      continue;
    }
    if (bad > 0) yield chunk.subarray(0, bad);
    yield MARK_BYTES;
    return;
  }
  if (check.end()) yield MARK_BYTES;
}

export function describeByteProblem(p: ByteProblem): string {
  const hex = `0x${p.byte.toString(16).padStart(2, '0').toUpperCase()}`;
  if (p.kind === 'nul') return `holds a NUL byte (at byte offset ${p.offset}); a CSV is text`;
  if (p.kind === 'bom') return `holds a byte-order mark (U+FEFF, at byte offset ${p.offset}); only the file's first bytes may`;
  return `is not valid UTF-8 (byte ${hex} at byte offset ${p.offset}); save the file as UTF-8`;
}
