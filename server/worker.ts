import type { DestinationStream } from 'pino';
import { loadConfig, type ServerConfig } from './config/config.js';
import { ensureDataDir, resolveMasterSecret } from './config/data-dir.js';
import { createLogger, type Logger } from './logger.js';
import { openDatabase } from './store/db.js';
import { BlobStore } from './blobs/blob-store.js';
import { IdentityService } from './identity/identity.js';
import { enclaveStateOf, startEnclave, type EnclaveHandle } from './enclave/handle.js';
import { enclaveSigner } from './trade/enclave-signer.js';
import { systemClock } from '../contracts/ids.js';

export interface WorkerOptions extends Partial<ServerConfig> {
  env?: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
  /** Extra environment for the enclave child (tests: { SHUYU_ENCLAVE_TEST_MODE: '1' }). */
  enclaveEnv?: Record<string, string>;
  /** How long to wait for a server to have bootstrapped the operator and the enclave keystore (default 120 s). */
  waitMs?: number;
}

export interface RunningWorker {
  owner: string;
  log: Logger;
  enclave(): EnclaveHandle;
  close(): Promise<void>;
}

/**
 * `shuyu enclave worker`: a process that runs trades and nothing else. It leases jobs from the shared store
 * (server/jobs/queue.ts: `FOR UPDATE SKIP LOCKED` on PostgreSQL, a lease renewed while the job runs),
 * reads the sealed blobs from the shared blob directory, has its own forked enclave release the result, and
 * records delivery and capture in one store transaction. Any number of workers (and servers started with
 * SHUYU_SERVER_JOBS=0) share one PostgreSQL: a worker killed mid-job loses its lease and another worker runs
 * the job again; the enclave's charge key (`trade:<id>`) and the saved receipt make the re-run charge nothing.
 *
 * The enclave's own state (sealed keystore, privacy ledger, differencing history, row maps) is in the enclave's
 * PostgreSQL schema (SHUYU_ENCLAVE_DATABASE_URL, handed to the forked enclave only: this process never opens
 * it), so every worker's enclave charges one ledger whatever host it runs on (docs/deploy.md). Without it, the
 * enclave keeps that state in the data directory's enclave/ folder, which the processes must then share.
 */
export async function startEnclaveWorker(opts: WorkerOptions = {}): Promise<RunningWorker> {
  const env = opts.env ?? process.env;
  const { env: _e, logDestination, enclaveEnv, waitMs = 120_000, ...flags } = opts;
  const config = loadConfig(flags, env);
  const layout = ensureDataDir(config.dataDir);
  const log = createLogger(config.logLevel, logDestination);
  const db = await openDatabase(config.databaseUrl ?? layout.dbFile, { ...(config.databaseSchema ? { schema: config.databaseSchema } : {}) });
  let enclave: EnclaveHandle | null = null;
  try {
    const blobs = new BlobStore(config.blobDir ?? layout.blobDir);
    const master = resolveMasterSecret(layout, env);
    // A server bootstraps the operator (pinned in the enclave) and its enclave creates the sealed keystore on
    // its first start; a worker never creates either, so all enclaves of the deployment hold the same keys. The
    // worker waits for the operator here and its enclave waits for the keystore (a row of the enclave's schema,
    // which this process cannot read, or the file in the shared enclave folder).
    const identity = new IdentityService(db, systemClock);
    const until = Date.now() + waitMs;
    let operatorKey: string | null | undefined = null;
    let told = false;
    while (!(operatorKey = (await identity.operator())?.publicKeyPem)) {
      if (!told) log.info({ dataDir: config.dataDir }, 'waiting for a server to bootstrap the operator and the enclave keystore');
      told = true;
      if (Date.now() > until) throw new Error('no server has bootstrapped this deployment (operator and enclave keystore): start a server first');
      await new Promise((r) => setTimeout(r, 250));
    }
    enclave = await startEnclave({
      dataDir: layout.enclaveDir,
      blobDir: config.blobDir ?? layout.blobDir,
      masterSecret: master.secret,
      operatorPublicKeyPem: operatorKey,
      log,
      waitForKeystoreMs: Math.max(0, until - Date.now()),
      ...enclaveStateOf(config),
      ...(enclaveEnv ? { env: enclaveEnv } : {}),
    });
    const started = enclave;
    const signer = enclaveSigner(() => started);
    signer.publicKeyPem = (await started.publicInfo()).signing.publicKeyPem;
    const { createApp } = await import('./app.js');
    // the services of a server, without its HTTP listener: the job worker and its housekeeping only
    const shuyu = createApp({ config, db, blobs, log, platformSigner: signer, enclave: null });
    await shuyu.trade.startWorker(started, { embedded: false });
    log.info({ dataDir: config.dataDir, worker: shuyu.trade.workerOwner() }, 'enclave worker running');
    let closing: Promise<void> | null = null;
    return {
      owner: shuyu.trade.workerOwner() ?? '',
      log,
      enclave: () => started,
      close: () =>
        (closing ??= (async () => {
          await shuyu.trade.stopWorker();
          await started.stop();
          await db.close();
          log.info('worker stopped');
        })()),
    };
  } catch (e) {
    await enclave?.stop().catch(() => {});
    await db.close().catch(() => {});
    throw e;
  }
}
