/**
 * How long a person waits for the `shuyu` command before it does anything: the compiled CLI (dist/, built
 * first if stale) run as a new process for `--version`, `--help`, `owner check` of a 200-row CSV and
 * `owner describe`, each the median of several runs' wall time and CPU time (the figure a loaded shared
 * machine does not inflate), beside `node -e 0` in the same run (the floor no CLI on node goes below; ratio =
 * value / baseline). Target: under 300 ms on the 2-core machine.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { emit, note } from './lib.js';

const ROOT = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 9);

/** A preload that reports the process's own CPU time (user + system, µs) on fd 3 as it exits. */
const CPU_PRELOAD = "process.on('exit', () => { try { require('node:fs').writeSync(3, String(process.cpuUsage().user + process.cpuUsage().system)); } catch {} });";

/** One run: wall ms (from spawn to exit) and the child's CPU ms (what a busy shared machine does not inflate). */
function runOnce(args: string[], preload: string): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--require', preload, ...args], { cwd: ROOT, env: { ...process.env, SHUYU_PROGRESS: '0' }, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    let cpu = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (cpu += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => (code !== null && code > 1 ? rej(new Error(`exit ${code}: ${args.join(' ')}`)) : res({ wall: performance.now() - t0, cpu: Number(cpu) / 1000 })));
  });
}

async function median(args: string[], preload: string): Promise<{ wall: number; cpu: number }> {
  await runOnce(args, preload); // the page cache warmed, as for a person's second call
  const runs: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await runOnce(args, preload));
  const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { wall: mid(runs.map((r) => r.wall)), cpu: mid(runs.map((r) => r.cpu)) };
}

export default async function (): Promise<void> {
  await new Promise<void>((res, rej) => execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build.ts')], { cwd: ROOT }, (e) => (e ? rej(e) : res())));
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-bench-cli-'));
  try {
    const csv = join(dir, 'trips.csv');
    const schema = join(dir, 'schema.json');
    writeFileSync(csv, ['trip_id,nights,city', ...Array.from({ length: 200 }, (_, i) => `T${i},${i % 9},${['kunming', 'dali', 'lijiang'][i % 3]}`)].join('\n') + '\n');
    writeFileSync(schema, JSON.stringify({
      sector: 'tourism',
      columns: [
        { name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 },
        { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] },
        { name: 'city', type: 'category', role: 'dimension', level: 1, values: ['kunming', 'dali', 'lijiang'] },
      ],
    }));
    const preload = join(dir, 'cpu.cjs');
    writeFileSync(preload, CPU_PRELOAD);
    const cli = join(ROOT, 'dist/cli/main.js');
    const node = await median(['-e', '0'], preload);
    note(`cli: node -e 0 takes ${node.wall.toFixed(0)} ms wall, ${node.cpu.toFixed(0)} ms CPU here (median of ${RUNS})`);
    for (const [name, args] of [
      ['version', ['--version']],
      ['help', ['--help']],
      ['owner-check-200-rows', ['owner', 'check', csv, '--schema', schema]],
      ['owner-describe-200-rows', ['owner', 'describe', csv, '--sector', 'tourism']],
    ] as const) {
      const m = await median([cli, ...args], preload);
      emit({ name: `cli.start.${name}`, value: m.wall, unit: 'ms', baseline: node.wall });
      emit({ name: `cli.cpu.${name}`, value: m.cpu, unit: 'ms CPU', baseline: node.cpu });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
