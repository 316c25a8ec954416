import { InvalidArgumentError, type Command } from 'commander';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dirPath, positiveInt, readTextFile } from '../../client-sdk/cli/common.js';
import { action, print, UsageError } from '../../client-sdk/cli/output.js';

/**
 * `shuyu server start`: runs a Shuyu server in this process (the same startServer as `npm start`) until
 * SIGINT/SIGTERM. `shuyu server rotate-master-secret`: re-seals a stopped server's enclave keystore under a new
 * master secret; `shuyu server import-enclave-state` moves an embedded deployment's enclave state into the
 * cluster's enclave schema. The operator's commands, registered into `shuyu` by cli/main.ts; the server code is imported
 * lazily, so every other command starts without it.
 */
/** commander parser for --port: 0 (a free port) to 65535, refused as a usage error (exit 2) like any bad flag. */
function portNumber(v: string): number {
  if (v === '0') return 0;
  const n = positiveInt(v);
  if (n > 65_535) throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  const server = program.command('server').description('run a Shuyu server');
  server
    .command('start')
    .description('start the server on its data directory (created on first run) and serve until Ctrl-C')
    .option('--data-dir <dir>', 'data directory (default var/, or SHUYU_DATA_DIR)')
    .option('--port <n>', 'port (default 8080, or SHUYU_PORT; 0 picks a free one)', portNumber)
    .option('--host <host>', 'interface to listen on (default 127.0.0.1, or SHUYU_HOST)')
    .option('--database-url <url>', 'postgres://… to keep the store on PostgreSQL, shared by a cluster of servers (default: SQLite in the data directory, or SHUYU_DATABASE_URL)')
    .option('--blob-dir <dir>', 'blob store directory, shared by a cluster (default DATA_DIR/blobs, or SHUYU_BLOB_DIR)')
    .option('--json', 'print {url, dataDir, bootstrap} as JSON on stdout once listening')
    .action(
      action(async (opts: { dataDir?: string; port?: number; host?: string; databaseUrl?: string; blobDir?: string; json?: boolean }) => {
        if (opts.databaseUrl && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) throw new UsageError('--database-url must be a postgres:// URL');
        if (opts.dataDir) dirPath(opts.dataDir, 'data directory');
        const { startServer } = await import('../start.js');
        // the console `npm start` builds and serves: the same bundle, rebuilt when its sources changed (from
        // TypeScript; compiled, `npm run build` made it and the bundler is not installed)
        if (import.meta.url.endsWith('.ts')) await (await import('../../scripts/build-console.js')).ensureConsole();
        const srv = await startServer({
          dataDir: opts.dataDir,
          port: opts.port,
          host: opts.host,
          databaseUrl: opts.databaseUrl,
          blobDir: opts.blobDir,
          // with --json, stdout carries exactly one JSON document: logs go to stderr
          ...(opts.json ? { logDestination: process.stderr } : {}),
        });
        print(opts, { url: srv.url, port: srv.port, dataDir: srv.config.dataDir, bootstrap: srv.bootstrap }, () => '');
        // at a terminal without --json the log's first line already says this (server/log/pretty.ts)
        if (opts.json || !process.stdout.isTTY) process.stderr.write(`Shuyu (数域) listening on ${srv.url} — web console at ${srv.url}/console/  (data: ${srv.config.dataDir})\n`);
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

  server
    .command('rotate-master-secret')
    .description("re-seal a STOPPED server's enclave keystore under a new master secret (keys and fingerprints stay the same)")
    .requiredOption('--new-secret-file <file>', 'file holding the new master secret (≥ 16 bytes), kept outside the data directory')
    .option('--data-dir <dir>', 'data directory (default var/, or SHUYU_DATA_DIR); the current secret comes from SHUYU_MASTER_SECRET[_FILE] or the embedded default')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (opts: { newSecretFile: string; dataDir?: string; json?: boolean }) => {
        const newSecret = readTextFile(opts.newSecretFile, 'new master secret', { strict: true }).trim();
        if (Buffer.byteLength(newSecret) < 16) throw new UsageError(`the new master secret in ${opts.newSecretFile} must be at least 16 bytes`);
        if (opts.dataDir) dirPath(opts.dataDir, 'data directory', { mustExist: true });
        const [{ loadConfig }, { dataDirLayout, resolveMasterSecret }, { assertSecretOutside, rotateMasterSecret, storeKeystore }, { DEFAULT_ENCLAVE_SCHEMA, openEnclaveState }] =
          await Promise.all([
            import('../config/config.js'),
            import('../config/data-dir.js'),
            import('../../enclave/keystore/keystore.js'),
            import('../../enclave/state/state.js'),
          ]);
        const config = loadConfig(opts.dataDir ? { dataDir: opts.dataDir } : {}, process.env);
        const layout = dataDirLayout(config.dataDir);
        // a cluster's keystore is a row of the enclave schema, opened as the enclave opens it (its role's URL,
        // the schema checked to be the enclave's own), else files
        const schema = config.enclaveDatabaseSchema ?? DEFAULT_ENCLAVE_SCHEMA;
        const enclaveDb = config.enclaveDatabaseUrl ? (await openEnclaveState({ location: config.enclaveDatabaseUrl, schema, poolSize: 1 })).store : null;
        const keystore = enclaveDb ? storeKeystore(enclaveDb) : layout.keystoreDir;
        const where = enclaveDb ? `the enclave schema ${schema}` : layout.keystoreDir;
        try {
          if (enclaveDb ? !(await storeKeystore(enclaveDb).exists().catch(() => false)) : !existsSync(join(layout.keystoreDir, 'keystore.json'))) {
            throw new UsageError(`no enclave keystore in ${where}: start the server once first`);
          }
          try {
            assertSecretOutside(layout.enclaveDir, opts.newSecretFile); // nowhere in the enclave's directory
          } catch (e) {
            throw new UsageError(e instanceof Error ? e.message : String(e));
          }
          if (!process.env.SHUYU_MASTER_SECRET && !process.env.SHUYU_MASTER_SECRET_FILE && !existsSync(layout.masterSecretFile)) {
            throw new UsageError('the current master secret is not set: give it in SHUYU_MASTER_SECRET or SHUYU_MASTER_SECRET_FILE, as the server was started');
          }
          // the current secret, exactly as startServer resolves it
          const current = resolveMasterSecret(layout, process.env);
          const { fingerprint } = await rotateMasterSecret(keystore, current.secret, newSecret);
          let next: string;
          if (current.source === 'default-file') {
            // embedded default: keep `npm start` working by replacing DATA_DIR/master.secret as well
            writeFileSync(`${layout.masterSecretFile}.new`, newSecret + '\n', { mode: 0o600 });
            renameSync(`${layout.masterSecretFile}.new`, layout.masterSecretFile);
            next = `the embedded default ${layout.masterSecretFile} now holds the new secret`;
          } else {
            next = `restart with SHUYU_MASTER_SECRET_FILE=${opts.newSecretFile} (or the new value in SHUYU_MASTER_SECRET)`;
          }
          print(opts, { rotated: true, keystore: where, signingKeyFingerprint: fingerprint, previousSource: current.source }, () =>
            `keystore re-sealed under the new master secret (signing key ${fingerprint.slice(0, 16)}… unchanged); ${next}`,
          );
        } finally {
          await enclaveDb?.close();
        }
      }),
    );

  server
    .command('import-enclave-state')
    .description("move a STOPPED embedded deployment's enclave state (sealed keystore, privacy ledger, history) into the cluster's enclave schema")
    .option('--data-dir <dir>', 'the embedded data directory (default var/, or SHUYU_DATA_DIR)')
    .option('--enclave-database-url <url>', "the enclave role's postgres:// URL (default SHUYU_ENCLAVE_DATABASE_URL)")
    .option('--schema <schema>', 'the enclave schema (default SHUYU_ENCLAVE_DATABASE_SCHEMA, or shuyu_enclave)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (opts: { dataDir?: string; enclaveDatabaseUrl?: string; schema?: string; json?: boolean }) => {
        if (opts.dataDir) dirPath(opts.dataDir, 'data directory', { mustExist: true });
        const [{ loadConfig }, { dataDirLayout }, { importEmbeddedState }, { DEFAULT_ENCLAVE_SCHEMA }] = await Promise.all([
          import('../config/config.js'),
          import('../config/data-dir.js'),
          import('../../enclave/state/import.js'),
          import('../../enclave/state/state.js'),
        ]);
        let config;
        try {
          config = loadConfig({ dataDir: opts.dataDir, enclaveDatabaseUrl: opts.enclaveDatabaseUrl, enclaveDatabaseSchema: opts.schema }, process.env);
        } catch (e) {
          throw new UsageError(e instanceof Error ? e.message : String(e));
        }
        if (!config.enclaveDatabaseUrl) throw new UsageError('no enclave database: give --enclave-database-url postgres://… or set SHUYU_ENCLAVE_DATABASE_URL');
        const layout = dataDirLayout(config.dataDir);
        const r = await importEmbeddedState({ keystoreDir: layout.keystoreDir, url: config.enclaveDatabaseUrl, ...(config.enclaveDatabaseSchema ? { schema: config.enclaveDatabaseSchema } : {}) });
        const total = Object.values(r.rows).reduce((a, b) => a + b, 0);
        print(opts, { imported: true, ...r }, () =>
          `imported the sealed keystore and ${total} state rows into schema ${r.schema}; ${layout.keystoreDir} is marked imported (${r.renamed.join(', ')}). ` +
            `Start the servers and workers with SHUYU_ENCLAVE_DATABASE_URL${r.schema === DEFAULT_ENCLAVE_SCHEMA ? '' : ` and SHUYU_ENCLAVE_DATABASE_SCHEMA=${r.schema}`}.`,
        );
      }),
    );
}

