/**
 * Shared data for bench/he.bench.ts and bench/sealing.bench.ts (one generation per `npm run bench`):
 * a 1,000,000-row CSV with 5 measures and a 20-value dimension, an enclave keystore, the sealed bundle
 * (timed: that is the sealing figure), and the same rows in a SQLite file for the plaintext baselines.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DatasetSchema } from '../contracts/dataset/schema.js';
import { writeGeneratedCsv } from './lib.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../crypto/index.js';
import { sealDataset, type SealResult } from '../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../he/evaluate.js';
import { openOrCreateKeystore, publicInfoOf, type Keystore } from '../enclave/keystore/keystore.js';
import type { EnclavePublicInfo } from '../formats/enclave-protocol.js';

export const BENCH_ROWS = Number(process.env.BENCH_HE_ROWS ?? 1_000_000);
export const DIM_VALUES = Array.from({ length: 20 }, (_, i) => `d${String(i).padStart(2, '0')}`);

export const benchSchema = DatasetSchema.parse({
  sector: 'macro-economy',
  columns: [
    { name: 'id', type: 'identifier', role: 'identifier', level: 3 },
    { name: 'dim', type: 'category', role: 'dimension', level: 1, values: DIM_VALUES },
    { name: 'm1', type: 'int', role: 'measure', level: 2, bounds: [-500, 500] },
    { name: 'm2', type: 'decimal(1)', role: 'measure', level: 2, bounds: [-50, 50] },
    { name: 'm3', type: 'int', role: 'measure', level: 2, bounds: [0, 700] },
    { name: 'm4', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 5] },
    { name: 'm5', type: 'int', role: 'measure', level: 2, bounds: [-100, 100] },
  ],
});

export interface BenchData {
  dir: string;
  csvPath: string;
  csvBytes: number;
  keystore: Keystore;
  info: EnclavePublicInfo;
  operatorPem: string;
  operator: ReturnType<typeof sm2KeyPair>;
  masterSecret: string;
  sealed: SealResult;
  sealSeconds: number;
  /** CPU time of the whole process (all threads) while sealing */
  sealCpuSeconds: number;
  evaluator: HeEvaluator;
  sqlitePath: string;
  cleanup: () => Promise<void>;
}

let memo: Promise<BenchData> | undefined;
export const benchData = (): Promise<BenchData> => (memo ??= build());

/** The bench files that share this data in this run; the last one to finish removes it. */
const users = new Set(['he.bench.ts', 'sealing.bench.ts'].filter((f) => !process.env.BENCH_ONLY || f.includes(process.env.BENCH_ONLY)));
export async function doneWithBenchData(file: string): Promise<void> {
  users.delete(file);
  if (users.size === 0 && memo) await (await memo).cleanup();
}

/** The bench table's CSV with `rows` rows (the same generator for the 1M-row figures and the small-bundle cases). */
export const writeBenchCsv = (path: string, rows: number): Promise<void> =>
  writeGeneratedCsv(path, 'id,dim,m1,m2,m3,m4,m5', rows, 12345, (i, r) =>
    `ID${i},${DIM_VALUES[Math.floor(r() * 20)]},${Math.floor(r() * 1001) - 500},${(Math.floor(r() * 1001) - 500) / 10},${Math.floor(r() * 701)},${(Math.floor(r() * 501) / 100).toFixed(2)},${Math.floor(r() * 201) - 100}`);

async function build(): Promise<BenchData> {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-bench-he-'));
  const csvPath = join(dir, 'table.csv');
  await writeBenchCsv(csvPath, BENCH_ROWS);
  const operator = sm2KeyPair();
  const operatorPem = sm2PublicKeyToPem(operator.publicKey);
  const masterSecret = 'bench-master-secret-0123456789';
  const { keystore } = await openOrCreateKeystore({ dir: join(dir, 'enclave', 'keystore'), masterSecret, operatorPublicKeyPem: operatorPem });
  const info = publicInfoOf(keystore);
  // the server's evaluator (nice +10 threads) for the HE figures; sealing runs on an owner's machine, whose
  // encryption threads are sealDataset's default (nice 0)
  const evaluator = new HeEvaluator({ threads: 2 });
  const sealer = new HeEvaluator({ threads: 2, niceIncrement: 0 });
  // warm the worker threads (SEAL instance + public key) so the figure is sealing, not thread start-up
  const warm = (e: HeEvaluator): Promise<unknown> =>
    e.encrypt({ paramsId: info.he.paramsId, publicKey: { fingerprint: info.he.publicKeyFingerprint, bytes: keystore.he.publicKey }, vectors: [new BigInt64Array(4096)] });
  for (const e of [evaluator, sealer]) {
    await warm(e);
    await Promise.all([warm(e), warm(e)]);
  }
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const sealed = await sealDataset({ input: csvPath, schema: benchSchema, enclave: info, outDir: join(dir, 'bundle'), evaluator: sealer, threads: 2 });
  const sealSeconds = (performance.now() - t0) / 1000;
  const sealCpu = process.cpuUsage(c0);
  const sealCpuSeconds = (sealCpu.user + sealCpu.system) / 1e6;
  await sealer.close();

  const sqlitePath = join(dir, 'plain.sqlite');
  const db = new Database(sqlitePath);
  db.exec('CREATE TABLE t (id TEXT, dim TEXT, m1 INTEGER, m2 REAL, m3 INTEGER, m4 REAL, m5 INTEGER)');
  const ins = db.prepare('INSERT INTO t VALUES (?,?,?,?,?,?,?)');
  const { parse } = await import('csv-parse');
  const { createReadStream } = await import('node:fs');
  let batch: string[][] = [];
  const flush = db.transaction((rows: string[][]) => {
    for (const r of rows) ins.run(r[0], r[1], Number(r[2]), Number(r[3]), Number(r[4]), Number(r[5]), Number(r[6]));
  });
  for await (const rec of createReadStream(csvPath).pipe(parse({ from_line: 2 })) as AsyncIterable<string[]>) {
    batch.push(rec);
    if (batch.length === 50_000) {
      flush(batch);
      batch = [];
    }
  }
  flush(batch);
  db.close();
  return {
    dir,
    csvPath,
    csvBytes: statSync(csvPath).size,
    keystore,
    info,
    operatorPem,
    operator,
    masterSecret,
    sealed,
    sealSeconds,
    sealCpuSeconds,
    evaluator,
    sqlitePath,
    cleanup: async () => {
      await evaluator.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
