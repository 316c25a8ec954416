/**
 * Owner-side sealing throughput: CSV file → sealed bundle on disk, 1M rows, 5 measures, a 20-value
 * dimension; beside the plaintext baseline measured in the same run: the same CSV parsed the way the sealer
 * parses it (the same segments, split into records by segmentRecords) and written back out as
 * JSON lines — what any import tool does without encryption. The sealer uses both cores and the baseline one, so
 * both are also given per CPU-second (process.cpuUsage, all threads).
 *
 * Then the bundle size and the owner's upload end to end — seal + POST /v1/uploads + every blob PUT + complete
 * (the server's bundle check and the enclave's row admission) against a real in-process server with its forked
 * enclave — for BENCH_UPLOAD_ROWS (default 2000,100000,1000000) rows of the same table, the 2,000-row case
 * beside the old one-ciphertext-per-partition layout. Sealed again to the server's enclave keys: the bundle
 * above is sealed to the HE bench's own keystore. BENCH_SEALING_LARGE=0 skips every 1M-row figure (the small
 * cases while developing).
 */
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { recordSegments, splitPlan, segmentRecords } from '../client-sdk/dataset/csv-split.js';
import { sealDataset, type SealResult } from '../client-sdk/dataset/seal.js';
import { newBoxKey, sm2Encrypt, sm2KeyPair, sm2PublicKeyFromPem, sm2PublicKeyToPem } from '../crypto/index.js';
import { startServer } from '../server/start.js';
import { emit, note, opsPerSecond } from './lib.js';
import { BENCH_ROWS, benchData, benchSchema, doneWithBenchData, writeBenchCsv } from './he-data.js';

const LARGE = process.env.BENCH_SEALING_LARGE !== '0';
const UPLOAD_ROWS = (process.env.BENCH_UPLOAD_ROWS ?? `2000,100000${LARGE ? `,${BENCH_ROWS}` : ''}`).split(',').map(Number).filter((n) => n > 0);

export default async function (): Promise<void> {
  try {
    if (LARGE) await sealingFigures();
    await uploadFigures();
  } finally {
    await doneWithBenchData('sealing.bench.ts');
  }
}

const bundleBytes = (s: SealResult): number => statSync(s.manifestPath).size + readdirSync(s.blobDir).reduce((n, f) => n + statSync(join(s.blobDir, f)).size, 0);

async function uploadFigures(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-bench-upload-'));
  const srv = await startServer({
    dataDir: join(dir, 'data'),
    port: 0,
    logLevel: 'warn',
    rateLimitPerMinute: 100_000_000,
    env: { SHUYU_MASTER_SECRET: 'upload-bench-master-secret-0123456789' },
    logDestination: { write: () => {} },
  });
  try {
    const boot = JSON.parse(readFileSync(srv.bootstrap.file, 'utf8')) as { token: string };
    const api = async (method: string, path: string, token: string, body?: unknown): Promise<any> => {
      const r = await fetch(srv.url + path, { method, headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await r.text();
      if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : {};
    };
    const org = await api('POST', '/v1/orgs', boot.token, { name: 'Upload bench owner' });
    const u = await api('POST', '/v1/users', boot.token, { orgId: org.id, name: 'bench owner', role: 'owner' });
    const owner = u.token.token as string;
    await api('PUT', '/v1/me/key', owner, { publicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) });
    const enclave = await api('GET', '/v1/enclave', owner);

    /** Upload a sealed bundle as the owner's CLI does; seconds from the first request to the completed dataset. */
    const upload = async (sealed: SealResult, title: string): Promise<number> => {
      const t0 = performance.now();
      const up = await api('POST', '/v1/uploads', owner, { title, description: 'upload bench', keywords: ['bench'], manifest: sealed.manifest });
      for (const h of up.missing as string[]) {
        const r = await fetch(`${srv.url}/v1/uploads/${up.id}/blobs/${h}`, { method: 'PUT', headers: { Authorization: `Bearer ${owner}`, 'Content-Type': 'application/octet-stream' }, body: readFileSync(join(sealed.blobDir, h)) });
        if (r.status !== 200) throw new Error(`blob ${h}: ${r.status} ${await r.text()}`);
      }
      await api('POST', `/v1/uploads/${up.id}/complete`, owner);
      return (performance.now() - t0) / 1000;
    };
    const layouts: [string, 1 | 2][] = [['packed', 2]];
    let run = 0;
    for (const rows of UPLOAD_ROWS) {
      const csv = join(dir, `table-${rows}.csv`);
      await writeBenchCsv(csv, rows);
      const csvBytes = statSync(csv).size;
      for (const [name, heLayout] of rows <= 2000 ? [...layouts, ['old one-per-partition', 1] as [string, 1]] : layouts) {
        // as the owner's CLI runs it: a fresh sealer (its own worker threads) per dataset
        const t0 = performance.now();
        const sealed = await sealDataset({ input: csv, schema: benchSchema, enclave, outDir: join(dir, `bundle-${++run}`), threads: 2, heLayout });
        const sealSeconds = (performance.now() - t0) / 1000;
        const uploadSeconds = await upload(sealed, `Bench ${rows} rows ${name}`);
        // the first case also pays this process's one-time costs (module loading, SEAL's WASM, SM2 tables), as a CLI run does
        const label = `${rows.toLocaleString('en-US')} rows, ${name} HE layout${run === 1 ? ', first in the process' : ''}`;
        emit({ name: `sealed bundle bytes / CSV bytes (${label})`, value: bundleBytes(sealed) / csvBytes, unit: 'x', baseline: 5 });
        emit({ name: `seal + upload + server check + enclave admission wall time (${label})`, value: sealSeconds + uploadSeconds, unit: 's', baseline: null });
        note(`${label}: ${sealed.stats.ciphertexts} ciphertexts, bundle ${(bundleBytes(sealed) / 1e6).toFixed(2)} MB vs CSV ${(csvBytes / 1e6).toFixed(2)} MB; seal ${sealSeconds.toFixed(2)} s (${Math.round(rows / sealSeconds)} rows/s), upload + complete ${uploadSeconds.toFixed(2)} s`);
      }
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
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

  // ciphertext size: the owner pre-adds each partition's rows and packs the totals into slots (layout v2)
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
