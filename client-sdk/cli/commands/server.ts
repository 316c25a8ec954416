import type { Command } from 'commander';
import { positiveInt } from '../common.js';
import { action, print } from '../output.js';

/**
 * `shuyu server start`: runs a Shuyu server in this process (the same startServer as `npm start`) until
 * SIGINT/SIGTERM. The server code is imported only here, lazily: every other command speaks HTTP.
 */
export function register(program: Command): void {
  const server = program.command('server').description('run a Shuyu server');
  server
    .command('start')
    .description('start the server on its data directory (created on first run) and serve until Ctrl-C')
    .option('--data-dir <dir>', 'data directory (default var/, or SHUYU_DATA_DIR)')
    .option('--port <n>', 'port (default 8080, or SHUYU_PORT; 0 picks a free one)', (v) => (v === '0' ? 0 : positiveInt(v)))
    .option('--host <host>', 'interface to listen on (default 127.0.0.1, or SHUYU_HOST)')
    .option('--json', 'print {url, dataDir, bootstrap} as JSON on stdout once listening')
    .action(
      action(async (opts: { dataDir?: string; port?: number; host?: string; json?: boolean }) => {
        const { startServer } = await import('../../../server/start.js');
        const srv = await startServer({
          dataDir: opts.dataDir,
          port: opts.port,
          host: opts.host,
          // with --json, stdout carries exactly one JSON document: logs go to stderr
          ...(opts.json ? { logDestination: process.stderr } : {}),
        });
        print(opts, { url: srv.url, port: srv.port, dataDir: srv.config.dataDir, bootstrap: srv.bootstrap }, () => '');
        process.stderr.write(`Shuyu (数域) listening on ${srv.url}  (data: ${srv.config.dataDir})\n`);
        if (srv.bootstrap.created) {
          process.stderr.write(`First run: operator credentials written to ${srv.bootstrap.file} (mode 0600). Log in with: shuyu login --bootstrap ${srv.bootstrap.file}\n`);
        }
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (): void => {
            if (stopping) return;
            stopping = true;
            const force = setTimeout(() => process.exit(1), 15_000);
            force.unref();
            srv.close().then(resolve, resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }),
    );
}
