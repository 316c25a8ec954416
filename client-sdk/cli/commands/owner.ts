import type { Command } from 'commander';
import { Option } from 'commander';
import { LEVEL_NAMES } from '../../../contracts/dataset/schema.js';
import { SECTOR_SLUGS } from '../../../contracts/dataset/sectors.js';
import type { OwnerCheckReport } from '../../sdk/local-data.js';
import { type CommonOptions, dirPath, inputFile, outputFile, positiveInt, withCommon, writeOutputFile } from '../common.js';
import { checkLocally, loadSchema, type SchemaOpts } from '../local-check.js';
import { EXIT_FAILED, action, print, table } from '../output.js';
import { schemaTable } from '../schema-view.js';
import { registerOfferCommands } from './owner-offers.js';
import { registerUploadCommands, sealWithProgress } from './owner-upload.js';

/**
 * `shuyu owner …`: check a CSV locally (schema + PII), seal it, upload it, list datasets; offers and
 * revenue in owner-offers.ts. Checking and sealing run on the owner's machine; only the sealed bundle
 * is sent.
 */

export function describeCheck(r: OwnerCheckReport): string {
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
      const r = await checkLocally(file, schema, opts);
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
      const { ownerClient } = await import('../sdk-factory.js');
      const r = await sealWithProgress(ownerClient(opts), file, schema, opts.out);
      print(opts, r, () => `Sealed ${r.rows} rows in ${r.seconds.toFixed(1)} s (${Math.round(r.rowsPerSecond).toLocaleString('en')} rows/s) into ${opts.out}; commitment ${r.commitment}.`);
    }),
  );

  registerUploadCommands(owner, sectorOption);

  withCommon(owner.command('datasets').description("your organisation's datasets")).action(
    action(async (opts: CommonOptions) => {
      const { ownerClient } = await import('../sdk-factory.js');
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
