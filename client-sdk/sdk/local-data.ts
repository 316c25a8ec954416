import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import { BundleManifest } from '../../formats/manifest.js';
import { type CsvCheckResult, checkCsv } from '../dataset/csv-check.js';
import { type SealProgress, type SealResult, type SealTarget, bundleBlobPath, sealDataset } from '../dataset/seal.js';
import { type PiiReport, scanCsvFile } from '../pii/scan.js';
import type { BundleSource } from './upload.js';

/**
 * What an owner does on their own machine before anything is sent: check the CSV against its schema
 * (dataset/csv-check.ts: types, bounds, declared values) together with the PII scan, and seal it into a bundle
 * directory (dataset/seal.ts). Nothing here talks to the network.
 */

export interface OwnerCheckReport {
  file: string;
  ok: boolean;
  /** types, bounds, dimension values, dates — row- and column-precise */
  validation: CsvCheckResult;
  /** personal information found per column, with suggested levels and tags */
  pii: PiiReport;
  /** the PII scan found columns whose declared level/tags are lower than suggested */
  piiUnderDeclared: boolean;
}

export interface LocalCheckOptions {
  maxErrors?: number;
  /** rows the PII scan samples (default 10,000) */
  piiRows?: number;
  /** bytes read so far / total, for a progress bar */
  onBytes?: (done: number, total: number) => void;
}

export async function checkCsvLocally(file: string, schema: DatasetSchema, opts: LocalCheckOptions = {}): Promise<OwnerCheckReport> {
  const total = (await stat(file)).size;
  const [validation, pii] = await Promise.all([
    checkCsv(file, schema, { maxErrors: opts.maxErrors, onBytes: (done) => opts.onBytes?.(done, total) }),
    scanCsvFile(file, { schema, maxRows: opts.piiRows }),
  ]);
  const piiUnderDeclared = pii.warnings.length > 0;
  return { file, ok: validation.ok && !piiUnderDeclared, validation, pii, piiUnderDeclared };
}

/** The sealing target from GET /v1/enclave's public information. */
export function sealTargetOf(info: Record<string, unknown>): SealTarget {
  const i = info as { he?: { paramsId?: string; publicKey?: string; publicKeyFingerprint?: string }; unwrap?: { publicKeyPem?: string; fingerprint?: string } };
  if (!i.he?.paramsId || !i.he.publicKey || !i.he.publicKeyFingerprint || !i.unwrap?.publicKeyPem || !i.unwrap.fingerprint) {
    throw new DomainError('enclave-info-incomplete', 'GET /v1/enclave did not include the HE public key and the SM2 unwrap key needed for sealing');
  }
  return {
    he: { paramsId: i.he.paramsId, publicKey: i.he.publicKey, publicKeyFingerprint: i.he.publicKeyFingerprint },
    unwrap: { publicKeyPem: i.unwrap.publicKeyPem, fingerprint: i.unwrap.fingerprint },
  };
}

/** Counts data rows (newlines after the header) so a progress bar can show a total. Cheap: ~1 GB/s. */
export async function countCsvRows(file: string): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    last = chunk[chunk.length - 1]!;
  }
  if (last !== 10) lines++;
  return Math.max(0, lines - 1);
}

export function sealCsv(
  file: string,
  schema: DatasetSchema,
  target: SealTarget,
  outDir: string,
  onProgress?: (p: SealProgress) => void,
): Promise<SealResult> {
  return sealDataset({ input: file, schema, enclave: target, outDir, onProgress, progressEvery: 20_000 });
}

/** A sealed bundle directory (manifest.json + blobs/<sm3>) as an upload source; every blob is re-hashed before it is sent. */
export async function bundleFromDir(dir: string): Promise<BundleSource & { manifest: BundleManifest }> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  } catch (e) {
    throw new DomainError('bad-input-file', `${dir} is not a sealed bundle directory (manifest.json: ${(e as Error).message})`);
  }
  const manifest = BundleManifest.parse(json);
  return {
    manifest,
    async readBlob(hash: string) {
      const bytes = new Uint8Array(await readFile(bundleBlobPath(dir, hash)));
      if (sm3Hex(bytes) !== hash) throw new DomainError('bundle-corrupt', `blob ${hash} in ${dir} does not match its SM3 name`);
      return bytes;
    },
  };
}
