import { createReadStream } from 'node:fs';

/**
 * Splitting a CSV file into byte ranges of whole lines, so the sealing workers can each parse one (csv-parse
 * on both cores). Only safe when a line IS a record, which `splitPlan` checks by reading the file once:
 * - no quote character anywhere (so no quoted newline, delimiter or escaped quote can span a split);
 * - no blank line (csv-parse skips those, which would shift the row numbers errors name);
 * - one line ending throughout: `\n`, or `\r\n` on every line (csv-parse detects the record delimiter once).
 * Any other file is sealed by the single streamed parse. Memory stays bounded: both passes stream.
 */

const LF = 10;
const CR = 13;
const QUOTE = 0x22;
/** a "header" longer than this is left to the streamed parse (keeps this pass's memory bounded) */
const MAX_HEADER_BYTES = 1 << 24;

export interface SplitPlan {
  /** the header line's bytes (with its line ending) */
  header: Uint8Array;
  /** byte offset of the first data line */
  dataStart: number;
}

/**
 * The check by whole-buffer searches (memchr/memmem in native code): no quote, no CR (then every line ends
 * in `\n`), no `\n\n` — also across read boundaries and at the very start. ~10× cheaper than visiting every
 * line ending, which is what a file with any CR still gets (`splitPlanCountingLines`). `readBytes`: tests only.
 */
export async function splitPlan(path: string, readBytes = 1 << 20): Promise<SplitPlan | undefined> {
  let offset = 0;
  let headerEnd = -1;
  const head: Buffer[] = [];
  // the last bytes before the current chunk; at the start a line ending, so that a file opening with one is blank
  let before = Buffer.of(LF);
  for await (const chunk of createReadStream(path, { highWaterMark: readBytes }) as AsyncIterable<Buffer>) {
    if (chunk.indexOf(QUOTE) !== -1) return undefined;
    if (chunk.indexOf(CR) !== -1) return splitPlanCountingLines(path, readBytes);
    if (chunk.indexOf(LFLF) !== -1 || Buffer.concat([before, chunk.subarray(0, 1)]).indexOf(LFLF) !== -1) return undefined;
    if (headerEnd === -1) {
      const lf = chunk.indexOf(LF);
      if (lf !== -1) headerEnd = offset + lf + 1;
      head.push(chunk.subarray(0, lf === -1 ? chunk.length : lf + 1));
      if (headerEnd === -1 && offset > MAX_HEADER_BYTES) return undefined;
    }
    before = Buffer.from(chunk.subarray(chunk.length - 1));
    offset += chunk.length;
  }
  if (headerEnd === -1) return undefined;
  return { header: Buffer.concat(head), dataStart: headerEnd };
}
const LFLF = Buffer.of(LF, LF);

/** The same check visiting every line ending (for files with CRs: `\r\n` on every line, no blank line). */
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
  for await (const chunk of createReadStream(path, { highWaterMark: readBytes }) as AsyncIterable<Buffer>) {
    if (chunk.indexOf(QUOTE) !== -1) return undefined;
    for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) cr++;
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      const b1 = i > 0 ? chunk[i - 1]! : prev1;
      const b2 = i > 1 ? chunk[i - 2]! : i === 1 ? prev1 : prev2;
      if (b1 === CR) crlf++;
      // a blank line: the file starts with a line ending, or one line ending follows another
      if (b1 === -1 || b1 === LF || (b1 === CR && (b2 === LF || b2 === -1))) return undefined;
      if (lf++ === 0) headerEnd = offset + i + 1;
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
  if (headerEnd === -1) return undefined;
  if (cr !== 0 && !(cr === crlf && crlf === lf)) return undefined;
  return { header: Buffer.concat(head), dataStart: headerEnd };
}

/**
 * The records of whole lines of a file `splitPlan` accepted (no quote character, no blank line, one line
 * ending throughout). In such a file a field never contains a delimiter or a line break (RFC 4180 §2.6: only
 * a quoted field can), so a record is its line split at commas: exactly what csv-parse returns for the same
 * bytes (a fast-check differential test in test/sdk/seal-split.test.ts holds the two together), at a quarter
 * of its cost — ~0.5 µs instead of ~2 µs for a 7-field row, where csv-parse's per-byte state machine was the
 * largest cost of sealing. Any other file never reaches this: it goes the streamed csv-parse way.
 */
export function unquotedRecords(bytes: Uint8Array): string[][] {
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

/** Segments of at most `maxLines` lines (and about `maxBytes` bytes; a longer single line stays whole), in file order. */
export async function* lineSegments(path: string, start: number, maxLines: number, maxBytes: number): AsyncGenerator<{ bytes: Uint8Array; lines: number }> {
  let parts: Buffer[] = [];
  let partBytes = 0;
  let lines = 0;
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
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      lines++;
      if (lines === maxLines || partBytes + (i + 1 - from) >= maxBytes) {
        parts.push(chunk.subarray(from, i + 1));
        partBytes += i + 1 - from;
        yield { bytes: take(), lines };
        lines = 0;
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
    yield { bytes, lines: lines + (last[last.length - 1] === LF ? 0 : 1) };
  }
}
