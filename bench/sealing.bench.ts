/**
 * Owner-side sealing throughput: CSV file → sealed bundle on disk, 1M rows, 5 measures, a 20-value
 * dimension; beside the plaintext baseline measured in the same run: the same CSV parsed the way the sealer
 * parses it (the same segments, split into records by segmentRecords) and written back out as
 * JSON lines — what any import tool does without encryption. The sealer uses both cores and the baseline one, so
 * both are also given per CPU-second (process.cpuUsage, all threads).
 */
import { createWriteStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { recordSegments, splitPlan, segmentRecords } from '../client-sdk/dataset/csv-split.js';
import { newBoxKey, sm2Encrypt, sm2PublicKeyFromPem } from '../crypto/index.js';
import { emit, note, opsPerSecond } from './lib.js';
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
  // plaintext baseline: parse (as the sealer does) + write
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = createWriteStream(join(d.dir, 'plain.jsonl'));
  const plan = await splitPlan(d.csvPath);
  if (!plan) throw new Error('the bench CSV should be splittable');
  for await (const seg of recordSegments(d.csvPath, plan.dataStart, 32_768, 8 << 20)) {
    const records = segmentRecords(seg.bytes);
    let text = '';
    for (const r of records) text += JSON.stringify(r) + '\n';
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const plainSeconds = (performance.now() - t0) / 1000;
  const plainCpu = process.cpuUsage(c0);
  const plainCpuSeconds = (plainCpu.user + plainCpu.system) / 1e6;
  emit({ name: 'sealing rows/s (1M rows, 5 measures, CSV → bundle on disk, 2 threads; baseline: CSV parse → write, 1 thread)', value: BENCH_ROWS / d.sealSeconds, unit: 'rows/s', baseline: BENCH_ROWS / plainSeconds });
  emit({ name: 'sealing rows per CPU-second (all threads) vs CSV parse → write rows per CPU-second', value: BENCH_ROWS / d.sealCpuSeconds, unit: 'rows/cpu-s', baseline: BENCH_ROWS / plainCpuSeconds });

  // ciphertext size: one ciphertext per partition and HE column (the owner pre-adds each partition's rows)
  const he = d.sealed.manifest.chunks.filter((c) => c.kind === 'he');
  const heBytes = he.reduce((s, c) => s + c.size, 0);
  const valueColumns = d.sealed.manifest.layout.columns.length;
  emit({ name: 'HE ciphertext bytes per plaintext value (all ciphertexts / (rows × HE columns: x, x², count)) vs int64', value: heBytes / (BENCH_ROWS * valueColumns), unit: 'bytes', baseline: 8 });
  emit({ name: 'HE ciphertext bytes per measure value (all ciphertexts / (rows × 5 measures)) vs int64', value: heBytes / (BENCH_ROWS * 5), unit: 'bytes', baseline: 8 });
  // one SM2 wrap per row chunk (its data key to the enclave's unwrap key): k·G and k·P over cached window tables
  const unwrapKey = sm2PublicKeyFromPem(d.info.unwrap.publicKeyPem);
  const dataKey = newBoxKey();
  emit({ name: 'sealing: SM2 wrap of a row chunk key to the enclave key (warm, per CPU-second)', value: opsPerSecond(() => sm2Encrypt(unwrapKey, dataKey), 1000, 100), unit: 'ops/s', baseline: null });
  // full rows as sealed row chunks (format v2: binary, columnar) beside the CSV they come from
  const rowChunkBytes = d.sealed.manifest.chunks.filter((c) => c.kind === 'rows').reduce((n, c) => n + c.size, 0);
  emit({ name: `sealed row chunk bytes per row (format v${d.sealed.manifest.rows.chunkFormat ?? 1}) vs CSV bytes per row`, value: rowChunkBytes / BENCH_ROWS, unit: 'bytes', baseline: d.csvBytes / BENCH_ROWS });
  const bundleBytes = readdirSync(d.sealed.blobDir).reduce((s, f) => s + statSync(join(d.sealed.blobDir, f)).size, 0);
  emit({ name: 'sealed bundle size vs CSV size', value: bundleBytes / 1e6, unit: 'MB', baseline: d.csvBytes / 1e6 });
  note(`sealing: ${d.sealed.stats.ciphertexts} ciphertexts, ${d.sealed.stats.rowChunks} row chunks in ${d.sealSeconds.toFixed(1)} s (${d.sealCpuSeconds.toFixed(1)} CPU-s; of the wall time ${d.sealed.stats.encryptSeconds.toFixed(2)} s HE encryption after the last row); baseline ${plainSeconds.toFixed(1)} s (${plainCpuSeconds.toFixed(1)} CPU-s); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}
