/**
 * `npm run bench`: imports every bench/*.bench.ts in name order and awaits its default export.
 * BENCH_ONLY=substring runs only the files whose name contains it. One JSON line per figure on stdout.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

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
process.exitCode = failed ? 1 : 0;
