import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { startServer, type RunningServer } from '../../server/start.js';

/**
 * Real server (E's startServer on a free port, temp data dir, silent logs) and the real `shuyu`
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

  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
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
  async json(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<any> {
    const r = await this.run([...args, '--json'], extraEnv);
    if (r.code !== 0 || r.json === undefined) {
      throw new Error(`shuyu ${args.join(' ')} → exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
    return r.json;
  }

  cleanup(): void {
    rmSync(this.configHome, { recursive: true, force: true });
  }
}
