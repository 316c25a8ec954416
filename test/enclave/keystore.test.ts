import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem, toB64, toHex } from '../../crypto/index.js';
import { assertSecretOutside, openKeystore, openOrCreateKeystore, publicInfoOf } from '../../enclave/keystore/keystore.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import { ping } from '../../enclave/process/handlers/ping.js';
import { z } from 'zod';

/** Keystore at rest and the enclave process's start-up and message boundary. */
describe('enclave/keystore and the enclave process', function () {
  this.timeout(60_000);
  let dir: string;
  const operator = sm2KeyPair();
  const operatorPem = sm2PublicKeyToPem(operator.publicKey);
  const SECRET = 'keystore-test-master-secret';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-ks-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is created once, reopens with the same keys, and holds no secret in the clear', async () => {
    const ksDir = join(dir, 'a');
    const first = await openOrCreateKeystore({ dir: ksDir, masterSecret: SECRET, operatorPublicKeyPem: operatorPem });
    expect(first.created).to.equal(true);
    const again = await openOrCreateKeystore({ dir: ksDir, masterSecret: SECRET, operatorPublicKeyPem: operatorPem });
    expect(again.created).to.equal(false);
    expect(publicInfoOf(again.keystore)).to.deep.equal(publicInfoOf(first.keystore));
    const ks = first.keystore;
    const secrets = [ks.signing.privateKey, ks.unwrap.privateKey, ks.he.secretKey.subarray(16, 64)];
    for (const f of readdirSync(ksDir)) {
      const text = readFileSync(join(ksDir, f));
      for (const s of secrets) {
        for (const enc of [Buffer.from(s), Buffer.from(toHex(s)), Buffer.from(toB64(s).slice(4, 36))]) {
          expect(text.includes(enc), `${f} holds a secret key`).to.equal(false);
        }
      }
      expect(text.includes(Buffer.from(SECRET)), `${f} holds the master secret`).to.equal(false);
    }
    const info = publicInfoOf(ks);
    expect(JSON.stringify(info)).to.not.include(toB64(ks.he.secretKey).slice(0, 40));
    expect(info.operator.fingerprint).to.match(/^[0-9a-f]{64}$/);
  });

  it('refuses a wrong master secret, another operator key, and tampered public files', async () => {
    const ksDir = join(dir, 'a');
    const type = async (p: Promise<unknown>) => p.then(() => 'opened', (e) => (isDomainError(e) ? e.type : String(e)));
    expect(await type(openKeystore(ksDir, 'not-the-master-secret'))).to.equal('keystore-locked');
    expect(await type(openKeystore(ksDir, SECRET, sm2PublicKeyToPem(sm2KeyPair().publicKey)))).to.equal('keystore-operator-key');
    const gk = join(ksDir, 'he-galois-keys.bin');
    const orig = readFileSync(gk);
    const bad = Buffer.from(orig);
    bad[1000]! ^= 1;
    writeFileSync(gk, bad);
    expect(await type(openKeystore(ksDir, SECRET))).to.equal('keystore-corrupt');
    writeFileSync(gk, orig);
    const store = join(ksDir, 'keystore.json');
    const j = JSON.parse(readFileSync(store, 'utf8'));
    const sealed = Buffer.from(j.sealed, 'base64');
    sealed[40]! ^= 1;
    writeFileSync(store, JSON.stringify({ ...j, sealed: sealed.toString('base64') }));
    expect(await type(openKeystore(ksDir, SECRET))).to.equal('keystore-locked');
    expect(() => assertSecretOutside(ksDir, join(ksDir, 'master.secret'))).to.throw(/must not be stored inside/);
    expect(() => assertSecretOutside(ksDir, join(dir, 'master.secret'))).to.not.throw();
    expect(await type(openOrCreateKeystore({ dir: join(dir, 'short'), masterSecret: 'short', operatorPublicKeyPem: operatorPem }))).to.equal('keystore-master-secret');
  });

  describe('process', () => {
    let enclave: EnclaveClient;
    const dataDir = () => join(dir, 'proc');
    before(async () => {
      writeFileSync(join(dir, 'master.secret'), SECRET + '\n', { mode: 0o600 });
      enclave = await EnclaveClient.start({ dataDir: dataDir(), masterSecretFile: join(dir, 'master.secret'), operatorPublicKeyPem: operatorPem });
    });
    after(() => enclave?.stop());

    it('starts from a master secret file outside its directory and serves only public info', async () => {
      expect(enclave.created).to.equal(true);
      const info = await enclave.publicInfo();
      expect(info.he.paramsId).to.equal('bfv-n4096-t40-v1');
      expect(info.signing.publicKeyPem).to.match(/BEGIN PUBLIC KEY/);
      expect(Object.keys(info).sort()).to.deep.equal(['he', 'operator', 'signing', 'unwrap']);
    });

    it('answers malformed and unknown messages with typed errors and stays up', async () => {
      const t = async (type: string, payload: unknown) => enclave.call(type, payload, z.unknown()).then(() => 'ok', (e) => (isDomainError(e) ? e.type : String(e)));
      expect(await t('nope', {})).to.equal('enclave-unknown-message');
      expect(await t('publicInfo', { extra: 1 })).to.equal('enclave-bad-request');
      expect(await t('releaseAggregate', { trade: 5 })).to.equal('enclave-bad-request');
      expect(await t('signStatement', { statement: { type: 'shuyu.receipt.v1' } })).to.equal('enclave-bad-request');
      const alive = await enclave.call('ping', {}, ping.response);
      expect(alive.pid).to.equal(enclave.pid);
    });

    it('refuses to start with the wrong master secret or a different operator key', async () => {
      await enclave.stop();
      const start = (secret: string, pem: string) =>
        EnclaveClient.start({ dataDir: dataDir(), masterSecret: secret, operatorPublicKeyPem: pem }).then(
          async (c) => {
            await c.stop();
            return 'started';
          },
          (e) => (isDomainError(e) ? e.type : String(e)),
        );
      expect(await start('a-wrong-master-secret!!', operatorPem)).to.equal('keystore-locked');
      expect(await start(SECRET, sm2PublicKeyToPem(sm2KeyPair().publicKey))).to.equal('keystore-operator-key');
      const restarted = await EnclaveClient.start({ dataDir: dataDir(), masterSecret: SECRET, operatorPublicKeyPem: operatorPem });
      expect(restarted.created).to.equal(false);
      await restarted.stop();
    });

    it('a request to a dead enclave fails fast with enclave-unavailable', async () => {
      const c = await EnclaveClient.start({ dataDir: dataDir(), masterSecret: SECRET, operatorPublicKeyPem: operatorPem, timeoutMs: 5000 });
      process.kill(c.pid!, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      const r = await c.call('ping', {}, ping.response).then(() => 'ok', (e) => (isDomainError(e) ? e.type : String(e)));
      expect(r).to.equal('enclave-unavailable');
    });
  });
});
