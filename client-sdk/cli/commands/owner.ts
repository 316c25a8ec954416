import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import { DatasetSchema, LEVEL_NAMES } from '../../../contracts/dataset/schema.js';
import { SECTOR_SLUGS } from '../../../contracts/dataset/sectors.js';
import { DomainError } from '../../../contracts/errors.js';
import { z } from 'zod';
import type { OwnerCheckReport } from '../../sdk/local-data.js';
import { type CommonOptions, dirPath, inputFile, outputFile, positiveInt, readJsonFile, withCommon, writeOutputFile } from '../common.js';
import { EXIT_FAILED, UsageError, action, print, table } from '../output.js';
import { startProgress } from '../progress.js';
import { ownerClient } from '../sdk-factory.js';
import { registerOfferCommands } from './owner-offers.js';
import { schemaTable } from './catalog.js';

/**
 * `shuyu owner …`: check a CSV locally (schema + PII), seal it, upload it, list datasets; offers and
 * revenue in owner-offers.ts. Checking and sealing run on the owner's machine; only the sealed bundle
 * is sent.
 */

type SchemaOpts = CommonOptions & { schema: string; sector?: (typeof SECTOR_SLUGS)[number] };

/** The schema file; `--sector` fills a missing sector and must agree with a present one. */
function loadSchema(opts: SchemaOpts): DatasetSchema {
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
    throw new UsageError(`schema ${opts.schema}: ${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`);
  }
  return parsed.data;
}

/** Checking is local: no server, no profile needed. */
async function runCheck(file: string, schema: DatasetSchema, opts: CommonOptions & { maxErrors?: number }): Promise<OwnerCheckReport> {
  const bar = startProgress('checking', 1, 'bytes');
  try {
    const { checkCsvLocally } = await import('../../sdk/local-data.js');
    return await checkCsvLocally(file, schema, { maxErrors: opts.maxErrors, onBytes: (d, t) => bar.update(d, t) });
  } finally {
    bar.stop();
  }
}

function describeCheck(r: OwnerCheckReport): string {
  const lines: string[] = [];
  const v = r.validation;
  lines.push(v.ok ? `Schema check: ${v.rows} rows, no problems.` : `Schema check: ${v.errors.length}${v.truncated ? '+' : ''} problem(s) in ${v.rows} rows:`);
  for (const e of v.errors.slice(0, 20)) lines.push(`  - ${e.message}`);
  if (r.pii.flagged.length === 0) lines.push(`PII scan (${r.pii.rowsScanned} rows): no personal information found.`);
  else {
    lines.push(`PII scan (${r.pii.rowsScanned} rows): personal information in ${r.pii.flagged.length} column(s); suggested dataset level ≥ ${r.pii.suggestedLevel} (${LEVEL_NAMES[r.pii.suggestedLevel!].zh}).`);
    const flagged = r.pii.columns.filter((c) => c.kinds.length);
    lines.push(table(flagged, [
      { header: 'column', get: (c) => c.column },
      { header: 'found', get: (c) => c.kinds.map((k) => `${k} ${Math.round((c.ratios[k] ?? 0) * 1000) / 10}%`).join(', ') },
      { header: 'level', get: (c) => c.suggestedLevel },
      { header: 'tags', get: (c) => c.suggestedTags.join(',') },
    ]).replace(/^/gm, '  '));
    for (const w of r.pii.warnings) lines.push(`  ! ${w}`);
  }
  lines.push(r.ok ? 'OK: ready to seal.' : 'NOT OK: fix the CSV or the schema (declare the suggested levels and tags) before sealing.');
  return lines.join('\n');
}

