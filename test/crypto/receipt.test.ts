import { writeFileSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalJson, fromB64, sm2Fingerprint, sm2KeyPair, sm2PublicKeyFromPem, sm2PublicKeyToPem, sm2Sign, toB64, toHex } from '../../crypto/index.js';
import { Receipt, signReceipt, verifyReceipt } from '../../formats/receipt.js';
import { errorCode } from './helpers.js';
import { openssl, tempDir } from './openssl.js';

const samplePayload = () => ({
  receiptId: '01938c1e-0000-7000-8000-000000000001',
  tradeId: 'trade-1',
  dataset: { id: 'ds-1', commitment: 'ab'.repeat(32) },
  offerId: 'offer-1',
  computation: { kind: 'aggregate', op: 'sum', column: '收入' },
  computationHash: 'cd'.repeat(32),
  result: { groups: [{ key: ['北京'], value: 1234 }] },
  privacy: { minGroupSize: 10, absentGroups: 'none', mechanism: 'discrete-laplace', epsilonSpent: 0.5 },
  priceFen: 150000,
  issuedAt: '2026-11-23T07:00:00.000Z',
});

describe('crypto: receipts (SM2-SM3 over canonical JSON)', function () {
  this.timeout(30000);
  const key = sm2KeyPair();
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('signs canonical JSON naming the key fingerprint, and verifies', () => {
    const receipt = signReceipt(samplePayload(), key);
    expect(Receipt.parse(receipt)).to.deep.equal(receipt);
    expect(receipt.algorithm).to.equal('SM2-SM3');
    expect(receipt.signerId).to.equal('1234567812345678');
    expect(receipt.payload).to.equal(canonicalJson({ ...samplePayload(), signingKeyFingerprint: sm2Fingerprint(key.publicKey) }));
    const v = verifyReceipt(JSON.parse(JSON.stringify(receipt)));
    expect(v).to.deep.equal({ valid: true, payload: JSON.parse(receipt.payload) });
    expect(verifyReceipt(receipt, { pinnedPublicKeyPem: sm2PublicKeyToPem(key.publicKey) }).valid).to.equal(true);
  });

  it('verifies with plain OpenSSL (pkeyutl, SM3, distid 1234567812345678)', async () => {
    const receipt = signReceipt(samplePayload(), key);
    writeFileSync(tmp.path('payload'), receipt.payload, 'utf8');
    writeFileSync(tmp.path('sig'), fromB64(receipt.signature));
    writeFileSync(tmp.path('pub.pem'), receipt.publicKeyPem);
    const args = (id: string) => ['pkeyutl', '-verify', '-pubin', '-inkey', tmp.path('pub.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', `distid:${id}`, '-in', tmp.path('payload'), '-sigfile', tmp.path('sig')];
    const ok = await openssl(args('1234567812345678'));
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout.toString()).to.match(/Signature Verified Successfully/);
    expect((await openssl(args('1234567812345679'))).code).to.not.equal(0);
  });

  it('refuses tampering, wrong keys, pins, and non-canonical or unbound payloads', () => {
    const receipt = signReceipt(samplePayload(), key);
    const other = sm2KeyPair();
    const reasonOf = (r: unknown, pin?: string) => {
      const v = verifyReceipt(r, pin === undefined ? {} : { pinnedPublicKeyPem: pin });
      return v.valid ? 'valid' : v.reason;
    };
    expect(reasonOf({ ...receipt, payload: receipt.payload.replace('1234', '1235') })).to.match(/signature/);
    expect(reasonOf({ ...receipt, publicKeyPem: sm2PublicKeyToPem(other.publicKey) })).to.match(/signature/);
    expect(reasonOf(receipt, sm2PublicKeyToPem(other.publicKey))).to.match(/pinned/);
    expect(reasonOf(receipt, 'not a pem')).to.match(/pinned/);
    expect(reasonOf({ ...receipt, signerId: 'someone' })).to.match(/signature/);
    expect(reasonOf({ ...receipt, algorithm: 'SM2' })).to.match(/schema/);
    expect(reasonOf({ ...receipt, extra: 1 })).to.match(/schema/);
    expect(reasonOf({ ...receipt, signature: `${receipt.signature}\n` })).to.match(/base64/);
    expect(reasonOf({ ...receipt, publicKeyPem: 'x' })).to.match(/public key/);
    expect(reasonOf(null)).to.match(/schema/);
    expect(reasonOf('receipt')).to.match(/schema/);
    // correctly signed, but the payload is not canonical JSON / does not name the key / is not an object
    const signRaw = (payload: string) => ({ ...receipt, payload, signature: toB64(sm2Sign(key.privateKey, payload)) });
    const fp = sm2Fingerprint(key.publicKey);
    expect(reasonOf(signRaw(`{"signingKeyFingerprint": "${fp}"}`))).to.match(/canonical/);
    expect(reasonOf(signRaw(`{"a":1,"a":1,"signingKeyFingerprint":"${fp}"}`))).to.match(/canonical/);
    expect(reasonOf(signRaw(canonicalJson({ tradeId: 't' })))).to.match(/fingerprint/);
    expect(reasonOf(signRaw(canonicalJson({ signingKeyFingerprint: sm2Fingerprint(other.publicKey) })))).to.match(/fingerprint/);
    expect(reasonOf(signRaw(canonicalJson([fp])))).to.match(/object/);
    expect(reasonOf(signRaw(canonicalJson({ signingKeyFingerprint: fp })))).to.equal('valid');
    expect(errorCode(() => signReceipt({ signingKeyFingerprint: 'other' }, key))).to.equal('bad-input');
    expect(errorCode(() => signReceipt({ bad: undefined }, key))).to.equal('not-canonical');
  });

  it('any single flipped character of a receipt field → invalid (fast-check)', () => {
    const receipt = signReceipt(samplePayload(), key);
    fc.assert(
      fc.property(fc.constantFrom('payload', 'signature', 'publicKeyPem', 'signerId'), fc.nat(), fc.integer({ min: 1, max: 127 }), (field, pos, mask) => {
        const s = receipt[field as keyof Receipt];
        const i = pos % s.length;
        const flipped = s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ mask) + s.slice(i + 1);
        fc.pre(flipped !== s);
        const v = verifyReceipt({ ...receipt, [field]: flipped });
        if (v.valid && field === 'publicKeyPem') {
          // only PEM framing whitespace may vary (e.g. a final "\n" → "\r"); the key itself must be the same
          expect(toHex(sm2PublicKeyFromPem(flipped))).to.equal(toHex(key.publicKey));
          return;
        }
        expect(v.valid, `${field}[${i}]`).to.equal(false);
      }),
      { numRuns: 300 },
    );
  });
});
