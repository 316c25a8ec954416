import { expect } from 'chai';
import fc from 'fast-check';
import {
  decodeSm2Signature,
  encodeSm2Signature,
  fromHex,
  sm2Decrypt,
  sm2Encrypt,
  sm2KeyPair,
  sm2PublicFromPrivate,
  sm2Sign,
  sm2Verify,
  toHex,
  utf8,
} from '../../crypto/index.js';
import { makeSm2Curve, SM2P256V1, type Sm2Curve } from '../../crypto/sm2-curve.js';
import { bytesToBig, sm2DecryptCore, sm2Digest, sm2EncryptCore, sm2SignDigest, sm2VerifyDigest } from '../../crypto/sm2-core.js';
import { decodeSm2Ciphertext, encodeSm2Ciphertext, sm2EncryptWithNonce, sm2PublicCacheStats, sm2SignWithNonce } from '../../crypto/sm2.js';
import { errorCode, loadVectors } from './helpers.js';

type CurveHex = Record<'p' | 'a' | 'b' | 'Gx' | 'Gy' | 'n', string>;
interface SignVec { name: string; curve: string; id: string; privateKey: string; message: string; k: string; r: string; s: string }
interface EncVec { name: string; curve: string; privateKey: string; message: string; k: string; ciphertextDer: string }
const V = loadVectors<{ curves: Record<string, CurveHex>; signatures: SignVec[]; encryptions: EncVec[] }>('sm2.json');

const big = (h: string): bigint => BigInt(`0x${h}`);
function curveOf(name: string): Sm2Curve {
  const c = V.curves[name]!;
  const curve = makeSm2Curve({ name, p: big(c.p), a: big(c.a), b: big(c.b), Gx: big(c.Gx), Gy: big(c.Gy), n: big(c.n) });
  if (name === 'sm2p256v1') {
    // the vector file's parameters must be the ones the library ships
    expect([curve.p, curve.a, curve.b, curve.n]).to.deep.equal([SM2P256V1.p, SM2P256V1.a, SM2P256V1.b, SM2P256V1.n]);
    expect(curve.G.toAffine()).to.deep.equal(SM2P256V1.G.toAffine());
  }
  return curve;
}
const fixed = (k: string) => () => big(k);

describe('crypto: SM2 known answers (GB/T 32918, OpenSSL sm2_internal_test.c)', () => {
  for (const v of V.signatures) {
    it(`signature: ${v.name}`, () => {
      const curve = curveOf(v.curve);
      const d = big(v.privateKey);
      const P = curve.G.multiply(d);
      const e = sm2Digest(curve, utf8(v.id), P, utf8(v.message));
      const sig = sm2SignDigest(curve, d, e, fixed(v.k));
      expect(sig.r.toString(16)).to.equal(v.r.toLowerCase());
      expect(sig.s.toString(16)).to.equal(v.s.toLowerCase());
      expect(sm2VerifyDigest(curve, P, e, sig.r, sig.s)).to.equal(true);
      expect(sm2VerifyDigest(curve, P, e + 1n, sig.r, sig.s)).to.equal(false);
      if (v.curve === 'sm2p256v1') {
        // and through the public byte API
        const der = sm2SignWithNonce(fromHex(v.privateKey), v.message, fixed(v.k), { id: v.id });
        expect(toHex(der)).to.equal(toHex(encodeSm2Signature(big(v.r), big(v.s))));
        const pub = sm2PublicFromPrivate(fromHex(v.privateKey));
        expect(sm2Verify(pub, v.message, der, { id: v.id })).to.equal(true);
        expect(sm2Verify(pub, v.message, der, { id: 'someone else' })).to.equal(false);
      }
    });
  }
  for (const v of V.encryptions) {
    it(`encryption: ${v.name}`, () => {
      const curve = curveOf(v.curve);
      const d = big(v.privateKey);
      const P = curve.G.multiply(d);
      const ct = encodeSm2Ciphertext(sm2EncryptCore(curve, P, utf8(v.message), fixed(v.k)));
      expect(toHex(ct)).to.equal(v.ciphertextDer.toLowerCase());
      // the same with k·G and k·P_B over the window tables sm2Encrypt caches (W = 8, constant time)
      const tables = { kG: curve.ephemeralMultiplier(curve.G.toAffine(), 8), kP: curve.ephemeralMultiplier(P.toAffine(), 8) };
      expect(toHex(encodeSm2Ciphertext(sm2EncryptCore(curve, P, utf8(v.message), fixed(v.k), tables)))).to.equal(v.ciphertextDer.toLowerCase());
      expect(Buffer.from(sm2DecryptCore(d, decodeSm2Ciphertext(curve, ct))).toString()).to.equal(v.message);
      if (v.curve === 'sm2p256v1') {
        const pub = sm2PublicFromPrivate(fromHex(v.privateKey));
        // first use: noble's blinded k·P; from the second on: the key's constant-time window table — same bytes
        for (let use = 0; use < 3; use++) expect(toHex(sm2EncryptWithNonce(pub, utf8(v.message), fixed(v.k)))).to.equal(v.ciphertextDer.toLowerCase());
        expect(sm2PublicCacheStats().encryptionTables).to.be.at.least(1);
        expect(Buffer.from(sm2Decrypt(fromHex(v.privateKey), fromHex(v.ciphertextDer))).toString()).to.equal(v.message);
      }
    });
  }
});

