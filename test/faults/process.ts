import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DIST } from '../../scripts/build.js';
import type { Live } from '../server/fixture.js';
import { operatorFromBootstrap } from '../server/harness.js';

/** The compiled module of a source entry (`server/main` → dist/server/main.js), which test/dist-fixture.ts builds before the run. */
export function builtEntry(module: string): string {
  const path = join(DIST, `${module}.js`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` (mocha's global fixture does)`);
  return path;
}

/**
 * The real server (`server/main.ts`, as built into dist/ and run in production) as a child process on one data
 * directory: start (resolves with its URL once it listens), SIGKILL, and a Live view (operator credentials from
 * bootstrap.json) for the fixture helpers.
 */
export class ServerProcess {
  child: ChildProcess | null = null;
  output = '';
  /** ms from start() to the enclave's "enclave started" log line, of the last start (null before it). */
  enclaveReadyMs: number | null = null;

  constructor(
    readonly dataDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async start(): Promise<string> {
    this.output = '';
    this.enclaveReadyMs = null;
    const t0 = performance.now();
    const c = spawn(process.execPath, [builtEntry('server/main'), '--data-dir', this.dataDir, '--port', '0'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = c;
    c.stdout!.on('data', (d) => {
      this.output += d;
      if (this.enclaveReadyMs === null && /"msg":"enclave started/.test(this.output)) this.enclaveReadyMs = performance.now() - t0;
    });
    return new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not start:\n${this.output.slice(-2000)}`)), 90_000);
      const onExit = (code: number | null) => reject(new Error(`server exited ${code} during start:\n${this.output.slice(-2000)}`));
      c.on('exit', onExit);
      let err = '';
      c.stderr!.on('data', (d: Buffer) => {
        this.output += d;
        err += d;
        const m = /listening on (http:\/\/[^\s"]+)/.exec(err);
        if (m) {
          clearTimeout(t);
          c.off('exit', onExit);
          resolve(m[1]!);
        }
      });
    });
  }

  /** SIGKILL (no shutdown hooks run), and wait until the process is gone. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<number | null> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
    const gone = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill('SIGTERM');
    return gone;
  }

  /** Log lines (JSON) the process wrote to stdout. */
  logLines(): string[] {
    return this.output.split('\n').filter((s) => s.startsWith('{'));
  }

  /** `enclaveInfo`: the enclave's public info from an earlier start on this directory (the keystore persists), else fetched. */
  async live(url: string, root: string, enclaveInfo?: Live['enclaveInfo']): Promise<Live> {
    const http = () => request(url);
    return {
      srv: { url } as Live['srv'],
      dir: root,
      logs: [],
      http,
      enclaveInfo: enclaveInfo ?? (await http().get('/v1/enclave')).body,
      operator: operatorFromBootstrap(join(this.dataDir, 'bootstrap.json')),
    };
  }
}

/** The enclave child of a server process (its only child running enclave/process/entry.ts), from /proc. */
export function enclavePidOf(serverPid: number): number | null {
  try {
    const kids = readFileSync(`/proc/${serverPid}/task/${serverPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const k of kids) {
      const cmd = readFileSync(`/proc/${k}/cmdline`, 'utf8');
      if (cmd.includes('enclave/process/entry')) return k;
    }
  } catch {
    /* gone */
  }
  return null;
}
