import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import type { DatasetSchema } from '../../../contracts/dataset/schema.js';
import { DomainError } from '../../../contracts/errors.js';
import type { OwnerCheckReport } from '../../sdk/local-data.js';
import type { OwnerClient } from '../../sdk/owner.js';
import type { Upload } from '../../sdk/types.js';
import { type CommonOptions, dirPath, inputFile, withCommon } from '../common.js';
import { WithHint } from '../errors.js';
import { EXIT_INTERRUPTED, UsageError, action, print, table } from '../output.js';
import { checkLocally, loadSchema, type SchemaOpts } from '../local-check.js';
import { type Progress, bytes, progressEnabled, rate, startProgress } from '../progress.js';

/**
 * `shuyu owner upload` and `shuyu owner uploads`: an upload a person can always recover. Its id and bundle
 * folder are printed as soon as the server has it; Ctrl-C keeps the bundle and prints the command that
 * resumes it (exit 130); after the last byte the wait for the server's verification is said, not silent;
 * `owner uploads` lists what is still open and what each one misses.
 */

type UploadOpts = SchemaOpts & {
  title: string;
  description: string;
  keywords: string;
  bundleDir?: string;
  resume?: string;
  allowPii?: boolean;
};

/** An argument as a shell reads it back: bare when safe, else single-quoted. */
const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that continues this upload: the same file, schema and title, with its id and bundle folder. */
export function resumeCommand(file: string, opts: UploadOpts, uploadId: string, bundleDir: string): string {
  const words = ['shuyu', 'owner', 'upload', resolve(file), '--schema', resolve(opts.schema), '--title', opts.title];
  if (opts.sector) words.push('--sector', opts.sector);
  if (opts.profile) words.push('--profile', opts.profile);
  words.push('--resume', uploadId, '--bundle-dir', resolve(bundleDir));
  return words.map(shellWord).join(' ');
}

/** What an open upload still needs, in a few words. */
function missingText(u: Upload): string {
  if (u.state === 'completing') return 'nothing: being verified';
  const missing = u.blobs.filter((b) => !b.received);
  if (missing.length === 0) return 'nothing: resume to publish';
  return `${missing.length} of ${u.blobs.length} blobs (${bytes(missing.reduce((a, b) => a + b.size, 0))})`;
}

export function registerUploadCommands(owner: Command, sectorOption: () => Option): void {
  withCommon(
    owner
      .command('upload <file>')
      .description('check, seal and upload a CSV as a new dataset (only the sealed bundle leaves this machine)')
      .requiredOption('--schema <file>', 'dataset schema JSON')
      .requiredOption('--title <title>', 'title in the catalogue')
      .addOption(sectorOption())
      .option('--description <text>', 'description in the catalogue', '')
      .option('--keywords <list>', 'comma-separated keywords', '')
      .option('--bundle-dir <dir>', 'keep the sealed bundle here (default: a temporary folder, removed after upload, kept if interrupted)')
      .option('--resume <uploadId>', 'continue an interrupted upload (with the --bundle-dir it was started from; `shuyu owner uploads` lists them)')
      .option('--allow-pii', 'upload even if the PII scan says the schema under-declares levels or tags'),
  ).action(action(upload));

  withCommon(owner.command('uploads').description('uploads not yet published (interrupted or being verified) and what each still needs')).action(
    action(async (opts: CommonOptions) => {
      const { ownerClient } = await import('../sdk-factory.js');
      const items = await ownerClient(opts).uploads();
      print(opts, { items }, () =>
        items.length === 0
          ? 'No uploads in progress.'
          : table(items, [
            { header: 'upload', get: (u) => u.id },
            { header: 'title', get: (u) => u.title },
            { header: 'sent', get: (u) => `${bytes(u.receivedBytes)} of ${bytes(u.totalBytes)}`, align: 'right' },
            { header: 'missing', get: missingText },
            { header: 'expires', get: (u) => u.expiresAt.replace(/\.\d+Z$/, 'Z') },
          ]) + '\n\nResume one with: shuyu owner upload FILE.csv --schema SCHEMA.json --title TITLE --resume UPLOAD --bundle-dir DIR\n' +
          '(DIR is the bundle folder printed when the upload started).');
    }),
  );
}

