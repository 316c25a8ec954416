import { expect } from 'chai';
import fc from 'fast-check';
import { BOX_OVERHEAD, boxSubkeys, fromHex, sealBoxWithIv, newBoxKey, openBox, sealBox, toHex, utf8 } from '../../crypto/index.js';
import { errorCode, loadVectors } from './helpers.js';


interface BoxVec { name: string; keyHex: string; ivHex: string; plaintextHex: string; aadHex: string; encKeyHex: string; macKeyHex: string; boxHex: string }

describe('crypto: sealBox / openBox (SM4-CTR + HMAC-SM3, encrypt-then-MAC)', () => {
  const key = newBoxKey();

  for (const v of loadVectors<{ vectors: BoxVec[] }>('box.json').vectors) {
    it(`known answer (format v1): ${v.name}`, () => {
      const k = fromHex(v.keyHex);
      const aad = fromHex(v.aadHex);
      const sub = boxSubkeys(k);
      expect([toHex(sub.encKey), toHex(sub.macKey)]).to.deep.equal([v.encKeyHex, v.macKeyHex]);
      expect(toHex(sealBoxWithIv(k, fromHex(v.ivHex), fromHex(v.plaintextHex), aad))).to.equal(v.boxHex);
      expect(toHex(openBox(k, fromHex(v.boxHex), aad))).to.equal(v.plaintextHex);
    });
  }

  it('round trips, with and without aad (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), (pt, aad) => {
        expect(toHex(openBox(key, sealBox(key, pt, aad), aad))).to.equal(toHex(pt));
        expect(toHex(openBox(key, sealBox(key, pt)))).to.equal(toHex(pt));
      }),
      { numRuns: 200 },
    );
  });

  it('any single flipped byte → authentication-failed (or bad-box for the version byte)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (pt, pos, mask) => {
        const box = sealBox(key, pt);
        const i = pos % box.length;
        box[i]! ^= mask;
        expect(errorCode(() => openBox(key, box))).to.equal(i === 0 ? 'bad-box' : 'authentication-failed');
      }),
      { numRuns: 300 },
    );
  });

  it('wrong key, wrong aad, truncation and extension fail authentication', () => {
    const box = sealBox(key, utf8('secret rows'), utf8('dataset-1'));
    expect(errorCode(() => openBox(newBoxKey(), box, utf8('dataset-1')))).to.equal('authentication-failed');
    expect(errorCode(() => openBox(key, box, utf8('dataset-2')))).to.equal('authentication-failed');
    expect(errorCode(() => openBox(key, box))).to.equal('authentication-failed');
    expect(errorCode(() => openBox(key, box.subarray(0, box.length - 1), utf8('dataset-1')))).to.equal('authentication-failed');
    expect(errorCode(() => openBox(key, box.subarray(0, BOX_OVERHEAD - 1)))).to.equal('bad-box');
    const longer = new Uint8Array(box.length + 1);
    longer.set(box);
    expect(errorCode(() => openBox(key, longer, utf8('dataset-1')))).to.equal('authentication-failed');
  });

  it('uses a fresh IV per seal and hides the plaintext', () => {
    const pt = new Uint8Array(64);
    const a = sealBox(key, pt);
    const b = sealBox(key, pt);
    expect(toHex(a)).to.not.equal(toHex(b));
    expect(toHex(a.subarray(17, 17 + 64))).to.not.equal(toHex(pt));
    expect(a.length).to.equal(pt.length + BOX_OVERHEAD);
  });

  it('a key array changed in place after use seals and opens under its new bytes (derived keys are cached per key object)', () => {
    const key = newBoxKey();
    const before = boxSubkeys(key);
    const boxed = sealBox(key, utf8('x'));
    key[0]! ^= 1;
    expect(toHex(boxSubkeys(key).encKey)).to.not.equal(toHex(before.encKey));
    expect(errorCode(() => openBox(key, boxed))).to.equal('authentication-failed');
    expect(new TextDecoder().decode(openBox(key, sealBox(key, utf8('y'))))).to.equal('y');
    key[0]! ^= 1;
    expect(new TextDecoder().decode(openBox(key, boxed))).to.equal('x');
    // the subkeys handed out are copies: changing them does not change the cached ones
    boxSubkeys(key).macKey.fill(0);
    expect(new TextDecoder().decode(openBox(key, boxed))).to.equal('x');
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(errorCode(() => sealBox(new Uint8Array(16), new Uint8Array(1)))).to.equal('bad-key');
    expect(errorCode(() => openBox(new Uint8Array(31), new Uint8Array(60)))).to.equal('bad-key');
  });
});
