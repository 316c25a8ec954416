import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  fromB64,
  sm2Fingerprint,
  sm2KeyPair,
  sm2PrivateKeyFromPem,
  sm2PrivateKeyToDer,
  sm2PrivateKeyToPem,
  sm2PublicFromPrivate,
  sm2PublicKeyFromDer,
  sm2PublicKeyFromPem,
  sm2PublicKeyToDer,
  sm2PublicKeyToPem,
  sm3Hex,
  toB64,
  toHex,
} from '../../crypto/index.js';
import { errorCode } from './helpers.js';
import { opensslOk, tempDir } from './openssl.js';

describe('crypto: SM2 PEM keys (as OpenSSL 3 writes them)', function () {
  this.timeout(30000);
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('OpenSSL-generated keys import, and re-export byte-identically', async () => {
    const keyPath = tmp.path('ossl.pem');
    await opensslOk(['genpkey', '-algorithm', 'SM2', '-out', keyPath]);
    const privPem = (await opensslOk(['pkey', '-in', keyPath])).toString();
    const pubPem = (await opensslOk(['pkey', '-in', keyPath, '-pubout'])).toString();
    const d = sm2PrivateKeyFromPem(privPem);
    const pub = sm2PublicKeyFromPem(pubPem);
    expect(toHex(sm2PublicFromPrivate(d))).to.equal(toHex(pub));
    expect(sm2PrivateKeyToPem(d)).to.equal(privPem);
    expect(sm2PublicKeyToPem(pub)).to.equal(pubPem);
  });

  it('Shuyu keys round-trip through `openssl pkey` unchanged, and OpenSSL sees an SM2 key', async () => {
    for (let i = 0; i < 5; i++) {
      const kp = sm2KeyPair();
      const privPem = sm2PrivateKeyToPem(kp.privateKey);
      const pubPem = sm2PublicKeyToPem(kp.publicKey);
      writeFileSync(tmp.path('k.pem'), privPem);
      writeFileSync(tmp.path('p.pem'), pubPem);
      expect((await opensslOk(['pkey', '-in', tmp.path('k.pem')])).toString()).to.equal(privPem);
      expect((await opensslOk(['pkey', '-in', tmp.path('k.pem'), '-pubout'])).toString()).to.equal(pubPem);
      expect((await opensslOk(['pkey', '-pubin', '-in', tmp.path('p.pem')])).toString()).to.equal(pubPem);
      const text = (await opensslOk(['pkey', '-pubin', '-in', tmp.path('p.pem'), '-text', '-noout'])).toString();
      expect(text).to.match(/ASN1 OID: SM2/);
    }
  });

  it('fingerprint is SM3 of the SubjectPublicKeyInfo DER', async () => {
    const kp = sm2KeyPair();
    writeFileSync(tmp.path('fp.pem'), sm2PublicKeyToPem(kp.publicKey));
    const der = await opensslOk(['pkey', '-pubin', '-in', tmp.path('fp.pem'), '-outform', 'DER']);
    expect(sm2Fingerprint(kp.publicKey)).to.equal(sm3Hex(new Uint8Array(der))).and.to.match(/^[0-9a-f]{64}$/);
    expect(toHex(sm2PublicKeyToDer(kp.publicKey))).to.equal(der.toString('hex'));
  });

  it('rejects wrong labels, other curves, off-curve points, mismatched embedded keys and junk', async () => {
    const kp = sm2KeyPair();
    const pubPem = sm2PublicKeyToPem(kp.publicKey);
    const privPem = sm2PrivateKeyToPem(kp.privateKey);
    expect(errorCode(() => sm2PublicKeyFromPem(privPem))).to.equal('bad-pem');
    expect(errorCode(() => sm2PrivateKeyFromPem(pubPem))).to.equal('bad-pem');
    expect(errorCode(() => sm2PublicKeyFromPem('hello'))).to.equal('bad-pem');
    expect(errorCode(() => sm2PublicKeyFromPem(pubPem + pubPem))).to.equal('bad-pem');
    expect(errorCode(() => sm2PublicKeyFromPem(pubPem.replace('MFkw', 'MFkx')))).to.equal('bad-pem');
    // P-256 key: right structure, wrong curve
    await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmp.path('p256.pem')]);
    const p256Pub = (await opensslOk(['pkey', '-in', tmp.path('p256.pem'), '-pubout'])).toString();
    expect(errorCode(() => sm2PublicKeyFromPem(p256Pub))).to.equal('bad-pem');
    // off-curve point inside a well-formed SPKI
    const der = sm2PublicKeyToDer(kp.publicKey);
    der[der.length - 1]! ^= 1;
    expect(errorCode(() => sm2PublicKeyFromDer(der))).to.equal('bad-key');
    // embedded public key that does not belong to d
    const privDer = sm2PrivateKeyToDer(kp.privateKey);
    privDer[privDer.length - 1]! ^= 1;
    const tampered = `-----BEGIN PRIVATE KEY-----\n${toB64(privDer)}\n-----END PRIVATE KEY-----\n`;
    expect(errorCode(() => sm2PrivateKeyFromPem(tampered))).to.equal('bad-key');
    // CRLF line endings are fine
    expect(toHex(sm2PublicKeyFromPem(pubPem.replace(/\n/g, '\r\n')))).to.equal(toHex(kp.publicKey));
    expect(fromB64(toB64(privDer)).length).to.equal(privDer.length);
  });
});
