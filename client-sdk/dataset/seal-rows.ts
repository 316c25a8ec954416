import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import type { BundleLayout } from '../../formats/manifest.js';
import {
  type ColumnEncoding,
  ColumnarRowChunkWriter,
  ROW_CHUNK_FORMAT,
  type RowChunkFormat,
  type RowChunkKey,
  RowChunkWriter,
  encodeSealedRowChunk,
  newRowChunkKey,
  rowChunkAad,
  sealRowChunkWithKey,
} from '../../formats/row-chunk.js';
import { type CsvIssue, RowValidator, type RowValue, byteIssue, csvParseFailure, locateBadByte } from './csv-check.js';
import { firstBadByte } from './csv-bytes.js';
import { RecordEnds, segmentRecords } from './csv-split.js';
import { type KeySlot, takeKey } from './key-slot.js';
import { SegmentTotals, totalsPlan } from './he-totals.js';

/**
 * One row chunk's worth of sealing, the same code on the sealer's thread (streamed CSV) and on the sealing
 * workers (a byte range of the CSV split at line boundaries): validate each record against the schema, add
 * its HE column values into the segment's partition totals, keep its row values, then seal them as row chunk
 * `index` (formats/row-chunk.ts — one implementation of that format) and write the blob.
 */

export interface RowSealContext {
  schema: DatasetSchema;
  layout: Pick<BundleLayout, 'partitionBy' | 'columns'>;
  bundleId: string;
  /** the enclave's SM2 unwrap public key (raw point bytes) */
  unwrapKey: Uint8Array;
  blobDir: string;
  /** the row chunks' plaintext format (default ROW_CHUNK_FORMAT, v2; v1 only to make old-style bundles in tests and benches) */
  rowFormat?: RowChunkFormat;
}

/**
 * Each column's v2 encoding, from the schema: numeric columns as numbers, dimensions (a closed set of
 * declared values, sealed as their spelling) as dictionary codes, everything else as text.
 */
export function rowChunkEncodings(schema: DatasetSchema): ColumnEncoding[] {
  return schema.columns.map((c) => (c.role === 'dimension' ? 'dictionary' : c.type === 'int' || c.type.startsWith('decimal') ? 'number' : 'text'));
}

export interface SealedSegment {
  /** valid records in the segment (all of them when `errors` is empty) */
  rows: number;
  /** the sealed row chunk (absent when the segment had errors or no rows) */
  blob?: { sm3: string; size: number };
  totals: { keys: number[][]; sums: Float64Array };
  errors: CsvIssue[];
}

const WRITE_BATCH = 2048;

export class RowSealer {
  private readonly validator: RowValidator;
  private readonly writer: RowChunkWriter | ColumnarRowChunkWriter;
  /** rows not yet in the writer's text (moved over a batch at a time) */
  private pending: RowValue[][] = [];
  private totals: SegmentTotals;
  /** raw characters buffered (bounds a chunk's JSON size) */
  chars = 0;
  errors: CsvIssue[] = [];

  constructor(private readonly ctx: RowSealContext) {
    this.validator = new RowValidator(ctx.schema);
    const names = ctx.schema.columns.map((c) => c.name);
    this.writer = (ctx.rowFormat ?? ROW_CHUNK_FORMAT) === 1 ? new RowChunkWriter(names) : new ColumnarRowChunkWriter(names, rowChunkEncodings(ctx.schema));
    this.totals = new SegmentTotals(totalsPlan(ctx.schema, ctx.layout));
  }

  get rows(): number {
    return this.writer.rows + this.pending.length;
  }

  /** Validate and buffer one record (`row` numbers data rows from 1). After the first error nothing more is kept. */
  add(record: string[], row: number): void {
    let chars = 0;
    for (let i = 0; i < record.length; i++) chars += record[i]!.length + 4;
    const parsed = this.validator.parseRowInPlace(record, row, this.errors);
    if (!parsed || this.errors.length) return;
    this.totals.add(parsed.codes, parsed.measures);
    // into the chunk's columns a batch at a time: no array of all the chunk's rows kept, the values die young
    this.pending.push(parsed.values);
    if (this.pending.length === WRITE_BATCH) this.writePending();
    this.chars += chars;
  }

  private writePending(): void {
    this.writer.addRows(this.pending);
    this.pending = [];
  }

