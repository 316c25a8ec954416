/**
 * GM crypto interoperability: 200 random messages each way against the `openssl` CLI (OpenSSL 3).
 * One openssl process per operation, at most two at a time (the machines have 2 shared cores).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  sm2Decrypt,
  sm2Encrypt,
  sm2KeyPair,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToPem,
  sm2PublicFromPrivate,
  sm2PublicKeyToPem,
  sm2Sign,
  sm2Verify,
  toHex,
  type Sm2KeyPair,
} from '../../crypto/index.js';
import { openssl, opensslOk, runLimited, tempDir } from './openssl.js';

const COUNT = 200;
const CONCURRENCY = 2;
const ID = '1234567812345678';
const WRONG_ID = '1234567812345679';

interface KeyFiles extends Sm2KeyPair {
  priv: string;
  pub: string;
}

describe('crypto: OpenSSL interop (200 random messages each way)', function () {
  this.timeout(120000);
  const tmp = tempDir('shuyu-interop-');
  after(() => tmp.cleanup());
  const keys: KeyFiles[] = [];
  // random lengths, always including the edges of one and several SM3 blocks
  const messages = Array.from({ length: COUNT }, (_, i) => new Uint8Array(randomBytes([1, 55, 56, 64, 65][i] ?? randomInt(1, 300))));

  before(async () => {
    // two keys made by Shuyu, two made by OpenSSL
    for (let i = 0; i < 4; i++) {
      const priv = tmp.path(`k${i}.pem`);
      const pub = tmp.path(`p${i}.pem`);
      let kp: Sm2KeyPair;
      if (i < 2) {
        kp = sm2KeyPair();
        writeFileSync(priv, sm2PrivateKeyToPem(kp.privateKey));
      } else {
        await opensslOk(['genpkey', '-algorithm', 'SM2', '-out', priv]);
        const d = sm2PrivateKeyFromPem(readFileSync(priv, 'utf8'));
        kp = { privateKey: d, publicKey: sm2PublicFromPrivate(d) };
      }
      await opensslOk(['pkey', '-in', priv, '-pubout', '-out', pub]);
      expect(readFileSync(pub, 'utf8')).to.equal(sm2PublicKeyToPem(kp.publicKey));
      keys.push({ ...kp, priv, pub });
    }
  });

  const verifyArgs = (k: KeyFiles, msg: string, sig: string, id: string) =>
    ['pkeyutl', '-verify', '-pubin', '-inkey', k.pub, '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${id}`, '-in', msg, '-sigfile', sig];

  it('Shuyu signs → openssl verifies; with a wrong ID openssl refuses', async () => {
    let ok = 0;
    await runLimited(COUNT, CONCURRENCY, async (i) => {
      const k = keys[i % keys.length]!;
      const msg = tmp.path(`s${i}.msg`);
      const sig = tmp.path(`s${i}.sig`);
      writeFileSync(msg, messages[i]!);
      writeFileSync(sig, sm2Sign(k.privateKey, messages[i]!));
      const good = await openssl(verifyArgs(k, msg, sig, ID));
      expect(good.code, `message ${i}: ${good.stderr}`).to.equal(0);
      const wrong = await openssl(verifyArgs(k, msg, sig, WRONG_ID));
      expect(wrong.code, `message ${i} with wrong ID`).to.not.equal(0);
      ok++;
    });
    expect(ok).to.equal(COUNT);
  });

  it('openssl signs → Shuyu verifies; with a wrong ID Shuyu refuses', async () => {
    let ok = 0;
    await runLimited(COUNT, CONCURRENCY, async (i) => {
      const k = keys[i % keys.length]!;
      const msg = tmp.path(`o${i}.msg`);
      writeFileSync(msg, messages[i]!);
      const sig = new Uint8Array(await opensslOk(['pkeyutl', '-sign', '-inkey', k.priv, '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${ID}`, '-in', msg]));
      expect(sm2Verify(k.publicKey, messages[i]!, sig), `message ${i}`).to.equal(true);
      expect(sm2Verify(k.publicKey, messages[i]!, sig, { id: WRONG_ID })).to.equal(false);
      ok++;
    });
    expect(ok).to.equal(COUNT);
  });

  it('openssl encrypts → Shuyu decrypts', async () => {
    let ok = 0;
    await runLimited(COUNT, CONCURRENCY, async (i) => {
      const k = keys[i % keys.length]!;
      const ct = new Uint8Array(await opensslOk(['pkeyutl', '-encrypt', '-pubin', '-inkey', k.pub], messages[i]!));
      expect(toHex(sm2Decrypt(k.privateKey, ct)), `message ${i}`).to.equal(toHex(messages[i]!));
      ok++;
    });
    expect(ok).to.equal(COUNT);
  });

  it('Shuyu encrypts → openssl decrypts', async () => {
    let ok = 0;
    await runLimited(COUNT, CONCURRENCY, async (i) => {
      const k = keys[i % keys.length]!;
      const pt = await opensslOk(['pkeyutl', '-decrypt', '-inkey', k.priv], sm2Encrypt(k.publicKey, messages[i]!));
      expect(pt.toString('hex'), `message ${i}`).to.equal(toHex(messages[i]!));
      ok++;
    });
    expect(ok).to.equal(COUNT);
  });
});
