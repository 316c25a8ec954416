import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { SECTOR_SLUGS } from '../../contracts/dataset/sectors.js';
import { checkCsv } from '../dataset/csv-check.js';
import { scanCsvFile } from '../pii/scan.js';
import type { OwnerCheckReport } from '../sdk/local-data.js';
import { type CommonOptions, readJsonFile } from './common.js';
import { UsageError, fieldName, plainMessage } from './errors.js';
import { startProgress } from './progress.js';

/**
 * The owner's local steps before anything is sent: the schema file, and the CSV checked against it with
 * the PII scan. Imports only the checker and the scanner (not the sealer and its HE and worker-pool
 * machinery), so `shuyu owner check` starts as fast as a local command should; the report is the SDK's
 * OwnerCheckReport, computed as sdk/local-data.ts's checkCsvLocally does.
 */

export type SchemaOpts = CommonOptions & { schema: string; sector?: (typeof SECTOR_SLUGS)[number] };

/** The schema file; `--sector` fills a missing sector and must agree with a present one. Problems name the column. */
export function loadSchema(opts: SchemaOpts): DatasetSchema {
  const raw = readJsonFile(opts.schema, z.record(z.string(), z.unknown()), 'schema');
  if (opts.sector) {
    if (raw.sector !== undefined && raw.sector !== opts.sector) {
      throw new UsageError(`--sector ${opts.sector} disagrees with the schema's sector "${String(raw.sector)}"`);
    }
    raw.sector = opts.sector;
  }
  const parsed = DatasetSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new UsageError(`schema ${opts.schema}: ${i.path.length ? fieldName(i.path as (string | number)[], raw) + ' ' : ''}${plainMessage(i.message)}`);
  }
  return parsed.data;
}

/** Checking is local: no server, no profile needed. */
export async function checkLocally(file: string, schema: DatasetSchema, opts: { maxErrors?: number }): Promise<OwnerCheckReport> {
  const total = (await stat(file)).size;
  const bar = startProgress('checking', total, 'bytes');
  try {
    const [validation, pii] = await Promise.all([
      checkCsv(file, schema, { maxErrors: opts.maxErrors, onBytes: (done) => bar.update(done) }),
      scanCsvFile(file, { schema }),
    ]);
    const piiUnderDeclared = pii.warnings.length > 0;
    return { file, ok: validation.ok && !piiUnderDeclared, validation, pii, piiUnderDeclared };
  } finally {
    bar.stop();
  }
}
