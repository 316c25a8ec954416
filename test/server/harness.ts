import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { loadConfig, type ServerConfig } from '../../server/config/config.js';
import { ensureDataDir } from '../../server/config/data-dir.js';
import { createLogger } from '../../server/logger.js';
import { openDatabase, type Db } from '../../server/store/db.js';
import { BlobStore } from '../../server/blobs/blob-store.js';
import { createApp, type ShuyuApp } from '../../server/app.js';
import { Metrics } from '../../server/http/metrics.js';
import { bootstrapOperator } from '../../server/identity/bootstrap.js';
import type { EnclavePort } from '../../server/api/services.js';
import type { Clock } from '../../contracts/ids.js';
import { sm2KeyPair, sm2PublicKeyToPem, sm2PrivateKeyFromPem, sm2Fingerprint } from '../../crypto/index.js';

/**
 * Every response any test app produces is recorded; a root hook asserts that none was a 5xx
 * (no 500 in the whole suite).
 */
export const serverErrors: { route: string; method: string; status: number }[] = [];
class RecordingMetrics extends Metrics {
  override observeRequest(route: string, method: string, status: number, seconds: number): void {
    super.observeRequest(route, method, status, seconds);
    if (status >= 500) serverErrors.push({ route, method, status });
  }
}

after(function () {
  if (serverErrors.length) throw new Error(`server answered 5xx during the suite: ${JSON.stringify(serverErrors.slice(0, 10))}`);
});

export interface Actor {
  userId: string;
  orgId: string;
  role: string;
  token: string;
  auth: { Authorization: string };
  keys?: { privateKey: Uint8Array; publicKey: Uint8Array; publicKeyPem: string; fingerprint: string };
}

/** The operator as bootstrap.json (written by the server's first start) describes it. */
export function operatorFromBootstrap(file: string): Actor & { privateKey: Uint8Array; publicKeyPem: string } {
  const boot = JSON.parse(readFileSync(file, 'utf8'));
  return {
    userId: boot.userId,
    orgId: boot.orgId,
    role: 'operator',
    token: boot.token,
    auth: { Authorization: `Bearer ${boot.token}` },
    privateKey: sm2PrivateKeyFromPem(boot.privateKeyPem),
    publicKeyPem: boot.publicKeyPem,
  };
}

export interface Harness {
  dir: string;
  config: ServerConfig;
  db: Db;
  shuyu: ShuyuApp;
  http: ReturnType<typeof request>;
  operator: Actor & { privateKey: Uint8Array };
  close(): Promise<void>;
}

export async function makeHarness(opts: { enclave?: EnclavePort | null; clock?: Clock; config?: Partial<ServerConfig> } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-e-'));
  const config = loadConfig({ dataDir: dir, logLevel: 'silent', rateLimitPerMinute: 1_000_000, ...opts.config }, {});
  const layout = ensureDataDir(dir);
  const db = await openDatabase(layout.dbFile);
  const blobs = new BlobStore(layout.blobDir);
  const shuyu = createApp({ config, db, blobs, log: createLogger('silent'), enclave: opts.enclave ?? null, metrics: new RecordingMetrics(), ...(opts.clock ? { clock: opts.clock } : {}) });
  await bootstrapOperator(db, shuyu.services.identity, layout.bootstrapFile, () => 'http://test');
  const operator = operatorFromBootstrap(layout.bootstrapFile);
  return {
    dir,
    config,
    db,
    shuyu,
    http: request(shuyu.app),
    operator,
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates an organisation (or reuses one by id) and a user of `role` in it, with an SM2 key registered. */
export async function makeActor(h: Harness, role: 'owner' | 'buyer' | 'reviewer' | 'operator', org: string | { id: string }): Promise<Actor> {
  let orgId: string;
  if (typeof org === 'string') {
    const r = await h.http.post('/v1/orgs').set(h.operator.auth).send({ name: org });
    if (r.status !== 201) throw new Error(`create org: ${r.status} ${JSON.stringify(r.body)}`);
    orgId = r.body.id;
  } else orgId = org.id;
  const u = await h.http.post('/v1/users').set(h.operator.auth).send({ orgId, name: `${role}-${orgId.slice(-4)}`, role });
  if (u.status !== 201) throw new Error(`create user: ${u.status} ${JSON.stringify(u.body)}`);
  const token = u.body.token.token as string;
  const auth = { Authorization: `Bearer ${token}` };
  const kp = sm2KeyPair();
  const publicKeyPem = sm2PublicKeyToPem(kp.publicKey);
  const k = await h.http.put('/v1/me/key').set(auth).send({ publicKeyPem });
  if (k.status !== 200) throw new Error(`register key: ${k.status} ${JSON.stringify(k.body)}`);
  return { userId: u.body.user.id, orgId, role, token, auth, keys: { ...kp, publicKeyPem, fingerprint: sm2Fingerprint(kp.publicKey) } };
}
