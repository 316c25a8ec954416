import { createServer, type Server } from 'node:http';
import { answerClientErrors } from './http/client-error.js';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { loadConfig, type ServerConfig } from './config/config.js';
import { ensureDataDir, resolveMasterSecret } from './config/data-dir.js';
import { createLogger, type Logger } from './logger.js';
import { prettyDestination } from './log/pretty.js';
import { openDatabase, type Db } from './store/db.js';
import { BlobStore } from './blobs/blob-store.js';
import { enclaveSigner } from './trade/enclave-signer.js';
import type { ShuyuApp } from './app.js';
import { bootstrapOperator } from './identity/bootstrap.js';
import { IdentityService } from './identity/identity.js';
import { IdempotencyStore } from './http/idempotency.js';
import { enclaveStateOf, startEnclave, type EnclaveHandle } from './enclave/handle.js';
import { DomainError } from '../contracts/errors.js';
import { systemClock } from '../contracts/ids.js';

export interface StartOptions extends Partial<ServerConfig> {
  env?: NodeJS.ProcessEnv;
  /** Where JSON logs go (default stdout). */
  logDestination?: DestinationStream;
  /** Start the enclave process and the job worker (default true). */
  enclave?: boolean;
  /** Extra environment for the enclave child (tests: { SHUYU_ENCLAVE_TEST_MODE: '1' }). */
  enclaveEnv?: Record<string, string>;
  /**
   * Run trades in this process (default true, or SHUYU_SERVER_JOBS=0 for false): a cluster's API servers leave
   * them to `shuyu enclave worker` processes and only answer requests.
   */
  jobs?: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  config: ServerConfig;
  app: ShuyuApp;
  db: Db;
  log: Logger;
  bootstrap: { created: boolean; file: string };
  /** The supervised enclave (null when started with enclave: false). */
  enclave(): EnclaveHandle | null;
  close(): Promise<void>;
}

