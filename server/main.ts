import { parseArgs } from 'node:util';
import { startServer } from './start.js';

/**
 * `npm start` → this file. Flags: --data-dir DIR (default var/), --port N (8080), --host H (127.0.0.1);
 * environment SHUYU_DATA_DIR / SHUYU_PORT / SHUYU_HOST … (server/config/config.ts) apply when a flag is absent.
 */
const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write('usage: npm start -- [--data-dir DIR] [--port N] [--host H]\n');
  process.exit(0);
}

const srv = await startServer({
  dataDir: values['data-dir'],
  port: values.port !== undefined ? Number(values.port) : undefined,
  host: values.host,
}).catch((e: unknown) => {
  process.stderr.write(`shuyu: could not start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

// at a terminal the log's first line already says this (server/log/pretty.ts)
if (!process.stdout.isTTY) process.stderr.write(`Shuyu (数域) listening on ${srv.url} — web console at ${srv.url}/console/  (data: ${srv.config.dataDir})\n`);
if (srv.bootstrap.created) process.stderr.write(`First run: operator credentials written to ${srv.bootstrap.file} (mode 0600)\n`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    srv.log.info({ signal: sig }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    srv.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