async function upload(file: string, opts: UploadOpts): Promise<void> {
  // every local input is checked before a temporary bundle folder exists or a request is made
  if (opts.resume && !opts.bundleDir) {
    throw new UsageError('--resume needs --bundle-dir DIR: the bundle folder the upload was started from (printed when it started)');
  }
  if (!opts.resume) inputFile(file, 'CSV');
  const schema = loadSchema(opts);
  if (opts.bundleDir) dirPath(opts.bundleDir, 'bundle directory', { mustExist: Boolean(opts.resume) });
  const { ownerClient } = await import('../sdk-factory.js');
  const client = ownerClient(opts);
  const say = (line: string): void => {
    if (!opts.json) process.stderr.write(`${line}\n`);
  };
  if (opts.resume && (await alreadyDone(client, opts.resume, opts))) return;

  const tmp = opts.bundleDir ? undefined : mkdtempSync(join(tmpdir(), 'shuyu-bundle-'));
  const dir = opts.bundleDir ?? join(tmp!, 'bundle');
  let phase: 'local' | 'starting' | 'sending' | 'verifying' = opts.resume ? 'starting' : 'local';
  let uploadId = opts.resume;
  let bar: Progress | undefined;
  let keep = false;

  const interrupted = (): void => {
    const lead = progressEnabled() ? '\n' : '';
    let line: string;
    if (phase === 'local') {
      line = `interrupted before anything was sent; nothing to resume${opts.bundleDir ? ` (${resolve(opts.bundleDir)} may hold a partly sealed bundle: run the same command again)` : ''}`;
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    } else if (!uploadId) {
      line = `interrupted while the upload was being created; \`shuyu owner uploads\` shows its id; the sealed bundle is kept in ${dir}; resume with: ${resumeCommand(file, opts, 'UPLOAD', dir)}`;
    } else {
      line = `upload ${uploadId} interrupted${phase === 'verifying' ? ' while the server verified it (verification goes on)' : ''}; resume with: ${resumeCommand(file, opts, uploadId, dir)}`;
    }
    if (opts.json) {
      process.stdout.write(JSON.stringify({ error: { type: 'interrupted', title: 'interrupted', status: 499, detail: line, extra: { uploadId: uploadId ?? null, bundleDir: phase === 'local' ? null : resolve(dir) } } }, null, 2) + '\n');
    }
    process.stderr.write(`${lead}shuyu: ${line}\n`);
    process.exit(EXIT_INTERRUPTED);
  };
  process.on('SIGINT', interrupted);
  try {
    let check: OwnerCheckReport | undefined;
    let sealed: Awaited<ReturnType<typeof sealWithProgress>> | undefined;
    if (!opts.resume) {
      check = await checkLocally(file, schema, {});
      if (!check.validation.ok || (check.piiUnderDeclared && !opts.allowPii)) {
        // one line: the first problem; `owner check` (or --json's error.extra.check) has them all
        const first = check.validation.errors[0]?.message ?? check.pii.warnings[0] ?? '';
        const more = check.validation.errors.length + check.pii.warnings.length > 1 ? ' …' : '';
        throw new DomainError('check-failed', check.validation.ok
          ? `the PII scan found personal information the schema does not declare (${first}${more}); raise the levels/tags or pass --allow-pii`
          : `the CSV does not match its schema (${first}${more}); run shuyu owner check for all problems`, { check });
      }
      sealed = await sealWithProgress(client, file, schema, dir);
      phase = 'starting';
    }
    const meta = { title: opts.title, description: opts.description, keywords: opts.keywords.split(',').map((k) => k.trim()).filter(Boolean) };
    let sendStart = 0;
    let sentBefore = 0;
    let sentNow = 0;
    const up = await client.uploadDir(dir, meta, {
      uploadId: opts.resume,
      onProgress: (p) => {
        if (!uploadId || phase === 'starting') {
          uploadId = p.uploadId;
          phase = 'sending';
          keep = true;
          sendStart = performance.now();
          sentBefore = p.sentBytes;
          say(`upload ${p.uploadId} ${opts.resume ? 'resumed' : 'started'}: ${bytes(p.totalBytes)}${p.sentBytes ? `, ${bytes(p.sentBytes)} already on the server` : ''}; bundle folder ${resolve(dir)}`);
          say('  (Ctrl-C stops it; the command to resume is printed then)');
          bar = startProgress('uploading', p.totalBytes, 'bytes');
        }
        sentNow = p.sentBytes;
        bar!.update(p.sentBytes, p.totalBytes);
        if (p.blobsLeft === 0 && phase === 'sending') {
          phase = 'verifying';
          bar!.stop();
          const seconds = (performance.now() - sendStart) / 1000;
          say(`sent ${bytes(p.sentBytes - sentBefore)}${seconds > 0.05 ? ` at ${rate((p.sentBytes - sentBefore) / seconds, 'bytes')}` : ''}; verifying on the server (every blob is re-hashed and checked before the dataset is published)…`);
        }
      },
    });
    keep = false;
    // a resumed upload's temporary bundle folder (made by an interrupted run) has done its job
    if (opts.resume && opts.bundleDir) removeTemporaryBundle(opts.bundleDir);
    const out = { dataset: up.dataset, upload: { id: up.upload.id, totalBytes: up.upload.totalBytes, sentBytes: sentNow - sentBefore }, sealing: sealed ?? null, pii: check?.pii ?? null };
    print(opts, out, () =>
      (sealed ? `Sealed ${sealed.rows.toLocaleString('en')} rows in ${sealed.seconds.toFixed(1)} s (${Math.round(sealed.rowsPerSecond).toLocaleString('en')} rows/s).\n` : '') +
      `Uploaded ${up.dataset.rowCount.toLocaleString('en')} rows as dataset ${up.dataset.id} ("${up.dataset.title}", ${up.dataset.sector}, level ${up.dataset.maxLevel});\n` +
      `commitment ${up.dataset.commitment}; ${bytes(up.upload.totalBytes)} in the bundle.`,
    );
  } catch (e) {
    // a failure after the server has the upload (the network, the server) leaves it resumable: say how
    if (uploadId && keep && isRetryable(e)) throw new WithHint(e, `upload ${uploadId} can be resumed with: ${resumeCommand(file, opts, uploadId, dir)}`);
    keep = false;
    throw e;
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', interrupted);
    if (tmp && !keep) rmSync(tmp, { recursive: true, force: true });
  }
}