/**
 * Starts one Shuyu server: data directory (created on first run), SQLite (WAL, migrations), blob store,
 * operator bootstrap, the forked enclave, the job worker, and the HTTP listener. `npm start` and
 * `shuyu server start` both call this.
 */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const { env: _e, logDestination, enclave: withEnclave = true, enclaveEnv: _ee, jobs, ...flags } = opts;
  const runJobs = jobs ?? env.SHUYU_SERVER_JOBS !== '0';
  const config = loadConfig(flags, env);
  const layout = ensureDataDir(config.dataDir);
  // a person at a terminal reads lines; anything else (a file, a pipe, a collector) gets pino's JSON
  const log = createLogger(config.logLevel, logDestination ?? (process.stdout.isTTY ? prettyDestination(process.stdout) : undefined));
  // Cluster mode: the store is PostgreSQL, shared with other servers and workers — nothing found in it at
  // start-up (a running lease, a pending upload or idempotency key) belongs to a dead process of this one.
  const clustered = !!config.databaseUrl;
  if (clustered && withEnclave && !config.enclaveDatabaseUrl) {
    log.warn({ dataDir: config.dataDir }, "the enclave keeps its keystore and privacy state in this data directory: set SHUYU_ENCLAVE_DATABASE_URL so a cluster's processes share them (docs/deploy.md)");
  }
  const db = await openDatabase(config.databaseUrl ?? layout.dbFile, { ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) });
  const blobs = new BlobStore(config.blobDir ?? layout.blobDir);

  let enclave: EnclaveHandle | null = null;
  // Handed to the enclave only: its keystore, and so every secret key, is sealed under it.
  const master = withEnclave ? resolveMasterSecret(layout, env) : null;
  // The forked enclave takes seconds to load its modules and unseal its keystore: it is started as soon as
  // the operator's key (which it pins) is known — on a restart that is now, from the database — and this
  // process loads the API, recovers and listens meanwhile. On a first run it starts after the bootstrap.
  let enclaveStarting: Promise<EnclaveHandle> | null = null;
  const launchEnclave = (operatorPublicKeyPem: string): Promise<EnclaveHandle> => {
    enclaveStarting = startEnclave({
      dataDir: layout.enclaveDir,
      blobDir: config.blobDir ?? layout.blobDir,
      masterSecret: master!.secret,
      operatorPublicKeyPem,
      log,
      ...enclaveStateOf(config),
      ...(opts.enclaveEnv ? { env: opts.enclaveEnv } : {}),
    });
    enclaveStarting.catch(() => {}); // awaited (and its failure thrown) below; not an unhandled rejection meanwhile
    return enclaveStarting;
  };
  const knownOperatorKey = master ? (await new IdentityService(db, systemClock).operator())?.publicKeyPem : null;
  if (knownOperatorKey) launchEnclave(knownOperatorKey);
  try {
    return await startWithEnclave();
  } catch (e) {
    // a failed start leaves no enclave child behind
    void (enclaveStarting as Promise<EnclaveHandle> | null)?.then((h) => h.stop(), () => {});
    throw e;
  }

  async function startWithEnclave(): Promise<RunningServer> {
    const [{ createApp, httpClassesOf }, { createBundlePort }] = await Promise.all([import('./app.js'), import('./wiring/bundle.js')]);
    // the enclave handle once start-up has it; calls that arrive earlier are told to retry
    const started = (): EnclaveHandle => {
      if (!enclave) throw new DomainError('enclave-unavailable', 'the enclave is still starting; retry shortly');
      return enclave;
    };
    const bundle = createBundlePort(async () => {
      if (!withEnclave) return undefined;
      const info = await started().publicInfo();
      return { paramsId: info.he.paramsId, hePublicKeyFingerprint: info.he.publicKeyFingerprint, unwrapKeyFingerprint: info.unwrap.fingerprint };
    }, withEnclave ? async (manifest) => (await started().client()).admitRows(manifest) : undefined);
    const signer = enclaveSigner(() => enclave);
    const shuyu = createApp({
      config,
      db,
      blobs,
      log,
      bundle,
      // With an enclave, quotes and audit checkpoints are signed by its key (the server holds none);
      // without one (in-process apps) createApp falls back to a platform key sealed under a fixed label.
      ...(withEnclave ? { platformSigner: signer } : {}),
      enclave: withEnclave
        ? {
            publicInfo: async () => (await started().publicInfo()) as unknown as Record<string, unknown>,
            isUp: () => !!enclave?.isUp(),
            budgetSpent: async (buyerOrgId, datasetId) => (await started().client()).budgetSpent(buyerOrgId, datasetId),
          }
        : null,
    });
    const swept = await shuyu.services.datasets.sweep({ startup: !clustered });
    const cleared = clustered ? 0 : await new IdempotencyStore(db).clearPending();
    if (swept.expired || swept.orphans || swept.temp || cleared) log.info({ ...swept, idempotencyCleared: cleared }, 'recovered from the previous run');

    const server: Server = createServer({ requestTimeout: 10 * 60_000, headersTimeout: 30_000, ...httpClassesOf(shuyu.app) }, shuyu.app);
    server.keepAliveTimeout = 5_000;
    answerClientErrors(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    const boot = await bootstrapOperator(db, shuyu.services.identity, layout.bootstrapFile, () => url);
    if (boot.created) log.info({ file: boot.file }, 'first run: operator identity created; credentials written to bootstrap.json (mode 0600)');

    if (master) {
      if (master.source === 'generated-default' || master.source === 'default-file') {
        log.warn({ file: layout.masterSecretFile }, 'embedded default: the enclave master secret is a file in the data directory; production supplies SHUYU_MASTER_SECRET or SHUYU_MASTER_SECRET_FILE from outside it');
      }
      if (knownOperatorKey && knownOperatorKey !== boot.operatorPublicKeyPem) throw new Error('the operator key changed during start-up');
      enclave = await (enclaveStarting ?? launchEnclave(boot.operatorPublicKeyPem));
      signer.publicKeyPem = (await enclave.publicInfo()).signing.publicKeyPem;
      if (runJobs) await shuyu.trade.startWorker(enclave, { embedded: !clustered });
    }
    log.info({ url, console: `${url}/console/`, dataDir: config.dataDir }, `Shuyu listening on ${url}`);

    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        await shuyu.trade.stopWorker();
        server.closeIdleConnections();
        await new Promise<void>((r) => server.close(() => r()));
        await enclave?.stop();
        await db.close();
        log.info('stopped');
      })());
    return { url, port, config, app: shuyu, db, log, bootstrap: boot, enclave: () => enclave, close };
  }
}
