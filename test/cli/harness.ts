import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { RunningServer } from '../../server/start.js';

/**
 * Real server (startServer on a free port, temp data dir, silent logs) and the real `shuyu`
 * binary spawned as a user would run it, each with its own XDG_CONFIG_HOME so profiles are isolated.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = process.env.SHUYU_CLI_ENTRY ?? join(ROOT, 'bin/shuyu.js');

export interface TestServer {
  srv: RunningServer;
  url: string;
  dataDir: string;
  bootstrapFile: string;
  bootstrap: { url: string; token: string; privateKeyPem: string; publicKeyPem: string; orgId: string; userId: string };
  stop(): Promise<void>;
}

export async function startTestServer(opts: { enclave?: boolean } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shuyu-f-srv-'));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  // imported here, not at the top: CLI-only tests load this file without the server (and its enclave client)
  const { startServer } = await import('../../server/start.js');
  const srv = await startServer({
    dataDir,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    logDestination: sink as never,
    enclave: opts.enclave ?? true,
    jobPollMs: 50,
    env: { ...process.env, SHUYU_MASTER_SECRET: 'f-test-master-secret-not-for-production' },
  });
  const bootstrapFile = join(dataDir, 'bootstrap.json');
  return {
    srv,
    url: srv.url,
    dataDir,
    bootstrapFile,
    bootstrap: JSON.parse(readFileSync(bootstrapFile, 'utf8')),
    async stop() {
      await srv.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let running = false;

async function runInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  if (running) throw new Error('in-process CLI runs must not overlap');
  running = true;
  const { Command, CommanderError } = await import('commander');
  const groups = [
    await import('../../client-sdk/cli/commands/crypto.js'),
    await import('../../client-sdk/cli/commands/index.js'),
    await import('../../server/cli/commands.js'),
  ];
  const program = new Command('shuyu').exitOverride();
  for (const g of groups) g.register(program);
  const saved = { env: process.env, out: process.stdout.write, err: process.stderr.write, code: process.exitCode };
  let stdout = '';
  let stderr = '';
  process.env = env;
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  let code: number;
  try {
    await program.parseAsync(['node', 'shuyu', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    code = e.exitCode === 0 ? 0 : 2;
  } finally {
    process.env = saved.env;
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    process.exitCode = saved.code;
    running = false;
  }
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (undefined when it is not JSON) */
  json: any;
}

/** A user of the CLI: a config dir of its own (profiles), optional extra environment. */
export class CliUser {
  readonly configHome: string;

  constructor(readonly name: string, readonly env: NodeJS.ProcessEnv = {}) {
    this.configHome = mkdtempSync(join(tmpdir(), `shuyu-f-${name}-`));
  }

  /**
   * Runs the command in this process on a program built from the same command modules main.ts
   * registers (commander and our modules unchanged; only main.ts's few wiring lines are skipped, and
   * the spawned runs cover those). ~50× faster than spawning on this 2-core machine; sequential only.
   */
  async run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runInProcess(args, { ...process.env, XDG_CONFIG_HOME: this.configHome, SHUYU_URL: '', SHUYU_TOKEN: '', SHUYU_PROFILE: '', SHUYU_PROGRESS: '0', ...this.env, ...extraEnv });
  }

  /** The real `shuyu` binary in a child process, exactly as a user runs it. */
  spawned(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return new Promise((res) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        {
          cwd: ROOT,
          env: { ...process.env, XDG_CONFIG_HOME: this.configHome, SHUYU_URL: '', SHUYU_TOKEN: '', SHUYU_PROFILE: '', ...this.env, ...extraEnv },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 120_000,
        },
        (err, stdout, stderr) => {
          let json: unknown;
          try {
            json = JSON.parse(stdout);
          } catch {
            json = undefined;
          }
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
          res({ code, stdout, stderr, json });
        },
      );
    });
  }

  /** Runs with --json and expects exit 0; returns the parsed document. */
  async json(args: string[], extraEnv?: NodeJS.ProcessEnv, how: 'in-process' | 'spawned' = 'in-process'): Promise<any> {
    const r = how === 'spawned' ? await this.spawned([...args, '--json'], extraEnv) : await this.run([...args, '--json'], extraEnv);
    if (r.code !== 0 || r.json === undefined) {
      throw new Error(`shuyu ${args.join(' ')} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    return r.json;
  }

  cleanup(): void {
    rmSync(this.configHome, { recursive: true, force: true });
  }
}