/**
 * `shuyu enclave worker`: runs trades from the shared store until SIGINT/SIGTERM (server/worker.ts). The
 * operator starts M of them beside N API servers (docs/deploy.md, cluster deployment).
 */
export function registerWorker(program: Command): void {
  // `shuyu enclave` (the client's pinned enclave key) exists already: the worker is its subcommand
  const enclave = program.commands.find((c) => c.name() === 'enclave') ?? program.command('enclave');
  enclave
    .command('worker')
    .description('lease trades from the shared store and run them in this process’s own enclave, until Ctrl-C')
    .option('--data-dir <dir>', 'data directory holding the enclave keystore (default var/, or SHUYU_DATA_DIR)')
    .option('--database-url <url>', 'the cluster’s PostgreSQL (postgres://…, or SHUYU_DATABASE_URL)')
    .option('--blob-dir <dir>', 'the shared blob store directory (default DATA_DIR/blobs, or SHUYU_BLOB_DIR)')
    .option('--json', 'print {worker, dataDir} as JSON on stdout once running')
    .action(
      action(async (opts: { dataDir?: string; databaseUrl?: string; blobDir?: string; json?: boolean }) => {
        if (opts.databaseUrl && !/^postgres(ql)?:\/\//.test(opts.databaseUrl)) throw new UsageError('--database-url must be a postgres:// URL');
        if (opts.dataDir) dirPath(opts.dataDir, 'data directory');
        const { startEnclaveWorker } = await import('../worker.js');
        const w = await startEnclaveWorker({
          dataDir: opts.dataDir,
          databaseUrl: opts.databaseUrl,
          blobDir: opts.blobDir,
          ...(opts.json ? { logDestination: process.stderr } : {}),
        });
        print(opts, { worker: w.owner, pid: process.pid }, () => '');
        process.stderr.write(`Shuyu enclave worker ${w.owner} running\n`);
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (): void => {
            if (stopping) return;
            stopping = true;
            const force = setTimeout(() => process.exit(1), 15_000);
            force.unref();
            w.close().then(resolve, resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      }),
    );
}
