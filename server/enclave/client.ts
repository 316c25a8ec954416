import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { DomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import type { BundleManifest } from '../../formats/manifest.js';
import {
  AdmitRowsResponse,
  type AggregateReleaseRequest,
  AggregateReleaseResponse,
  type BlobStoreLocation,
  BudgetSpentResponse,
  EnclavePublicInfo,
  PROTOCOL_VERSION,
  ResponseEnvelope,
  SignStatementResponse,
  StartupMessage,
  type EnclaveMessageType,
  type PlatformStatement,
} from '../../formats/enclave-protocol.js';

/**
 * The server's handle on the enclave process: forks enclave/process/entry (entry.js from dist/, or entry.ts
 * through tsx), sends typed requests with ids and timeouts, validates every answer. Holds no key: the master
 * secret is handed to the child once at start and not kept here.
 */

export interface EnclaveStartOptions {
  dataDir: string;
  /** The master secret, or a file holding it (outside dataDir/keystore); else the child reads its env. */
  masterSecret?: string;
  masterSecretFile?: string;
  operatorPublicKeyPem: string;
  /** default 120 s per request */
  timeoutMs?: number;
  /** default 60 s (first start generates the BFV keys) */
  startTimeoutMs?: number;
  /** extra environment for the child, e.g. { SHUYU_ENCLAVE_TEST_MODE: '1' } in tests */
  env?: Record<string, string>;
  /**
   * The blob store the enclave reads sealed row chunks from by SM3 name (read-only); requests carry no row
   * bytes. Without it, every release or admission that needs rows is refused (blob-store-unavailable).
   */
  blobStore?: BlobStoreLocation;
  /** never create the keystore: wait up to this long for one (a worker's enclave) */
  waitForKeystoreMs?: number;
}

// compiled (dist/): entry.js on plain node; under tsx: entry.ts through the same loader (resolved only then) —
// unless SHUYU_ENCLAVE_FROM_DIST=1 says dist/ was just built from these same sources (the test suite's global
// fixture), when the built entry starts without compiling the enclave's modules again in every process
const SOURCES = !import.meta.url.endsWith('.js');
const BUILT = { entry: fileURLToPath(new URL(SOURCES ? '../../dist/enclave/process/entry.js' : '../../enclave/process/entry.js', import.meta.url)), execArgv: ['--expose-gc'] };
// (resolved at the top level: tsx's CommonJS form of import.meta has no resolve() inside functions)
const FROM_SOURCES = SOURCES ? { entry: fileURLToPath(new URL('../../enclave/process/entry.ts', import.meta.url)), execArgv: ['--import', import.meta.resolve('tsx'), '--expose-gc'] } : BUILT;
/** Read when forking: a test run's global fixture sets the variable after its files were loaded. */
const enclaveEntry = () => (process.env.SHUYU_ENCLAVE_FROM_DIST === '1' ? BUILT : FROM_SOURCES);

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export class EnclaveClient {
  private readonly pending = new Map<string, Pending>();
  private exited: DomainError | undefined;
  private info: EnclavePublicInfo | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly timeoutMs: number,
    readonly created: boolean,
  ) {
    child.on('message', (m) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      this.exited = new DomainError('enclave-unavailable', `the enclave process exited (${signal ?? code})`);
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(this.exited);
        this.pending.delete(id);
      }
    });
  }

  static async start(opts: EnclaveStartOptions): Promise<EnclaveClient> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}) };
    if (opts.masterSecret) delete env.SHUYU_MASTER_SECRET; // handed over IPC instead
    const { entry, execArgv } = enclaveEntry();
    const child = fork(entry, [], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const startup = await new Promise<z.infer<typeof StartupMessage>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new DomainError('enclave-timeout', 'the enclave did not start in time'));
      }, opts.startTimeoutMs ?? 60_000);
      const done = () => {
        clearTimeout(timer);
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      const onMsg = (m: unknown) => {
        const s = StartupMessage.safeParse(m);
        if (!s.success) return;
        done();
        resolve(s.data);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new DomainError('enclave-unavailable', `the enclave process exited during start (${code})`));
      };
      child.on('message', onMsg);
      child.on('exit', onExit);
      child.send({
        v: PROTOCOL_VERSION,
        kind: 'init',
        dataDir: opts.dataDir,
        operatorPublicKeyPem: opts.operatorPublicKeyPem,
        ...(opts.masterSecret ? { masterSecret: opts.masterSecret } : {}),
        ...(opts.masterSecretFile ? { masterSecretFile: opts.masterSecretFile } : {}),
        ...(opts.blobStore ? { blobStore: opts.blobStore } : {}),
        ...(opts.waitForKeystoreMs !== undefined ? { waitForKeystoreMs: opts.waitForKeystoreMs } : {}),
      });
    });
    if (startup.kind === 'start-failed') {
      child.kill();
      throw new DomainError(startup.error.type, startup.error.message, startup.error.detail);
    }
    return new EnclaveClient(child, opts.timeoutMs ?? 120_000, startup.created);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Send one request; resolves with the validated result or rejects with the enclave's typed error. */
  async call<S extends z.ZodType>(type: EnclaveMessageType, payload: unknown, responseSchema: S, opts: { timeoutMs?: number } = {}): Promise<z.output<S>> {
    if (this.exited) throw this.exited;
    const id = newId();
    const raw = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DomainError('enclave-timeout', `the enclave did not answer ${type} in time`));
      }, opts.timeoutMs ?? this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.send({ v: PROTOCOL_VERSION, id, type, payload }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new DomainError('enclave-unavailable', `cannot reach the enclave: ${err.message}`));
      });
    });
    const r = responseSchema.safeParse(raw);
    if (!r.success) throw new DomainError('enclave-bad-response', `the enclave's ${type} answer is malformed`);
    return r.data;
  }

  private onMessage(m: unknown): void {
    const env = ResponseEnvelope.safeParse(m);
    if (!env.success) return;
    const p = this.pending.get(env.data.id);
    if (!p) return; // late answer after a timeout
    this.pending.delete(env.data.id);
    clearTimeout(p.timer);
    if (env.data.ok) p.resolve(env.data.result);
    else p.reject(new DomainError(env.data.error.type, env.data.error.message, env.data.error.detail));
  }

  async publicInfo(): Promise<EnclavePublicInfo> {
    return (this.info ??= await this.call('publicInfo', {}, EnclavePublicInfo));
  }

  /**
   * Release an HE aggregate, in one call: the enclave reads the row map it keeps per dataset version (built at
   * admission), or derives it from the row chunks it reads itself from its blob store.
   */
  releaseAggregate(req: AggregateReleaseRequest): Promise<AggregateReleaseResponse> {
    return this.call('releaseAggregate', req, AggregateReleaseResponse);
  }

  /**
   * Before a dataset is published: the enclave reads and authenticates every sealed row chunk the manifest names
   * (from its blob store) and stores the row map its privacy gate uses (handlers/admit-rows.ts). Answers the row
   * count it found.
   */
  async admitRows(manifest: BundleManifest): Promise<number> {
    return (await this.call('admitRows', { manifest }, AdmitRowsResponse)).rows;
  }

  budgetSpent(buyerOrgId: string, datasetId: string): Promise<z.output<typeof BudgetSpentResponse>> {
    return this.call('budgetSpent', { buyerOrgId, datasetId }, BudgetSpentResponse);
  }

  signStatement(statement: PlatformStatement): Promise<z.output<typeof SignStatementResponse>> {
    return this.call('signStatement', { statement }, SignStatementResponse);
  }

  /** Graceful stop: close the channel (the child exits on disconnect), SIGKILL after a grace period. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    if (this.child.connected) this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
}

export type { AggregateReleaseRequest, AggregateReleaseResponse };