/** Removes DIR's parent if it is a folder an earlier `owner upload` made under the temporary directory. */
function removeTemporaryBundle(dir: string): void {
  const parent = resolve(dir, '..');
  if (basename(resolve(dir)) === 'bundle' && resolve(parent, '..') === resolve(tmpdir()) && basename(parent).startsWith('shuyu-bundle-')) {
    rmSync(parent, { recursive: true, force: true });
  }
}

const isRetryable = (e: unknown): boolean => {
  const err = e as { name?: string; status?: number };
  return err?.name === 'ShuyuApiError' && (err.status === 0 || (err.status ?? 0) >= 500);
};

/** A resumed upload that already finished (or is being verified) is reported as such, not re-sent. */
async function alreadyDone(client: OwnerClient, id: string, opts: UploadOpts): Promise<boolean> {
  const u = await client.getUpload(id);
  if (u.state === 'completed' && u.datasetId) {
    const d = await client.dataset(u.datasetId);
    if (opts.bundleDir) removeTemporaryBundle(opts.bundleDir);
    print(opts, { dataset: d, upload: { id: u.id, totalBytes: u.totalBytes, sentBytes: 0 }, sealing: null, pii: null }, () =>
      `Upload ${u.id} had already finished: dataset ${d.id} ("${d.title}", ${d.rowCount.toLocaleString('en')} rows).`);
    return true;
  }
  if (u.state === 'completing') throw new DomainError('upload-verifying', `upload ${u.id} is being verified on the server; run the same command again in a minute`);
  if (u.state === 'aborted') throw new DomainError('upload-not-open', `upload ${u.id} was aborted or expired; start a new upload without --resume`);
  return false;
}

export async function sealWithProgress(client: OwnerClient, file: string, schema: DatasetSchema, outDir: string) {
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
