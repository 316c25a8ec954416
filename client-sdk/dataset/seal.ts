import { mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { Piscina } from 'piscina';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import { fromB64, sm2Fingerprint, sm2PublicKeyFromPem, sm3Hex } from '../../crypto/index.js';
import { type BundleManifest, type ChunkRef, withCommitment } from '../../formats/manifest.js';
import { ROW_CHUNK_FORMAT, type RowChunkFormat, newRowChunkKey } from '../../formats/row-chunk.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { packingFor, planLayout } from '../../he/layout.js';
import { BFV_PARAMS, type BfvParams } from '../../he/params.js';
import { HeContext } from '../../he/seal.js';
import { CSV_PARSE_OPTIONS, type CsvIssue, RowValidator, badByteAtParseError, badByteField, byteIssue, csvInvalid, csvParseFailure, guardedRecords, locateBadByte } from './csv-check.js';
import { CsvBytes, firstBadByte } from './csv-bytes.js';
import { type SplitPlan, recordSegments, splitPlan } from './csv-split.js';
import { BundleTotals, totalsPlan } from './he-totals.js';
import { failKey, giveKey, newKeySlot } from './key-slot.js';
import { type RowSealContext, RowSealer, type SealSegmentTask, type SealedSegment, type SegmentFailure, sealSegment } from './seal-rows.js';

/**
 * Owner-side sealing: CSV → sealed bundle directory on the owner's disk, streaming and chunked.
 *   <outDir>/manifest.json        the manifest with its SM3 commitment
 *   <outDir>/blobs/<sm3 hex>      every ciphertext and sealed row chunk, named by its SM3 hash
 * Measures go only into BFV ciphertexts (each partition's column totals, added up here and encrypted on
 * worker threads under the enclave's HE public key — he-totals.ts); full rows only into sealed row chunks
 * (keys wrapped to the enclave's SM2 unwrap key); level ≤ 2 dimension codes appear only as partition keys.
 * Nothing else leaves the owner's machine. A large CSV file that can be cut at its record ends is parsed and
 * sealed on all threads (csv-split.ts, seal-rows.ts); anything else in one streamed parse.
 */

/** The parts of the enclave's public info sealing needs (GET /v1/enclave gives all of it). */
export interface SealTarget {
  he: { paramsId: string; publicKey: string; publicKeyFingerprint: string };
  unwrap: { publicKeyPem: string; fingerprint: string };
}

export interface SealProgress {
  rows: number;
  ciphertexts: number;
  rowChunks: number;
  bytesWritten: number;
}

export interface SealOptions {
  input: string | Readable;
  schema: DatasetSchema;
  enclave: SealTarget;
  outDir: string;
  rowsPerChunk?: number;
  threads?: number;
  onProgress?: (p: SealProgress) => void;
  /** call onProgress every this many rows (default 50,000) and at the end */
  progressEvery?: number;
  maxErrors?: number;
  /** reuse an existing worker pool (the CLI and benches keep one warm) */
  evaluator?: HeEvaluator;
  /**
   * Parse a file input on `threads` worker threads, split at record boundaries (default: files ≥ 4 MiB).
   * Only files that can be cut at line endings outside quotes are split (csv-split.ts: no blank lines, one
   * line ending throughout, quotes balanced); others stream.
   */
  split?: boolean;
  /** the row chunks' plaintext format (default v2; v1 only to make bundles as older sealers did, for tests and benches) */
  rowFormat?: RowChunkFormat;
  /** the HE layout (default 2, partition totals packed into slots; 1 only to make bundles as older sealers did, for tests and benches) */
  heLayout?: 1 | 2;
}

export interface SealResult {
  manifest: BundleManifest;
  manifestPath: string;
  blobDir: string;
  /** encryptSeconds: the HE encryption after the last row (the evaluator's threads; part of `seconds`) */
  stats: SealProgress & { seconds: number; rowsPerSecond: number; encryptSeconds: number };
}

/** Raw CSV characters per row chunk before it is flushed early (bounds a chunk's plaintext: 3 bytes per UTF-16 unit at most, plus offsets). */
const MAX_CHUNK_CHARS = 8 * 1024 * 1024;

export const bundleBlobPath = (outDir: string, sm3: string): string => join(outDir, 'blobs', sm3);

/** Files smaller than this are sealed by the single streamed parse (starting worker threads costs more). */
const SPLIT_MIN_BYTES = 4 * 1024 * 1024;
const SEAL_WORKER = new URL('./seal-worker.mjs', import.meta.url).href;

/** How a sealing worker thread is started. */
export interface SealWorkerEntry {
  filename: string;
  name?: string;
  execArgv?: string[];
}
let sealWorkerEntry: Promise<SealWorkerEntry> | undefined;

/**
 * The sealing workers run seal-rows.ts bundled by esbuild into one plain ES module (its packages still
 * imported from node_modules), written once to node_modules/.cache/shuyu/ under its SM3, and started without
 * the parent's loader flags: a worker under tsx's loader spends ~0.7 CPU-s and 1–1.5 s (a loader thread per
 * worker, every module resolved and transformed through it) before its first row, a bundled one ~0.17 CPU-s
 * and ~0.25 s. The same source, built once per process; if anything fails, seal-worker.mjs (tsx) as before.
 */
export const sealWorker = (): Promise<SealWorkerEntry> =>
  // compiled (dist/): seal-rows.js is already plain JavaScript
  (sealWorkerEntry ??= import.meta.url.endsWith('.js')
    ? Promise.resolve({ filename: new URL('./seal-rows.js', import.meta.url).href, name: 'sealSegment', execArgv: [] })
    : bundleSealWorker().catch(() => ({ filename: SEAL_WORKER })));

async function bundleSealWorker(): Promise<SealWorkerEntry> {
  const entry = fileURLToPath(new URL('./seal-rows.ts', import.meta.url));
  if (!existsSync(entry)) throw new Error('no TypeScript source to bundle');
  const { build } = await import('esbuild');
  const out = await build({ entryPoints: [entry], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', write: false, logLevel: 'silent' });
  const code = out.outputFiles[0]!.contents;
  const dir = fileURLToPath(new URL('../../node_modules/.cache/shuyu/', import.meta.url));
  const file = join(dir, `seal-rows-${sm3Hex(code).slice(0, 32)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const part = `${file}.${process.pid}.part`;
    writeFileSync(part, code);
    renameSync(part, file); // atomic: a concurrent sealer sees the whole file or none
  }
  return { filename: pathToFileURL(file).href, name: 'sealSegment', execArgv: [] };
}

export async function sealDataset(opts: SealOptions): Promise<SealResult> {
  const started = performance.now();
  const schema = DatasetSchema.parse(opts.schema);
  const params = BFV_PARAMS[opts.enclave.he.paramsId];
  if (!params) throw new DomainError('he-params', `unknown HE parameter set ${opts.enclave.he.paramsId}`);
  const hePublicKey = fromB64(opts.enclave.he.publicKey);
  if (sm3Hex(hePublicKey) !== opts.enclave.he.publicKeyFingerprint) {
    throw new DomainError('enclave-key-mismatch', 'the HE public key does not match its published fingerprint');
  }
  const unwrapKey = sm2PublicKeyFromPem(opts.enclave.unwrap.publicKeyPem);
  if (sm2Fingerprint(unwrapKey) !== opts.enclave.unwrap.fingerprint) {
    throw new DomainError('enclave-key-mismatch', 'the SM2 unwrap key does not match its published fingerprint');
  }

  const planned = planLayout(schema, params);
  const layoutBase = opts.heLayout === 1 ? planned : { ...planned, packing: packingFor(planned.columns.length, params) };
  // 32,768 rows per chunk: each chunk costs one SM2 key wrap (~6 ms of CPU), which dominated row sealing at 8,192
  const rowsPerChunk = opts.rowsPerChunk ?? 32_768;
  if (!Number.isInteger(rowsPerChunk) || rowsPerChunk < 1 || rowsPerChunk > totalsPlan(schema, layoutBase).maxSegmentRows) {
    throw new DomainError('seal-options', `rowsPerChunk must be an integer from 1 to ${totalsPlan(schema, layoutBase).maxSegmentRows}`);
  }
  const progressEvery = opts.progressEvery ?? 50_000;
  const maxErrors = opts.maxErrors ?? 100;
  const threads = opts.threads ?? Math.min(2, availableParallelism());
  const bundleId = newId();

  const blobDir = join(opts.outDir, 'blobs');
  const createdDir = !existsSync(opts.outDir);
  await mkdir(blobDir, { recursive: true });
  // the owner's own machine: its encryption threads need not yield to anything (the server's pool runs at nice +10).
  // Started only for a v1 layout: a packed one has a few ciphertexts, encrypted on this thread (encryptHere).
  let ownPool: HeEvaluator | undefined;
  const encrypt = (vectors: BigInt64Array[]): Promise<Uint8Array[]> => {
    const publicKey = { fingerprint: opts.enclave.he.publicKeyFingerprint, bytes: hePublicKey };
    if (!opts.evaluator && layoutBase.packing) return encryptHere(params, publicKey.bytes, vectors);
    const pool = opts.evaluator ?? (ownPool ??= new HeEvaluator({ threads: opts.threads, niceIncrement: 0 }));
    return pool.encrypt({ paramsId: params.id, publicKey, vectors });
  };
  const progress: SealProgress = { rows: 0, ciphertexts: 0, rowChunks: 0, bytesWritten: 0 };
  const chunks: ChunkRef[] = [];
  const totals = new BundleTotals(layoutBase.columns.length);
  const rowFormat = opts.rowFormat ?? ROW_CHUNK_FORMAT;
  const ctx: RowSealContext = { schema, layout: layoutBase, bundleId, unwrapKey, blobDir, rowFormat };
  let nextProgress = progressEvery;
  /** Merge one sealed segment (in file order): its partition totals, its row chunk, progress. */
  const merge = (seg: SealedSegment, index: number, rowsSoFar: number) => {
    totals.merge(seg.totals);
    if (seg.blob) {
      chunks.push({ kind: 'rows', index, rows: seg.rows, ...seg.blob });
      progress.rowChunks++;
      progress.bytesWritten += seg.blob.size;
    }
    progress.rows = rowsSoFar;
    if (progress.rows >= nextProgress) {
      opts.onProgress?.({ ...progress });
      nextProgress = (Math.floor(progress.rows / progressEvery) + 1) * progressEvery;
    }
  };

  let read: { rows: number; errors: CsvIssue[] };
  let encryptSeconds = 0;
  try {
    const wantSplit = typeof opts.input === 'string' && threads >= 2 && (opts.split ?? statSync(opts.input).size >= SPLIT_MIN_BYTES);
    if (wantSplit) void sealWorker(); // built while the file is checked
    const plan = wantSplit ? await splitPlan(opts.input as string) : undefined;
    read = plan
      ? await sealSplit(opts.input as string, plan, { ctx, threads, rowsPerChunk, maxErrors, merge })
      : await sealStreamed(opts.input, { ctx, rowsPerChunk, maxErrors, merge });
    if (read.errors.length) throw csvInvalid({ errors: read.errors, truncated: read.errors.length >= maxErrors });

    // the owner-side totals (he-totals.ts): packed into a few ciphertexts (v2), or one per partition and column (v1)
    const encryptStarted = performance.now();
    const colIds = layoutBase.columns.map((c) => c.id);
    const packing = layoutBase.packing;
    if (packing) {
      const blocks = Math.ceil(totals.keys.length / packing.partitionsPerCiphertext);
      const cts = await encrypt(Array.from({ length: blocks }, (_, b) => totals.blockVector(b, packing.partitionsPerCiphertext, params)));
      cts.forEach((ct, b) => {
        const sm3 = sm3Hex(ct);
        writeFileSync(join(blobDir, sm3), ct);
        progress.bytesWritten += ct.length;
        chunks.push({ kind: 'he', block: b, seq: 0, sm3, size: ct.length });
      });
      progress.ciphertexts += cts.length;
    }
    await Promise.all(
      (packing ? [] : totals.keys).map(async (_, p) => {
        const cts = await encrypt(colIds.map((_, c) => totals.vector(p, c, params)));
        cts.forEach((ct, c) => {
          const sm3 = sm3Hex(ct);
          writeFileSync(join(blobDir, sm3), ct);
          progress.bytesWritten += ct.length;
          chunks.push({ kind: 'he', partition: p, column: colIds[c]!, seq: 0, sm3, size: ct.length });
        });
        progress.ciphertexts += cts.length;
      }),
    );
    encryptSeconds = (performance.now() - encryptStarted) / 1000;
  } catch (e) {
    if (createdDir) await rm(opts.outDir, { recursive: true, force: true });
    await ownPool?.close();
    if (e instanceof DomainError) throw e;
    throw new DomainError('seal-failed', `sealing failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  await ownPool?.close();
  const rowNo = read.rows;

  const order = new Map(layoutBase.columns.map((c, i) => [c.id, i]));
  chunks.sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'he' ? -1 : 1;
    if (a.kind === 'rows' && b.kind === 'rows') return a.index - b.index;
    if (a.kind === 'he' && b.kind === 'he') {
      return (a.block ?? 0) - (b.block ?? 0) || (a.partition ?? 0) - (b.partition ?? 0) || (order.get(a.column ?? '') ?? 0) - (order.get(b.column ?? '') ?? 0) || a.seq - b.seq;
    }
    return 0;
  });
  const manifest = withCommitment({
    format: 'shuyu.bundle.v1',
    bundleId,
    createdAt: new Date().toISOString(),
    schema,
    rowCount: rowNo,
    he: { paramsId: params.id, publicKeyFingerprint: opts.enclave.he.publicKeyFingerprint },
    rows: { unwrapKeyFingerprint: opts.enclave.unwrap.fingerprint, chunkFormat: rowFormat },
    layout: { ...layoutBase, partitions: totals.keys.map((key) => ({ key })) },
    chunks,
  });
  const manifestPath = join(opts.outDir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 1));
  opts.onProgress?.({ ...progress });
  const seconds = (performance.now() - started) / 1000;
  return { manifest, manifestPath, blobDir, stats: { ...progress, seconds, rowsPerSecond: rowNo / seconds, encryptSeconds } };
}

/**
 * Encrypt a packed layout's few block vectors on this thread: starting the worker pool (a thread, its SEAL
 * instance and, under tsx, its loader) costs ~1.5 s; one context and ≤ a few encryptions here ~0.3 s.
 */
async function encryptHere(params: BfvParams, publicKey: Uint8Array, vectors: BigInt64Array[]): Promise<Uint8Array[]> {
  const he = await HeContext.create(params);
  try {
    const enc = he.encryptor(publicKey);
    try {
      return vectors.map((v) => enc.encryptVector(v));
    } finally {
      enc.delete();
    }
  } finally {
    he.delete();
  }
}

interface ReadOptions {
  ctx: RowSealContext;
  rowsPerChunk: number;
  maxErrors: number;
  merge: (seg: SealedSegment, index: number, rowsSoFar: number) => void;
}

/** The single streamed parse on this thread (any CSV csv-parse reads, including quoted newlines). */
async function sealStreamed(input: string | Readable, o: ReadOptions): Promise<{ rows: number; errors: CsvIssue[] }> {
  const sealer = new RowSealer(o.ctx);
  const validator = new RowValidator(o.ctx.schema);
  const names = o.ctx.schema.columns.map((c) => c.name);
  const errors: CsvIssue[] = [];
  const bytes = new CsvBytes();
  let header = true;
  let rowNo = 0;
  let index = 0;
  const flush = () => {
    const seg = sealer.seal(index);
    errors.push(...seg.errors);
    if (seg.blob) index++;
    o.merge(seg, index - 1, rowNo);
  };
  try {
    for await (const record of guardedRecords(input, bytes)) {
      // the CSV's bytes are the data: invalid UTF-8, a NUL or a stray BOM ends the reading (csv-bytes.ts)
      if (bytes.problem && badByteField(record) !== -1) {
        sealer.errors.push(byteIssue(bytes.problem, header ? 0 : rowNo + 1, badByteField(record), names));
        header = false;
        break;
      }
      if (header) {
        header = false;
        errors.push(...validator.checkHeader(record));
        if (errors.length) return { rows: 0, errors };
        continue;
      }
      sealer.add(record, ++rowNo);
      if (errors.length + sealer.errors.length >= o.maxErrors) break;
      // wide rows: keep a chunk's JSON far below the 64 MB blob limit (MAX_ROW_CHUNK_BYTES, server maxBlobBytes)
      if ((sealer.rows === o.rowsPerChunk || sealer.chars >= MAX_CHUNK_CHARS) && sealer.errors.length === 0) flush();
    }
  } catch (e) {
    const at = bytes.problem ? badByteAtParseError(e, 0) : undefined;
    if (!at) throw csvParseFailure(e, 0); // the same refusal, naming the same row, as a split file's segment gives (seal-rows.ts)
    sealer.errors.push(byteIssue(bytes.problem!, at.row, at.field, names));
    header = false;
  }
  flush();
  if (header) errors.push({ row: 0, message: 'the CSV is empty (no header)' });
  return { rows: rowNo, errors };
}

/**
 * The file split at record boundaries (csv-split.ts) into one row chunk per segment, sealed on `threads`
 * threads: `threads − 1` workers plus this thread, which seals a segment itself whenever the workers already
 * have two each queued (so it also covers their start-up, ~1 s of module loading). Results are merged in file
 * order, so partition order, chunk numbering and row numbers in errors are the same on every run; at most
 * 2 segments per thread are held (bounded memory).
 */
async function sealSplit(path: string, plan: SplitPlan, o: ReadOptions & { threads: number }): Promise<{ rows: number; errors: CsvIssue[] }> {
  const validator = new RowValidator(o.ctx.schema);
  const bad = firstBadByte(plan.header, 0);
  if (bad) {
    const at = locateBadByte(plan.header, bad.index, 0);
    return { rows: 0, errors: [byteIssue(bad.problem, 0, at.field, [])] };
  }
  const header = parseCsvSync(Buffer.from(plan.header), CSV_PARSE_OPTIONS) as string[][];
  const errors = validator.checkHeader(header[0] ?? []);
  if (errors.length) return { rows: 0, errors };
  type Out = SealedSegment | SegmentFailure;
  const workers = Math.max(1, o.threads - 1);
  // both of a worker's queued segments are posted to it at once (it seals them one after the other): otherwise the
  // second waits in piscina's queue on this thread, which is busy sealing a segment itself — the worker sat idle
  // ~10–20% of the time waiting for it
  // young generation 96 MB (semi-spaces of 32 MB, default 16): a segment's parsed rows live until their batch is
  // written, and with the default many of them were copied into the old generation; one thread sealing 1M rows
  // used 12–17% less CPU with 32 MB semi-spaces (3 alternated runs each; 64 and 128 no better)
  const pool = new Piscina({
    ...(await sealWorker()),
    minThreads: workers,
    maxThreads: workers,
    idleTimeout: 1000,
    concurrentTasksPerWorker: 2,
    resourceLimits: { maxYoungGenerationSizeMb: 96 },
  });
  const inflight: { index: number; rowsSoFar: number; result: Promise<Out>; out?: Out }[] = [];
  let queued = 0;
  let rows = 0;
  let index = 0;
  let failure: DomainError | undefined;
  const dataBytes = statSync(path).size - plan.dataStart;
  let readBytes = 0;
  const mergeHead = (out: Out) => {
    const head = inflight.shift()!;
    if ('failed' in out) throw new DomainError(out.failed.type, out.failed.message, out.failed.detail);
    if (errors.length < o.maxErrors) errors.push(...out.errors);
    o.merge(out, head.index, head.rowsSoFar);
  };
  try {
    for await (const seg of recordSegments(path, plan.dataStart, o.rowsPerChunk, MAX_CHUNK_CHARS)) {
      const task: SealSegmentTask = { ctx: o.ctx, bytes: seg.bytes, firstRow: rows + 1, offset: plan.dataStart + readBytes, index, maxErrors: o.maxErrors };
      rows += seg.records;
      readBytes += seg.bytes.length;
      const entry: (typeof inflight)[number] = { index, rowsSoFar: rows, result: undefined as never };
      // let the workers' finished results arrive (a macrotask) before deciding: sealing here is synchronous,
      // and without this yield this thread would keep the work while an idle worker waits
      await new Promise<void>((r) => setImmediate(r));
      // the file's last segment goes to a worker only if one is idle: queued behind a worker's segment it would
      // finish ~1.5 segments after this thread on average, which then only waits (~0.2 s per 1M rows)
      if (queued < (readBytes >= dataBytes ? 1 : 2) * workers) {
        queued++;
        // the chunk key is made and wrapped here, not on the worker (SM2's first use on a fresh thread costs ~0.45 s:
        // base table, cold JIT), and handed over AFTER the task is posted (key-slot.ts): the worker needs it only when
        // it seals the chunk, so it starts parsing at once instead of waiting for this thread's first wrap
        task.keySlot = newKeySlot();
        entry.result = (pool.run(task, { transferList: [seg.bytes.buffer as ArrayBuffer] }) as Promise<Out>).finally(() => queued--);
      } else {
        entry.out = sealSegment(task);
        entry.result = Promise.resolve(entry.out);
      }
      void entry.result.then((out) => (entry.out = out), () => undefined);
      inflight.push(entry);
      if (task.keySlot) {
        try {
          giveKey(task.keySlot, newRowChunkKey(o.ctx.unwrapKey));
        } catch (e) {
          failKey(task.keySlot);
          throw e;
        }
      }
      index++;
      while (inflight[0]?.out) mergeHead(inflight[0].out);
      while (inflight.length > 2 * workers + 1) mergeHead(await inflight[0]!.result);
      if (errors.length >= o.maxErrors) break;
    }
    while (inflight.length) mergeHead(await inflight[0]!.result);
  } catch (e) {
    failure = e instanceof DomainError ? e : new DomainError('seal-failed', `sealing failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await Promise.allSettled(inflight.map((x) => x.result));
    await pool.destroy();
  }
  if (failure) throw failure;
  return { rows, errors };
}