describe('crypto: SM2 keys, signatures and encryption', () => {
  const kp = sm2KeyPair();
  const other = sm2KeyPair();

  it('generates valid, distinct key pairs', () => {
    expect(kp.privateKey.length).to.equal(32);
    expect(kp.publicKey.length).to.equal(65);
    expect(kp.publicKey[0]).to.equal(4);
    expect(toHex(sm2PublicFromPrivate(kp.privateKey))).to.equal(toHex(kp.publicKey));
    expect(toHex(kp.privateKey)).to.not.equal(toHex(other.privateKey));
  });

  it('rejects invalid private keys with bad-key', () => {
    const n = SM2P256V1.n;
    for (const d of [new Uint8Array(32), fromHex((n - 1n).toString(16)), fromHex(n.toString(16)), new Uint8Array(31), fromHex('ff'.repeat(32))]) {
      expect(errorCode(() => sm2Sign(d, 'x'))).to.equal('bad-key');
    }
    const nMinus2 = fromHex((n - 2n).toString(16));
    expect(sm2Verify(sm2PublicFromPrivate(nMinus2), 'x', sm2Sign(nMinus2, 'x'))).to.equal(true);
  });

  it('rejects invalid public keys with bad-key (off curve, wrong prefix, wrong length, infinity)', () => {
    const sig = sm2Sign(kp.privateKey, 'm');
    const offCurve = kp.publicKey.slice();
    offCurve[64]! ^= 1;
    const compressed = SM2P256V1.Point.fromBytes(kp.publicKey).toBytes(true);
    const bigX = kp.publicKey.slice();
    bigX.fill(0xff, 1, 33); // x ≥ p
    for (const pub of [offCurve, compressed, kp.publicKey.subarray(1), new Uint8Array(65), Uint8Array.of(0), bigX, Uint8Array.of(2, ...kp.publicKey.subarray(1))]) {
      expect(errorCode(() => sm2Verify(pub, 'm', sig))).to.equal('bad-key');
      expect(errorCode(() => sm2Encrypt(pub, utf8('m')))).to.equal('bad-key');
    }
  });

  it('verify returns false (never throws) for malformed, non-canonical or out-of-range signatures', () => {
    const msg = 'receipt';
    const der = sm2Sign(kp.privateKey, msg);
    const { r, s } = decodeSm2Signature(der)!;
    const n = SM2P256V1.n;
    const seq = (body: string) => fromHex(`30${(body.length / 2).toString(16).padStart(2, '0')}${body}`);
    const int = (hex: string) => `02${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`;
    const rh = r.toString(16).padStart(64, '0');
    const sh = s.toString(16).padStart(64, '0');
    const bad: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(0x30, 0),
      encodeSm2Signature(0n, s),
      encodeSm2Signature(r, 0n),
      encodeSm2Signature(r + n, s),
      encodeSm2Signature(r, s + n),
      encodeSm2Signature(n, s),
      encodeSm2Signature(r, n - r), // t = r + s = 0 mod n
      encodeSm2Signature(r, n - s), // the "malleated" s is not valid in SM2
      seq(int(`0000${rh}`) + int(sh)), // needless leading zero bytes in r (non-minimal INTEGER)
      seq(int(rh) + int(`0000${sh}`)), // … and in s
      seq(int(rh) + int(sh) + '0500'), // trailing element
      Uint8Array.of(...der, 0), // trailing garbage
      fromHex(`3081${toHex(der).slice(2)}`), // long-form length for a short value
      fromHex(toHex(der).replace(/^30/, '31')), // SET instead of SEQUENCE
      der.subarray(0, der.length - 1),
      fromHex(`30${(der.length - 2).toString(16)}${int('80' + '00'.repeat(31)).slice(0, 4)}`),
    ];
    // make the negative-integer case explicit too: r with top bit set and no 00 prefix
    if (rh[0]! >= '8') bad.push(seq(int(rh) + int(sh)));
    for (const b of bad) expect(sm2Verify(kp.publicKey, msg, b), toHex(b)).to.equal(false);
    expect(sm2Verify(kp.publicKey, msg, der)).to.equal(true);
    expect(sm2Verify(kp.publicKey, msg, 'not bytes' as unknown as Uint8Array)).to.equal(false);
  });

  it('sign/verify round trip; any single-bit flip of message, signature or key → invalid (fast-check)', () => {
    const signer = sm2KeyPair();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.constantFrom('message', 'signature', 'key'), (msg, bit, what) => {
        const sig = sm2Sign(signer.privateKey, msg);
        expect(sm2Verify(signer.publicKey, msg, sig)).to.equal(true);
        const flip = (b: Uint8Array, skipPrefix = 0): Uint8Array => {
          const c = b.slice();
          const i = skipPrefix * 8 + (bit % ((c.length - skipPrefix) * 8));
          c[i >> 3]! ^= 1 << (i & 7);
          return c;
        };
        if (what === 'message') expect(sm2Verify(signer.publicKey, flip(msg), sig)).to.equal(false);
        if (what === 'signature') expect(sm2Verify(signer.publicKey, msg, flip(sig))).to.equal(false);
        if (what === 'key') {
          // a flipped public key is either not a curve point (bad-key) or another key (false)
          const code = errorCode(() => expect(sm2Verify(flip(signer.publicKey, 1), msg, sig)).to.equal(false));
          expect(code === undefined || code === 'bad-key').to.equal(true);
          // a flipped private key signs as another key: the original public key rejects it
          const flippedPriv = flip(signer.privateKey);
          const c2 = errorCode(() => expect(sm2Verify(signer.publicKey, msg, sm2Sign(flippedPriv, msg))).to.equal(false));
          expect(c2 === undefined || c2 === 'bad-key').to.equal(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the user ID is bound into the signature', () => {
    const sig = sm2Sign(kp.privateKey, 'm', { id: 'alice@example' });
    expect(sm2Verify(kp.publicKey, 'm', sig, { id: 'alice@example' })).to.equal(true);
    expect(sm2Verify(kp.publicKey, 'm', sig, { id: utf8('alice@example') })).to.equal(true);
    expect(sm2Verify(kp.publicKey, 'm', sig)).to.equal(false);
    expect(sm2Verify(kp.publicKey, 'm', sm2Sign(kp.privateKey, 'm', { id: '' }), { id: '' })).to.equal(true);
  });

  it('encrypt/decrypt round trip; tampering → typed errors (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (pt, pos, mask) => {
        const ct = sm2Encrypt(kp.publicKey, pt);
        expect(toHex(sm2Decrypt(kp.privateKey, ct))).to.equal(toHex(pt));
        const bad = ct.slice();
        bad[pos % bad.length]! ^= mask;
        const code = errorCode(() => sm2Decrypt(kp.privateKey, bad));
        expect(['bad-ciphertext', 'authentication-failed']).to.include(code);
      }),
      { numRuns: 60 },
    );
    expect(errorCode(() => sm2Decrypt(other.privateKey, sm2Encrypt(kp.publicKey, utf8('k'))))).to.equal('authentication-failed');
    expect(errorCode(() => sm2Encrypt(kp.publicKey, new Uint8Array(0)))).to.equal('bad-input');
    expect(errorCode(() => sm2Decrypt(kp.privateKey, new Uint8Array(10)))).to.equal('bad-ciphertext');
  });

  it('decryption refuses a C1 that is not on the curve', () => {
    const ct = sm2Encrypt(kp.publicKey, utf8('data key'));
    const parts = decodeSm2Ciphertext(SM2P256V1, ct);
    const c1 = parts.C1.toAffine();
    // y as the DER INTEGER holds it: minimal big-endian bytes (a leading zero byte is dropped, so no fixed 64 digits)
    const derHex = (v: bigint) => v.toString(16).padStart(v.toString(16).length + (v.toString(16).length % 2), '0');
    const forged = fromHex(toHex(ct).replace(derHex(c1.y), derHex(c1.y ^ 1n)));
    expect(toHex(forged)).to.not.equal(toHex(ct));
    expect(errorCode(() => sm2Decrypt(kp.privateKey, forged))).to.equal('bad-ciphertext');
    expect(bytesToBig(parts.C3)).to.be.a('bigint');
  });
});
