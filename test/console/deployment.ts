/**
 * The server behind every console test: startServer on a temp data dir and a free port, with the real
 * forked enclave and job worker, its log lines kept for the 5xx check, and the operator's first
 * credentials read from bootstrap.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/start.js';

export interface ConsoleServer {
  srv: RunningServer;
  dir: string;
  logs: string[];
  boot: { token: string; privateKeyPem: string };
  /** stops the server and removes its data dir */
  close(): Promise<void>;
}

export async function consoleServer(label: string): Promise<ConsoleServer> {
  const dir = mkdtempSync(join(tmpdir(), `shuyu-${label}-`));
  const logs: string[] = [];
  const srv = await startServer({
    dataDir: join(dir, 'data'),
    port: 0,
    logLevel: 'info',
    rateLimitPerMinute: 1_000_000,
    jobPollMs: 50,
    env: { SHUYU_MASTER_SECRET: `${label}-test-${dir}` },
    logDestination: { write: (s: string) => void logs.push(s) },
  });
  const close = async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const boot = JSON.parse(readFileSync(join(dir, 'data', 'bootstrap.json'), 'utf8')) as ConsoleServer['boot'];
    return { srv, dir, logs, boot, close };
  } catch (e) {
    await close();
    throw e;
  }
}