  /**
   * Seal what is buffered as row chunk `index`, write it, and start a new segment. `dataKey`: the chunk's
   * key made ahead by the caller (the sealer's thread, so the workers never run SM2), or a fresh one here.
   */
  seal(index: number, dataKey?: RowChunkKey): SealedSegment {
    const rows = this.rows;
    if (this.errors.length === 0) this.writePending();
    this.pending = [];
    const totals = this.totals.snapshot();
    const errors = this.errors;
    this.chars = 0;
    this.errors = [];
    this.totals = new SegmentTotals(totalsPlan(this.ctx.schema, this.ctx.layout));
    try {
      if (errors.length || rows === 0) return { rows, totals, errors };
      const plain = this.writer.finish();
      const key = dataKey ?? newRowChunkKey(this.ctx.unwrapKey);
      dataKey = undefined; // used (and zeroed) once
      const bytes = encodeSealedRowChunk(sealRowChunkWithKey(plain, key, rowChunkAad(this.ctx.bundleId, index)));
      const sm3 = sm3Hex(bytes);
      // synchronous: a blob per 32k rows, and the write is not what costs here
      writeFileSync(join(this.ctx.blobDir, sm3), bytes);
      return { rows, blob: { sm3, size: bytes.length }, totals, errors };
    } finally {
      dataKey?.key.fill(0);
      this.writer.reset();
    }
  }
}

/** A sealing worker's task: CSV bytes holding whole records, cut by csv-split.ts from a file its plan accepted. */
export interface SealSegmentTask {
  ctx: RowSealContext;
  bytes: Uint8Array;
  /** data row number of the first record */
  firstRow: number;
  /** the file's byte offset of `bytes` (named when a byte breaks the rules) */
  offset?: number;
  index: number;
  maxErrors: number;
  /** where the sealer's thread puts row chunk `index`'s data key after posting the task (key-slot.ts; workers); absent: made here */
  keySlot?: KeySlot;
}

/** ~2,000 records of a typical table per piece */
const PIECE_BYTES = 64 * 1024;

let cached: { bundleId: string; sealer: RowSealer } | undefined;

export type SegmentFailure = { failed: { type: string; message: string; detail?: Record<string, unknown> } };

export function sealSegment(task: SealSegmentTask): SealedSegment | SegmentFailure {
  try {
    if (cached?.bundleId !== task.ctx.bundleId) cached = { bundleId: task.ctx.bundleId, sealer: new RowSealer(task.ctx) };
    const sealer = cached.sealer;
    let bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
    // the bytes are the data (csv-bytes.ts): the records before an offending byte are sealed as the streamed path
    // would, then the byte is the segment's error; checked whole first, natively, so the fast path stays fast
    const bad = firstBadByte(bytes, task.offset ?? 0);
    let badIssue: CsvIssue | undefined;
    if (bad) {
      const at = locateBadByte(bytes, bad.index, task.firstRow);
      badIssue = byteIssue(bad.problem, at.row, at.field, task.ctx.schema.columns.map((c) => c.name));
      let row = task.firstRow;
      for (const record of at.before) if (sealer.errors.length < task.maxErrors) sealer.add(record, row++);
      bytes = bytes.subarray(0, 0);
    }
    // parsed in pieces of whole records, so that a piece's records die young rather than all 32k of them
    // surviving into the old generation (the bytes hold whole records: csv-split.ts cut them)
    const ends = new RecordEnds();
    ends.reset(bytes);
    let row = task.firstRow;
    for (let from = 0; from < bytes.length && sealer.errors.length < task.maxErrors; ) {
      const end = ends.next(Math.min(from + PIECE_BYTES, bytes.length - 1));
      const to = end === -1 ? bytes.length : end + 1;
      let records: string[][];
      try {
        records = segmentRecords(bytes.subarray(from, to));
      } catch (e) {
        // quoting csv-parse refuses: the piece starts at a record's start, where the whole file's parse would be
        throw csvParseFailure(e, row);
      }
      for (let i = 0; i < records.length; i++) {
        sealer.add(records[i]!, row++);
        if (sealer.errors.length >= task.maxErrors) break;
      }
      from = to;
    }
    if (badIssue) sealer.errors.push(badIssue);
    return sealer.seal(task.index, task.keySlot ? takeKey(task.keySlot) : undefined);
  } catch (e) {
    if (task.keySlot) new Uint8Array(task.keySlot).fill(0);
    cached = undefined;
    if (e instanceof DomainError) return { failed: { type: e.type, message: e.message, detail: e.detail } };
    return { failed: { type: 'seal-failed', message: `sealing failed: ${e instanceof Error ? e.message : String(e)}` } };
  }
}
