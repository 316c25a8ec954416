import { createReadStream } from 'node:fs';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { CSV_PARSE_OPTIONS } from './csv-check.js';

/**
 * Splitting a CSV file into byte ranges of whole records, so the sealing workers can each parse one (on both
 * cores). Only safe when the file can be cut at line endings outside quotes, which `splitPlan` checks by
 * reading the file once:
 * - an even number of quote characters before the end of the file: the record ends are then exactly the line
 *   endings with an even number of quotes before them (RFC 4180 §2.5–2.7: a quote opens or closes a quoted
 *   field, or is doubled inside one). A file whose quoting is wrong anyway fails to parse in the segment where
 *   the whole-file parse would fail (segments start where it would be at a record's start), and the error
 *   names the same row;
 * - no blank line, not even inside a quoted field (csv-parse skips blank lines, which would shift the row
 *   numbers errors name);
 * - one line ending throughout: `\n`, or `\r\n` on every line (csv-parse detects the record delimiter once
 *   per parse).
 * Any other file is sealed by the single streamed parse. Memory stays bounded: both passes stream.
 */

const LF = 10;
const CR = 13;
const QUOTE = 0x22;
/** a "header" longer than this is left to the streamed parse (keeps this pass's memory bounded) */
const MAX_HEADER_BYTES = 1 << 24;

export interface SplitPlan {
  /** the header record's bytes (with its line ending) */
  header: Uint8Array;
  /** byte offset of the first data record */
  dataStart: number;
}

/**
 * Finds the line endings outside quotes, one buffer at a time, carrying the quote parity across buffers.
 * Without a quote in sight it is one native `indexOf` per line ending.
 */
export class RecordEnds {
  inQuotes = false;
  private chunk: Uint8Array = new Uint8Array(0);
  private nextQuote = -1;

  /** Scan `chunk` next (the bytes after the previous chunk's). */
  reset(chunk: Uint8Array): void {
    this.chunk = chunk;
    this.nextQuote = chunk.indexOf(QUOTE);
  }

  /** Count the quotes to the end of the chunk (the parity the next chunk starts with). */
  finishChunk(): void {
    this.next(this.chunk.length);
  }

  /** The first record-ending `\n` at or after `from` (-1: none in this chunk), counting every quote passed since the last call. */
  next(from: number): number {
    const chunk = this.chunk;
    for (let i = from; ; ) {
      const lf = chunk.indexOf(LF, i);
      const end = lf === -1 ? chunk.length : lf;
      while (this.nextQuote !== -1 && this.nextQuote < end) {
        this.inQuotes = !this.inQuotes;
        this.nextQuote = chunk.indexOf(QUOTE, this.nextQuote + 1);
      }
      if (lf === -1 || !this.inQuotes) return lf;
      i = lf + 1;
    }
  }
}

/**
 * The check by whole-buffer searches (memchr/memmem in native code): no CR (then every line ends in `\n`), no
 * `\n\n` — also across read boundaries and at the very start — and quotes only counted. ~10× cheaper than
 * visiting every line ending, which is what a file with any CR still gets (`splitPlanCountingLines`).
 * `readBytes`: tests only.
 */
export async function splitPlan(path: string, readBytes = 1 << 20): Promise<SplitPlan | undefined> {
  let offset = 0;
  let headerEnd = -1;
  const head: Buffer[] = [];
  const ends = new RecordEnds();
  // the last bytes before the current chunk; at the start a line ending, so that a file opening with one is blank
  let before = Buffer.of(LF);
  for await (const chunk of createReadStream(path, { highWaterMark: readBytes }) as AsyncIterable<Buffer>) {
    if (chunk.indexOf(CR) !== -1) return splitPlanCountingLines(path, readBytes);
    if (chunk.indexOf(LFLF) !== -1 || Buffer.concat([before, chunk.subarray(0, 1)]).indexOf(LFLF) !== -1) return undefined;
    ends.reset(chunk);
    if (headerEnd === -1) {
      const lf = ends.next(0);
      if (lf !== -1) headerEnd = offset + lf + 1;
      head.push(chunk.subarray(0, lf === -1 ? chunk.length : lf + 1));
      if (headerEnd === -1 && offset > MAX_HEADER_BYTES) return undefined;
    }
    ends.finishChunk();
    before = Buffer.from(chunk.subarray(chunk.length - 1));
    offset += chunk.length;
  }
  if (headerEnd === -1 || ends.inQuotes) return undefined;
  return { header: Buffer.concat(head), dataStart: headerEnd };
}
const LFLF = Buffer.of(LF, LF);

