/**
 * `npm run bench`: imports every bench/*.bench.ts in name order and awaits its default export.
 * BENCH_ONLY=substring runs only the files whose name contains it. One JSON line per figure on stdout.
 * `npm run bench -- --write` also rewrites bench/RESULTS.md with this run's figures.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { emitted } from './lib.js';

const dir = import.meta.dirname;
const only = process.env.BENCH_ONLY;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only)))
  .sort();

if (files.length === 0) process.stderr.write(`bench: no bench files${only ? ` matching "${only}"` : ''}\n`);
let failed = 0;
for (const f of files) {
  process.stderr.write(`bench: ${f}\n`);
  try {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default?: () => Promise<void> };
    if (typeof mod.default !== 'function') throw new Error('no default export async () => void');
    await mod.default();
  } catch (e) {
    failed++;
    process.stderr.write(`bench: ${f} failed: ${(e as Error)?.stack ?? String(e)}\n`);
  }
}
if (process.argv.includes('--write')) writeResults();
process.exitCode = failed ? 1 : 0;

function writeResults(): void {
  const fmt = (x: number | null): string => (x === null ? '—' : x.toLocaleString('en-US', { maximumFractionDigits: 3 }));
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout: the figures still stand on their own
  }
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench -- --write\`${only ? ` (BENCH_ONLY=${only})` : ''}; do not edit by hand.`,
    '',
    `- run: ${new Date().toISOString()} on commit ${commit}`,
    `- machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' / ')}`,
    '- each figure beside its baseline measured in the same run; ratio = value / baseline unless the bench says otherwise',
    '',
    '| figure | value | unit | baseline | ratio |',
    '|---|---|---|---|---|',
    ...emitted.map((f) => `| ${f.name} | ${fmt(f.value)} | ${f.unit} | ${fmt(f.baseline)} | ${fmt(f.ratio)} |`),
    '',
  ];
  writeFileSync(join(dir, 'RESULTS.md'), lines.join('\n'));
  process.stderr.write(`bench: wrote bench/RESULTS.md (${emitted.length} figures)\n`);
}
