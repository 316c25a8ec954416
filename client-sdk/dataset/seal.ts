import { mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import { fromB64, sm2Fingerprint, sm2PublicKeyFromPem, sm3Hex } from '../../enclave/crypto/index.js';
import { type BundleManifest, type ChunkRef, withCommitment } from '../../enclave/format/manifest.js';
import { encodeSealedRowChunk, rowChunkAad, sealRowChunk } from '../../enclave/format/row-chunk.js';
import { HeEvaluator } from '../../enclave/he/evaluate.js';
import { columnValue, planLayout } from '../../enclave/he/layout.js';
import { BFV_PARAMS } from '../../enclave/he/params.js';
import { type CsvIssue, RowValidator, type RowValue, csvInvalid, csvParser, openCsv } from './csv-check.js';

/**
 * Owner-side sealing (issue 3 §2): CSV → sealed bundle directory on the owner's disk, streaming and chunked.
 *   <outDir>/manifest.json        the manifest with its SM3 commitment
 *   <outDir>/blobs/<sm3 hex>      every ciphertext and sealed row chunk, named by its SM3 hash
 * Measures go only into BFV ciphertexts (encrypted on worker threads under the enclave's HE public key);
 * full rows only into sealed row chunks (keys wrapped to the enclave's SM2 unwrap key); level ≤ 2 dimension
 * codes appear only as partition keys. Nothing else leaves the owner's machine.
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
}

export interface SealResult {
  manifest: BundleManifest;
  manifestPath: string;
  blobDir: string;
  stats: SealProgress & { seconds: number; rowsPerSecond: number };
}

/** Raw CSV characters per row chunk before it is flushed early (JSON adds quotes/escapes; 3 bytes per UTF-16 unit at most). */
const MAX_CHUNK_CHARS = 8 * 1024 * 1024;

export const bundleBlobPath = (outDir: string, sm3: string): string => join(outDir, 'blobs', sm3);

interface Partition {
  index: number;
  key: number[];
  fill: number;
  seq: number;
  vectors: BigInt64Array[];
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

  const layoutBase = planLayout(schema, params);
  const N = params.polyModulusDegree;
  // 32,768 rows per chunk: each chunk costs one SM2 key wrap (~6 ms of CPU), which dominated row sealing at 8,192
  const rowsPerChunk = opts.rowsPerChunk ?? 32_768;
  const progressEvery = opts.progressEvery ?? 50_000;
  const bundleId = newId();
  const measureNames = schema.columns.filter((c) => c.role === 'measure').map((c) => c.name);
  const dimNames = schema.columns.filter((c) => c.role === 'dimension' && c.values).map((c) => c.name);
  const partPos = layoutBase.partitionBy.map((n) => dimNames.indexOf(n));
  // for each HE column: which measure (index into ParsedRow.measures) and power
  const colSpec = layoutBase.columns.map((c) => ({ id: c.id, col: c, m: c.measure ? measureNames.indexOf(c.measure) : -1, power: c.power, plain: !c.limb }));

  const blobDir = join(opts.outDir, 'blobs');
  const createdDir = !existsSync(opts.outDir);
  await mkdir(blobDir, { recursive: true });
  const evaluator = opts.evaluator ?? new HeEvaluator({ threads: opts.threads });
  const progress: SealProgress = { rows: 0, ciphertexts: 0, rowChunks: 0, bytesWritten: 0 };
  const chunks: ChunkRef[] = [];
  const partitions = new Map<string, Partition>();
  const partitionList: Partition[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const maxInflight = 2 * (opts.threads ?? 2) + 2;

  const writeBlob = async (bytes: Uint8Array): Promise<{ sm3: string; size: number }> => {
    const sm3 = sm3Hex(bytes);
    // synchronous: thousands of small files, and the promise-based writeFile cost more CPU per blob than the write
    writeFileSync(join(blobDir, sm3), bytes);
    progress.bytesWritten += bytes.length;
    return { sm3, size: bytes.length };
  };
  const track = (p: Promise<void>) => {
    const q = p.catch((e) => void (failure ??= e)).finally(() => inflight.delete(q));
    inflight.add(q);
  };
  const throttle = async () => {
    while (inflight.size >= maxInflight) await Promise.race(inflight);
    if (failure) throw failure;
  };

  const flushPartition = (p: Partition) => {
    const vectors = p.vectors;
    const seq = p.seq++;
    p.vectors = colSpec.map(() => new BigInt64Array(N));
    p.fill = 0;
    track(
      (async () => {
        const cts = await evaluator.encrypt({
          paramsId: params.id,
          publicKey: { fingerprint: opts.enclave.he.publicKeyFingerprint, bytes: hePublicKey },
          vectors,
        });
        for (let i = 0; i < cts.length; i++) {
          const { sm3, size } = await writeBlob(cts[i]!);
          chunks.push({ kind: 'he', partition: p.index, column: colSpec[i]!.id, seq, sm3, size });
        }
        progress.ciphertexts += cts.length;
      })(),
    );
  };

  let rowBuffer: RowValue[][] = [];
  let rowBufferChars = 0;
  let rowChunkIndex = 0;
  const columnNames = schema.columns.map((c) => c.name);
  const flushRows = () => {
    if (rowBuffer.length === 0) return;
    const index = rowChunkIndex++;
    const rows = rowBuffer;
    rowBuffer = [];
    rowBufferChars = 0;
    const sealed = encodeSealedRowChunk(sealRowChunk({ columns: columnNames, rows }, unwrapKey, rowChunkAad(bundleId, index)));
    track(
      writeBlob(sealed).then(({ sm3, size }) => {
        chunks.push({ kind: 'rows', index, rows: rows.length, sm3, size });
        progress.rowChunks++;
      }),
    );
  };

  const validator = new RowValidator(schema);
  const errors: CsvIssue[] = [];
  const maxErrors = opts.maxErrors ?? 100;
  let header = true;
  let rowNo = 0;
  try {
    for await (const record of openCsv(opts.input).pipe(csvParser()) as AsyncIterable<string[]>) {
      if (header) {
        header = false;
        const hi = validator.checkHeader(record);
        if (hi.length) {
          errors.push(...hi);
          break;
        }
        continue;
      }
      rowNo++;
      const parsed = validator.parseRow(record, rowNo, errors);
      if (!parsed || errors.length) {
        if (errors.length >= maxErrors) break;
        continue; // keep collecting errors; nothing more is sealed
      }
      const key = partPos.map((i) => parsed.codes[i]!);
      const id = key.join(',');
      let p = partitions.get(id);
      if (!p) {
        p = { index: partitionList.length, key, fill: 0, seq: 0, vectors: colSpec.map(() => new BigInt64Array(N)) };
        partitions.set(id, p);
        partitionList.push(p);
      }
      const slot = p.fill++;
      for (let i = 0; i < colSpec.length; i++) {
        const c = colSpec[i]!;
        if (c.power === 0) p.vectors[i]![slot] = 1n;
        else {
          const x = parsed.measures[c.m]!;
          p.vectors[i]![slot] = c.plain ? (c.power === 1 ? x : x * x) : columnValue(c.col, x);
        }
      }
      if (p.fill === N) {
        flushPartition(p);
        await throttle();
      }
      rowBuffer.push(parsed.values);
      for (let i = 0; i < record.length; i++) rowBufferChars += record[i]!.length + 4;
      // wide rows: keep a chunk's JSON far below the 64 MB blob limit (MAX_ROW_CHUNK_BYTES, server maxBlobBytes)
      if (rowBuffer.length === rowsPerChunk || rowBufferChars >= MAX_CHUNK_CHARS) {
        flushRows();
        await throttle();
      }
      progress.rows = rowNo;
      if (rowNo % progressEvery === 0) opts.onProgress?.({ ...progress });
    }
    if (header) errors.push({ row: 0, message: 'the CSV is empty (no header)' });
    if (errors.length) throw csvInvalid({ errors, truncated: errors.length >= maxErrors });
    for (const p of partitionList) if (p.fill > 0) flushPartition(p);
    flushRows();
    while (inflight.size) await Promise.race(inflight);
    if (failure) throw failure;
  } catch (e) {
    while (inflight.size) await Promise.race(inflight);
    if (createdDir) await rm(opts.outDir, { recursive: true, force: true });
    if (!opts.evaluator) await evaluator.close();
    if (e instanceof DomainError) throw e;
    throw new DomainError('seal-failed', `sealing failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!opts.evaluator) await evaluator.close();

  const order = new Map(colSpec.map((c, i) => [c.id, i]));
  chunks.sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'he' ? -1 : 1;
    if (a.kind === 'rows' && b.kind === 'rows') return a.index - b.index;
    if (a.kind === 'he' && b.kind === 'he') return a.partition - b.partition || order.get(a.column)! - order.get(b.column)! || a.seq - b.seq;
    return 0;
  });
  const manifest = withCommitment({
    format: 'shuyu.bundle.v1',
    bundleId,
    createdAt: new Date().toISOString(),
    schema,
    rowCount: rowNo,
    he: { paramsId: params.id, publicKeyFingerprint: opts.enclave.he.publicKeyFingerprint },
    rows: { unwrapKeyFingerprint: opts.enclave.unwrap.fingerprint },
    layout: { ...layoutBase, partitions: partitionList.map((p) => ({ key: p.key })) },
    chunks,
  });
  const manifestPath = join(opts.outDir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 1));
  opts.onProgress?.({ ...progress });
  const seconds = (performance.now() - started) / 1000;
  return { manifest, manifestPath, blobDir, stats: { ...progress, seconds, rowsPerSecond: rowNo / seconds } };
}
