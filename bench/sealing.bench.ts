/**
 * Owner-side sealing throughput (issue 3): CSV file → sealed bundle on disk, 1M rows, 5 measures, a 20-value
 * dimension; beside the plaintext baseline measured in the same run: the same CSV parsed (csv-parse) and
 * written back out as JSON lines — what any import tool does without encryption.
 */
import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { parse } from 'csv-parse';
import { emit, note } from './lib.js';
import { BENCH_ROWS, benchData, doneWithBenchData } from './he-data.js';

export default async function (): Promise<void> {
  try {
    await sealingFigures();
  } finally {
    await doneWithBenchData('sealing.bench.ts');
  }
}

async function sealingFigures(): Promise<void> {
  const d = await benchData();
  // plaintext baseline: parse + write
  const t0 = performance.now();
  const out = createWriteStream(join(d.dir, 'plain.jsonl'));
  for await (const rec of createReadStream(d.csvPath).pipe(parse({ from_line: 2 })) as AsyncIterable<string[]>) {
    if (!out.write(JSON.stringify(rec) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const plainRate = BENCH_ROWS / ((performance.now() - t0) / 1000);
  const sealRate = BENCH_ROWS / d.sealSeconds;
  emit({ name: 'sealing rows/s (1M rows, 5 measures, CSV → bundle on disk; baseline: CSV parse → write)', value: sealRate, unit: 'rows/s', baseline: plainRate });

  // ciphertext size
  const he = d.sealed.manifest.chunks.filter((c) => c.kind === 'he');
  const heBytes = he.reduce((s, c) => s + c.size, 0);
  const slots = he.length * d.sealed.manifest.layout.slotsPerCiphertext;
  emit({ name: 'ciphertext bytes per slot value (BFV N=4096, packed 36-bit coefficients) vs int64', value: heBytes / slots, unit: 'bytes', baseline: 8 });
  const valueColumns = d.sealed.manifest.layout.columns.length;
  emit({ name: 'HE bytes per stored value (incl. partition padding; x, x² and count columns) vs int64', value: heBytes / (BENCH_ROWS * valueColumns), unit: 'bytes', baseline: 8 });
  const bundleBytes = readdirSync(d.sealed.blobDir).reduce((s, f) => s + statSync(join(d.sealed.blobDir, f)).size, 0);
  emit({ name: 'sealed bundle size vs CSV size', value: bundleBytes / 1e6, unit: 'MB', baseline: d.csvBytes / 1e6 });
  note(`sealing: ${d.sealed.stats.ciphertexts} ciphertexts, ${d.sealed.stats.rowChunks} row chunks in ${d.sealSeconds.toFixed(1)} s`);
}