/** The same check visiting every line ending (for files with CRs: `\r\n` on every line, inside quotes too; no blank line). */
async function splitPlanCountingLines(path: string, readBytes: number): Promise<SplitPlan | undefined> {
  let offset = 0;
  let prev1 = -1; // the byte before the current chunk
  let prev2 = -1;
  let lf = 0;
  let crlf = 0;
  let cr = 0;
  let headerEnd = -1;
  let headerDone = false;
  const head: Buffer[] = [];
  const ends = new RecordEnds();
  for await (const chunk of createReadStream(path, { highWaterMark: readBytes }) as AsyncIterable<Buffer>) {
    ends.reset(chunk);
    if (headerEnd === -1) {
      const end = ends.next(0);
      if (end !== -1) headerEnd = offset + end + 1;
    }
    ends.finishChunk();
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) cr++;
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const b1 = i > 0 ? chunk[i - 1]! : prev1;
      const b2 = i > 1 ? chunk[i - 2]! : i === 1 ? prev1 : prev2;
      if (b1 === CR) crlf++;
      // a blank line: the file starts with a line ending, or one line ending follows another
      if (b1 === -1 || b1 === LF || (b1 === CR && (b2 === LF || b2 === -1))) return undefined;
      lf++;
    }
    if (!headerDone) {
      head.push(chunk.subarray(0, headerEnd === -1 ? chunk.length : headerEnd - offset));
      headerDone = headerEnd !== -1;
      if (!headerDone && offset > MAX_HEADER_BYTES) return undefined;
    }
    prev2 = chunk.length > 1 ? chunk[chunk.length - 2]! : prev1;
    prev1 = chunk[chunk.length - 1]!;
    offset += chunk.length;
  }
  if (headerEnd === -1 || ends.inQuotes) return undefined;
  if (cr !== 0 && !(cr === crlf && crlf === lf)) return undefined;
  return { header: Buffer.concat(head), dataStart: headerEnd };
}

/**
 * The records in `bytes` — whole records of a file `splitPlan` accepted — as csv-parse returns them (the
 * streamed path's options, without the BOM: a segment never starts the file). Bytes without a quote character
 * are split at line endings and commas (`unquotedRecords`); bytes with one go through csv-parse, which throws
 * on broken quoting (`csvParseIssue` names the row).
 */
export function segmentRecords(bytes: Uint8Array): string[][] {
  if (bytes.indexOf(QUOTE) === -1) return unquotedRecords(bytes);
  return parseCsvSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), SEGMENT_PARSE_OPTIONS) as string[][];
}
const SEGMENT_PARSE_OPTIONS = { ...CSV_PARSE_OPTIONS, bom: false } as const;

/**
 * Records without any quote character, a record per line (no blank line, one line ending throughout). A field
 * there never contains a delimiter or a line break (RFC 4180 §2.6: only a quoted field can), so a record is
 * its line split at commas: exactly what csv-parse returns for the same bytes (a fast-check differential test
 * in test/sdk/seal-split.test.ts holds the two together), at a quarter of its cost — ~0.5 µs instead of ~2 µs
 * for a 7-field row, where csv-parse's per-byte state machine was the largest cost of sealing.
 */
function unquotedRecords(bytes: Uint8Array): string[][] {
  const lines = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the last line's ending
  const records = new Array<string[]>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    // a CR only ever ends a line here (`\r\n` on every line, or no CR at all)
    records[i] = (line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line).split(',');
  }
  return records;
}

/**
 * Segments of at most `maxRecords` records (and about `maxBytes` bytes; a longer single record stays whole), in
 * file order, cut only at line endings outside quotes. `start` must be a record's start (`dataStart`).
 */
export async function* recordSegments(path: string, start: number, maxRecords: number, maxBytes: number): AsyncGenerator<{ bytes: Uint8Array; records: number }> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let records = 0;
  const ends = new RecordEnds();
  const take = (): Uint8Array => {
    // a fresh ArrayBuffer: it is transferred to a worker, and stream chunks may share pooled memory
    const out = new Uint8Array(partBytes);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    parts = [];
    partBytes = 0;
    return out;
  };
  for await (const chunk of createReadStream(path, { start, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let from = 0;
    ends.reset(chunk);
    for (let i = ends.next(0); i !== -1; i = ends.next(i + 1)) {
      records++;
      if (records === maxRecords || partBytes + (i + 1 - from) >= maxBytes) {
        parts.push(chunk.subarray(from, i + 1));
        partBytes += i + 1 - from;
        yield { bytes: take(), records };
        records = 0;
        from = i + 1;
      }
    }
    if (from < chunk.length) {
      parts.push(chunk.subarray(from));
      partBytes += chunk.length - from;
    }
  }
  if (partBytes > 0) {
    const last = parts[parts.length - 1]!;
    const bytes = take();
    yield { bytes, records: records + (last[last.length - 1] === LF ? 0 : 1) };
  }
}