export function register(program: Command): void {
  const owner = program.command('owner').description('data owner: check, seal and upload datasets; offers; revenue');
  const sectorOption = () => new Option('--sector <slug>', 'sector (fills or must match the schema\'s)').choices(SECTOR_SLUGS);

  withCommon(
    owner
      .command('describe <file>')
      .description('draft a schema from a CSV sample (types, roles, coarse bounds, PII-based levels and tags) to edit before check/upload')
      .addOption(sectorOption().makeOptionMandatory())
      .option('--out <file>', 'write the draft schema JSON here')
      .option('--min-people <k>', 'leave out dimension values held by fewer than k people (identifiers, else rows)', positiveInt, 5),
  ).action(
    action(async (file: string, opts: CommonOptions & { sector: (typeof SECTOR_SLUGS)[number]; out?: string; minPeople: number }) => {
      inputFile(file, 'CSV');
      if (opts.out) outputFile(opts.out, 'draft schema');
      const { describeCsv } = await import('../../sdk/describe.js');
      const d = await describeCsv(file, { sector: opts.sector, minPeople: opts.minPeople });
      if (opts.out) writeOutputFile(opts.out, JSON.stringify(d.schema, null, 2) + '\n', 'draft schema');
      print(opts, d, () =>
        `Draft schema from ${d.rowsSampled} rows${opts.out ? `, written to ${opts.out}` : ''} — review every column before sealing:\n` +
        schemaTable(d.schema.columns) +
        (d.warnings.length ? `\n\nReview:\n${d.warnings.map((w) => `  ! ${w}`).join('\n')}` : ''));
    }),
  );

  withCommon(
    owner
      .command('check <file>')
      .description('check a CSV against its schema and scan it for personal information, locally (exit 1 if not OK)')
      .requiredOption('--schema <file>', 'dataset schema JSON (contracts/dataset/schema.ts)')
      .addOption(sectorOption())
      .option('--max-errors <n>', 'stop collecting after this many problems', positiveInt, 100),
  ).action(
    action(async (file: string, opts: SchemaOpts & { maxErrors: number }) => {
      inputFile(file, 'CSV');
      const schema = loadSchema(opts);
      const r = await runCheck(file, schema, opts);
      print(opts, r, () => describeCheck(r));
      return r.ok ? 0 : EXIT_FAILED;
    }),
  );

  withCommon(
    owner
      .command('seal <file>')
      .description('seal a CSV into a bundle directory under the enclave\'s published keys (no upload)')
      .requiredOption('--schema <file>', 'dataset schema JSON')
      .requiredOption('--out <dir>', 'bundle directory to write (manifest.json + blobs/)')
      .addOption(sectorOption()),
  ).action(
    action(async (file: string, opts: SchemaOpts & { out: string }) => {
      inputFile(file, 'CSV');
      const schema = loadSchema(opts);
      dirPath(opts.out, 'bundle directory');
      const r = await sealWithProgress(ownerClient(opts), file, schema, opts.out);
      print(opts, r, () => `Sealed ${r.rows} rows in ${r.seconds.toFixed(1)} s (${Math.round(r.rowsPerSecond).toLocaleString('en')} rows/s) into ${opts.out}; commitment ${r.commitment}.`);
    }),
  );

  withCommon(
    owner
      .command('upload <file>')
      .description('check, seal and upload a CSV as a new dataset (only the sealed bundle leaves this machine)')
      .requiredOption('--schema <file>', 'dataset schema JSON')
      .requiredOption('--title <title>', 'title in the catalogue')
      .addOption(sectorOption())
      .option('--description <text>', 'description in the catalogue', '')
      .option('--keywords <list>', 'comma-separated keywords', '')
      .option('--bundle-dir <dir>', 'keep the sealed bundle here (default: a temporary directory, removed after upload)')
      .option('--resume <uploadId>', 'continue an interrupted upload of an existing --bundle-dir')
      .option('--allow-pii', 'upload even if the PII scan says the schema under-declares levels or tags'),
  ).action(
    action(async (file: string, opts: SchemaOpts & { title: string; description: string; keywords: string; bundleDir?: string; resume?: string; allowPii?: boolean }) => {
      // every local input is checked before a temporary bundle directory exists or a request is made
      if (!opts.resume) inputFile(file, 'CSV');
      const schema = loadSchema(opts);
      if (opts.bundleDir) dirPath(opts.bundleDir, 'bundle directory', { mustExist: Boolean(opts.resume) });
      const client = ownerClient(opts);
      const tmp = opts.bundleDir ? undefined : mkdtempSync(join(tmpdir(), 'shuyu-bundle-'));
      const dir = opts.bundleDir ?? join(tmp!, 'bundle');
      try {
        let check: OwnerCheckReport | undefined;
        let sealed: Awaited<ReturnType<typeof sealWithProgress>> | undefined;
        if (!opts.resume) {
          check = await runCheck(file, schema, opts);
          if (!check.validation.ok || (check.piiUnderDeclared && !opts.allowPii)) {
            // one line: the first problem; `owner check` (or --json's error.extra.check) has them all
            const first = check.validation.errors[0]?.message ?? check.pii.warnings[0] ?? '';
            const more = check.validation.errors.length + check.pii.warnings.length > 1 ? ' …' : '';
            throw new DomainError('check-failed', check.validation.ok
              ? `the PII scan found personal information the schema does not declare (${first}${more}); raise the levels/tags or pass --allow-pii`
              : `the CSV does not match its schema (${first}${more}); run shuyu owner check for all problems`, { check });
          }
          sealed = await sealWithProgress(client, file, schema, dir);
        }
        const bar = startProgress('uploading', 1, 'bytes');
        const up = await client
          .uploadDir(dir, { title: opts.title, description: opts.description, keywords: opts.keywords.split(',').map((k) => k.trim()).filter(Boolean) }, {
            uploadId: opts.resume,
            onProgress: (p) => bar.update(p.sentBytes, p.totalBytes),
          })
          .finally(() => bar.stop());
        const out = { dataset: up.dataset, upload: { id: up.upload.id, totalBytes: up.upload.totalBytes }, sealing: sealed ?? null, pii: check?.pii ?? null };
        print(opts, out, () =>
          (sealed ? `Sealed ${sealed.rows} rows in ${sealed.seconds.toFixed(1)} s (${Math.round(sealed.rowsPerSecond).toLocaleString('en')} rows/s).\n` : '') +
          `Uploaded ${up.dataset.rowCount} rows as dataset ${up.dataset.id} ("${up.dataset.title}", ${up.dataset.sector}, level ${up.dataset.maxLevel});\n` +
          `commitment ${up.dataset.commitment}; ${up.upload.totalBytes.toLocaleString('en')} bytes sent.`,
        );
      } finally {
        if (tmp) rmSync(tmp, { recursive: true, force: true });
      }
    }),
  );

  withCommon(owner.command('datasets').description("your organisation's datasets")).action(
    action(async (opts: CommonOptions) => {
      const page = await ownerClient(opts).datasets({ limit: 100 });
      print(opts, page, () => table(page.items, [
        { header: 'dataset', get: (d) => d.id },
        { header: 'sector', get: (d) => d.sector },
        { header: 'level', get: (d) => d.maxLevel },
        { header: 'rows', get: (d) => d.rowCount, align: 'right' },
        { header: 'title', get: (d) => d.title },
      ]));
    }),
  );

  registerOfferCommands(owner);
}

async function sealWithProgress(client: ReturnType<typeof ownerClient>, file: string, schema: DatasetSchema, outDir: string) {
  const { countCsvRows } = await import('../../sdk/local-data.js');
  const total = await countCsvRows(file);
  const bar = startProgress('sealing', total, 'rows');
  let result;
  try {
    result = await client.seal(file, schema, outDir, (p) => bar.update(p.rows));
  } finally {
    bar.stop();
  }
  return {
    rows: result.stats.rows,
    seconds: result.stats.seconds,
    rowsPerSecond: result.stats.rowsPerSecond,
    ciphertexts: result.stats.ciphertexts,
    rowChunks: result.stats.rowChunks,
    bytesWritten: result.stats.bytesWritten,
    commitment: result.manifest.commitment,
    bundleDir: outDir,
  };
}
