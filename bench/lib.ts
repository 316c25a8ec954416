/**
 * Benchmark helpers. Every figure is one JSON line on stdout:
 *   {"name","value","unit","baseline","ratio"}
 * `baseline` is the native / plaintext figure measured in the same run (null when there is none);
 * `ratio` = value / baseline unless the bench file documents otherwise. Human notes go to stderr.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: number | null;
  ratio?: number | null;
}

const round = (x: number): number => (Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000);

/** Every figure emitted in this process, in order (bench/run.ts writes them to bench/RESULTS.md). */
export const emitted: Required<Figure>[] = [];

export function emit(f: Figure): void {
  const baseline = f.baseline ?? null;
  const ratio = f.ratio !== undefined ? f.ratio : baseline ? f.value / baseline : null;
  const line = { name: f.name, value: round(f.value), unit: f.unit, baseline: baseline === null ? null : round(baseline), ratio: ratio === null ? null : round(ratio) };
  emitted.push(line);
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export const note = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

/** User CPU time of this process in ms — what `openssl speed` divides by (unless -elapsed). */
export const cpuMs = (): number => process.cpuUsage().user / 1000;

/**
 * Runs `fn` repeatedly for at least `ms` of this process's user CPU time (after `warmupMs`) and
 * returns operations per CPU-second. CPU time, not wall time, because `openssl speed` counts that
 * way and the machines are shared: a busy neighbour must not skew the ratio to the baseline.
 */
export function opsPerSecond(fn: () => unknown, ms = 2000, warmupMs = 200): number {
  const warmEnd = cpuMs() + warmupMs;
  while (cpuMs() < warmEnd) fn();
  let n = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 8; i++) fn();
    n += 8;
    now = cpuMs();
  }
  return (n * 1000) / (now - start);
}

/** Throughput in MB/s (10⁶ bytes, as `openssl speed` counts) of `fn` processing `bytes` per call. */
export const megabytesPerSecond = (bytes: number, fn: () => unknown, ms = 1500): number => (opsPerSecond(fn, ms, 100) * bytes) / 1e6;

/** Runs a command and returns stdout (rejects on failure). */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

/**
 * A generated CSV for the benches: `header`, then `rows` lines from `line(i, r)`, where r() is a seeded LCG
 * in [0, 1) (the same table every run), written in ~1 MiB pieces with backpressure.
 */
export async function writeGeneratedCsv(path: string, header: string, rows: number, seed: number, line: (i: number, r: () => number) => string): Promise<void> {
  const out = createWriteStream(path);
  let state = seed;
  const r = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296;
  out.write(header + '\n');
  let buf = '';
  for (let i = 0; i < rows; i++) {
    buf += line(i, r) + '\n';
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}
