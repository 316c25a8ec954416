import type { Logger } from 'pino';
import { EnclaveClient } from './client.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import { DomainError } from '../../contracts/errors.js';
import { fromB64 } from '../../crypto/index.js';

export interface EnclaveStart {
  dataDir: string;
  masterSecret: string;
  operatorPublicKeyPem: string;
  log: Logger;
  env?: Record<string, string>;
  /** the server's blob store directory: the enclave reads sealed row chunks from it, read-only */
  blobDir?: string;
  /** the enclave's own state in PostgreSQL (config.enclaveDatabaseUrl): put in the child's environment only */
  stateDatabase?: { url: string; schema?: string | undefined };
  /** a worker's enclave waits this long for the keystore a server's enclave creates, and never creates one */
  waitForKeystoreMs?: number;
}

/**
 * The forked enclave, supervised: if the child dies (crash, OOM, killed), the next call restarts it
 * from its sealed keystore; callers see `enclave-unavailable` for the calls in flight and retry.
 * The master secret is handed to the child over IPC at start and kept in this closure only to restart it.
 */
export class EnclaveHandle {
  private current: EnclaveClient | null = null;
  private starting: Promise<EnclaveClient> | null = null;
  private stopped = false;
  private galois: { fingerprint: string; bytes: Uint8Array } | null = null;

  private constructor(private readonly opts: EnclaveStart) {}

  static async start(opts: EnclaveStart): Promise<EnclaveHandle> {
    const h = new EnclaveHandle(opts);
    await h.client();
    return h;
  }

  /** OS pid of the current enclave child (fault tests kill it). */
  pid(): number | undefined {
    return this.current?.pid;
  }

  isUp(): boolean {
    const pid = this.current?.pid;
    if (this.stopped || !pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async client(): Promise<EnclaveClient> {
    if (this.stopped) throw new DomainError('enclave-unavailable', 'the server is shutting down');
    if (this.current && this.isUp()) return this.current;
    const db = this.opts.stateDatabase;
    const env = {
      ...(this.opts.env ?? {}),
      ...(db ? { SHUYU_ENCLAVE_DATABASE_URL: db.url, ...(db.schema ? { SHUYU_ENCLAVE_DATABASE_SCHEMA: db.schema } : {}) } : {}),
    };
    const wait = this.opts.waitForKeystoreMs;
    this.starting ??= EnclaveClient.start({
      dataDir: this.opts.dataDir,
      masterSecret: this.opts.masterSecret,
      operatorPublicKeyPem: this.opts.operatorPublicKeyPem,
      ...(Object.keys(env).length > 0 ? { env } : {}),
      ...(wait !== undefined ? { waitForKeystoreMs: wait, startTimeoutMs: wait + 60_000 } : {}),
      ...(this.opts.blobDir ? { blobStore: { kind: 'directory' as const, dir: this.opts.blobDir, layout: 'sharded' as const } } : {}),
    })
      .then((c) => {
        this.opts.log.info({ pid: c.pid, created: c.created }, c.created ? 'enclave started: keystore created' : 'enclave started');
        this.current = c;
        return c;
      })
      .finally(() => {
        this.starting = null;
      });
    return this.starting;
  }

  async publicInfo(): Promise<EnclavePublicInfo> {
    return (await this.client()).publicInfo();
  }

  /** The HE Galois keys (public) decoded once, for server-side rotate-and-sum. */
  async galoisKeys(): Promise<{ fingerprint: string; bytes: Uint8Array }> {
    if (!this.galois) {
      const info = await this.publicInfo();
      this.galois = { fingerprint: info.he.galoisKeysFingerprint, bytes: fromB64(info.he.galoisKeys) };
    }
    return this.galois;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.stop();
  }
}

/** The enclave's state database of a server's or worker's config, as EnclaveStart options. */
export const enclaveStateOf = (c: { enclaveDatabaseUrl?: string | undefined; enclaveDatabaseSchema?: string | undefined }): Pick<EnclaveStart, 'stateDatabase'> =>
  c.enclaveDatabaseUrl ? { stateDatabase: { url: c.enclaveDatabaseUrl, schema: c.enclaveDatabaseSchema } } : {};

export const startEnclave = (opts: EnclaveStart): Promise<EnclaveHandle> => EnclaveHandle.start(opts);
