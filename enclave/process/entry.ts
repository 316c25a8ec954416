import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainError } from '../../contracts/errors.js';
import { sm2PublicKeyFromPem, sm2Sign, sm2Verify } from '../../crypto/index.js';
import { HeContext } from '../../he/seal.js';
import { assertSecretOutside, directoryKeystore, openOrCreateKeystore, publicInfoOf, storeKeystore, type KeystoreStorage } from '../keystore/keystore.js';
import { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { openEnclaveState, type EnclaveState } from '../state/state.js';
import { assertNoEmbeddedStateLeft, assertNotImportedAway, EMBEDDED_STATE_FILE } from '../state/import.js';
import { isStoreUnavailable } from '../../store/errors.js';
import { blobReaderOf } from '../release/blob-reader.js';
import { RowMaps } from '../release/row-map.js';
import { handlers } from './handlers/index.js';
import { ShareQueue } from '../state/share-queue.js';
import { ShareExecutor, shareKeyOf, sharesOf } from '../sql/shares.js';
import { hostname } from 'node:os';
import type { EnclaveContext } from './handlers/types.js';
import { InitMessage, PROTOCOL_VERSION, RequestEnvelope, type ResponseEnvelope, type WireError } from '../../formats/enclave-protocol.js';

/**
 * The enclave process (forked by EnclaveClient). It holds every secret key; its only way in or out is the
 * IPC channel, every message validated with zod. Requests are handled one at a time (SEAL is
 * single-threaded here), each answered exactly once by id. It exits when its parent goes away.
 */

if (!process.send) {
  console.error('enclave/process/entry.ts must be started by EnclaveClient (child_process.fork)');
  process.exit(2);
}
const send = (m: unknown): void => void process.send!(m);

const toWire = (e: unknown): WireError =>
  e instanceof DomainError
    ? { type: e.type, message: e.message, detail: JSON.parse(JSON.stringify(e.detail ?? {})) as Record<string, unknown> }
    : isStoreUnavailable(e)
      ? // its state database is away (restart, network): nothing was committed, the caller retries the job
        { type: 'enclave-unavailable', message: "the enclave's state database is unreachable; retry shortly", detail: {} }
      : // never echo internals of an unexpected failure across the boundary
        { type: 'enclave-internal', message: 'the enclave failed to process the request', detail: {} };

let ctx: EnclaveContext | undefined;
let queue: Promise<void> = Promise.resolve();

async function init(msg: InitMessage): Promise<void> {
  const keystoreDir = join(msg.dataDir, 'keystore');
  let secret = msg.masterSecret ?? process.env.SHUYU_MASTER_SECRET;
  const file = msg.masterSecretFile ?? (secret ? undefined : process.env.SHUYU_MASTER_SECRET_FILE);
  if (!secret && file) {
    assertSecretOutside(keystoreDir, file);
    secret = readFileSync(file, 'utf8').trim();
  }
  if (!secret) throw new DomainError('keystore-master-secret', 'no master secret: pass it at start or set SHUYU_MASTER_SECRET / SHUYU_MASTER_SECRET_FILE');
  const state = await openState(keystoreDir);
  const storage = state.keystoreInStore ? storeKeystore(state.store) : directoryKeystore(keystoreDir);
  // a cluster's store without a keystore beside an embedded one here: import it, never mint a second one
  if (state.keystoreInStore) await assertNoEmbeddedStateLeft(keystoreDir, storage, process.env.SHUYU_ENCLAVE_DATABASE_SCHEMA || undefined);
  if (msg.waitForKeystoreMs !== undefined) await waitForKeystore(storage, msg.waitForKeystoreMs);
  const { keystore, created } = await openOrCreateKeystore({ dir: storage, masterSecret: secret, operatorPublicKeyPem: msg.operatorPublicKeyPem });
  secret = undefined;
  const he = await HeContext.create(keystore.he.params);
  const decryptor = he.decryptor(keystore.he.secretKey);
  const ledger = new PrivacyBudgetLedger(state, true);
  const blobs = blobReaderOf(msg.blobStore);
  const rowMaps = new RowMaps({ ledger, keystore });
  const testMode = process.env.SHUYU_ENCLAVE_TEST_MODE === '1';
  // a cluster's enclaves (state in PostgreSQL) run each other's shares of large SQL runs (enclave/sql/shares.ts)
  const shares = state.keystoreInStore ? startShares(state, keystore.unwrap.privateKey, blobs) : undefined;
  ctx = {
    dataDir: msg.dataDir,
    keystore,
    he,
    decryptor,
    ledger,
    publicInfo: publicInfoOf(keystore),
    testMode,
    blobs,
    rowMaps,
    release: { keystore, ledger, blobs, rowMaps, decryptor, testMode, ...(shares ? { shares } : {}) },
  };
  send({ v: PROTOCOL_VERSION, kind: 'ready', created });
  // The first SM2 use of a key builds its precomputed tables (~0.5 s on a busy machine): paid right after start,
  // for the base point, the signing key and the operator key, not by the first release — and not by the start.
  setImmediate(() => {
    const probe = sm2Sign(keystore.signing.privateKey, 'warm-up');
    sm2Verify(keystore.signing.publicKey, 'warm-up', probe);
    sm2Verify(sm2PublicKeyFromPem(keystore.operatorPublicKeyPem), 'warm-up', probe);
  });
}

/**
 * The share executor of a cluster enclave (SHUYU_SANDBOX_SHARE_EXECUTOR=0 turns it off), and what this enclave
 * needs to split its own runs (SHUYU_SANDBOX_SHARES, default 1: it only runs others' shares).
 */
function startShares(state: EnclaveState, unwrapPrivateKey: Uint8Array, blobs: ReturnType<typeof blobReaderOf>) {
  const queue = new ShareQueue(state.store);
  const key = shareKeyOf(unwrapPrivateKey);
  const worker = `${hostname()}:${process.pid}`;
  if (process.env.SHUYU_SANDBOX_SHARE_EXECUTOR !== '0') {
    const executor = new ShareExecutor({
      queue,
      key,
      worker,
      blobs,
      unwrapPrivateKey,
      onError: (e) => void (isStoreUnavailable(e) ? undefined : console.error('enclave: a SQL share failed:', e instanceof Error ? e.message : e)),
    });
    executor.start();
  }
  return { queue, key, worker, count: sharesOf() };
}

/**
 * The enclave's state store: the PostgreSQL schema given to this process only (a cluster's workers share it,
 * so the keystore is a row there), else the SQLite file in the keystore folder (embedded).
 */
async function openState(keystoreDir: string): Promise<EnclaveState> {
  const url = process.env.SHUYU_ENCLAVE_DATABASE_URL;
  if (url) {
    const schema = process.env.SHUYU_ENCLAVE_DATABASE_SCHEMA;
    return openEnclaveState({ location: url, ...(schema ? { schema } : {}) });
  }
  assertNotImportedAway(keystoreDir);
  mkdirSync(keystoreDir, { recursive: true, mode: 0o700 });
  return openEnclaveState({ location: join(keystoreDir, EMBEDDED_STATE_FILE) });
}

async function waitForKeystore(storage: KeystoreStorage, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await storage.exists())) {
    if (Date.now() > until) {
      throw new DomainError('keystore-missing', `no enclave keystore in ${storage.where}: a server's enclave creates it on its first start (a cluster's processes share it through SHUYU_ENCLAVE_DATABASE_URL)`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function handle(raw: unknown): Promise<void> {
  const env = RequestEnvelope.safeParse(raw);
  const id = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : '';
  const reply = (r: { ok: true; result: unknown } | { ok: false; error: WireError }): void => send({ v: PROTOCOL_VERSION, id, ...r } satisfies ResponseEnvelope);
  if (!env.success) return reply({ ok: false, error: { type: 'enclave-bad-message', message: 'malformed message envelope', detail: {} } });
  const h = handlers[env.data.type];
  if (!h) return reply({ ok: false, error: { type: 'enclave-unknown-message', message: `unknown message type ${env.data.type}`, detail: {} } });
  if (!ctx) return reply({ ok: false, error: { type: 'enclave-not-ready', message: 'the enclave has not finished starting', detail: {} } });
  const payload = h.request.safeParse(env.data.payload);
  if (!payload.success) {
    return reply({
      ok: false,
      error: { type: 'enclave-bad-request', message: `${env.data.type}: ${payload.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, detail: {} },
    });
  }
  try {
    const result = h.response.parse(await h.handle(payload.data, ctx));
    reply({ ok: true, result });
  } catch (e) {
    if (!(e instanceof DomainError)) console.error(`enclave: ${env.data.type} failed:`, e instanceof Error ? e.message : e);
    reply({ ok: false, error: toWire(e) });
  }
}

process.on('message', (raw: unknown) => {
  if ((raw as { kind?: unknown })?.kind === 'init') {
    const m = InitMessage.safeParse(raw);
    queue = queue.then(() =>
      (m.success ? init(m.data) : Promise.reject(new DomainError('enclave-bad-message', 'malformed init message'))).catch((e) => {
        send({ v: PROTOCOL_VERSION, kind: 'start-failed', error: toWire(e) });
        setTimeout(() => process.exit(1), 50);
      }),
    );
    return;
  }
  queue = queue.then(() => handle(raw));
});
process.on('disconnect', () => process.exit(0));
