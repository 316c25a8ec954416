/**
 * The console's browser SM3/HMAC-SM3 (console/node-crypto.ts, aliased for node:crypto by
 * the console build) must equal node:crypto's (OpenSSL) on every input, and the GB/T 32905 vectors.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { createHash as nodeHash, createHmac as nodeHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createHash, createHmac, randomBytes, sm3, timingSafeEqual } from '../../console/node-crypto.js';

const vectors = JSON.parse(readFileSync(new URL('../vectors/sm3.json', import.meta.url), 'utf8')) as {
  vectors: { name: string; messageHex: string; digestHex: string }[];
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('console: browser SM3 (GB/T 32905-2016) on @noble/hashes HashMD', () => {
  for (const v of vectors.vectors) {
    it(`matches the standard's vector ${v.name}`, () => {
      expect(hex(sm3(Buffer.from(v.messageHex, 'hex')))).to.equal(v.digestHex);
      expect(createHash('sm3').update(Buffer.from(v.messageHex, 'hex')).digest('hex')).to.equal(v.digestHex);
    });
  }

  it('equals node:crypto sm3 on random messages, split into random update() parts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), fc.array(fc.nat(700), { maxLength: 4 }), (msg, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (msg.length + 1)))].sort((a, b) => a - b);
        const h = createHash('sm3');
        let prev = 0;
        for (const p of [...points, msg.length]) {
          h.update(msg.subarray(prev, p));
          prev = p;
        }
        expect(hex(h.digest())).to.equal(nodeHash('sm3').update(msg).digest('hex'));
      }),
      { numRuns: 400 },
    );
  });

  it('equals node:crypto sm3 around block boundaries (55, 56, 63, 64, 65 … bytes)', () => {
    for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000]) {
      const m = randomBytes(n);
      expect(hex(sm3(m)), `length ${n}`).to.equal(nodeHash('sm3').update(m).digest('hex'));
    }
  });

  it('equals node:crypto sm3 on random UTF-8 strings (Chinese included)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0x20, max: 0x9fff }), { maxLength: 120 }).map((cs) => String.fromCharCode(...cs)), (s) => {
        expect(createHash('sm3').update(s).digest('hex')).to.equal(nodeHash('sm3').update(s).digest('hex'));
      }),
      { numRuns: 100 },
    );
    expect(createHash('sm3').update('数域：原始数据不出域').digest('hex')).to.equal(nodeHash('sm3').update('数域：原始数据不出域').digest('hex'));
  });

  it('HMAC-SM3 equals node:crypto on random keys (short and longer than a block) and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), fc.uint8Array({ maxLength: 300 }), (key, msg) => {
        expect(createHmac('sm3', key).update(msg).digest('hex')).to.equal(nodeHmac('sm3', key).update(msg).digest('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('a cloned hash state continues independently (HashMD clone)', () => {
    const a = sm3.create().update(Buffer.from('abc'));
    const b = a.clone();
    b.update(Buffer.from('def'));
    expect(hex(a.digest())).to.equal(nodeHash('sm3').update('abc').digest('hex'));
    expect(hex(b.digest())).to.equal(nodeHash('sm3').update('abcdef').digest('hex'));
  });

  it('refuses other algorithms and SM4, and compares in constant shape', () => {
    expect(() => createHash('sha256')).to.throw(/only sm3/);
    expect(timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).to.equal(true);
    expect(timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).to.equal(false);
    expect(() => timingSafeEqual(Uint8Array.of(1), Uint8Array.of(1, 2))).to.throw(RangeError);
  });
});
