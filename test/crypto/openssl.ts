/** Runs the `openssl` CLI (OpenSSL 3) for interop tests, with a private temp dir and bounded concurrency. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function openssl(args: string[], input?: Uint8Array): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { encoding: 'buffer', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(err);
      resolve({ code, stdout, stderr: stderr.toString() });
    });
    if (input) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

/** Must succeed; returns stdout. */
export async function opensslOk(args: string[], input?: Uint8Array): Promise<Buffer> {
  const r = await openssl(args, input);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export function tempDir(prefix = 'shuyu-crypto-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight (2 cores shared by everyone). */
export async function runLimited(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}
