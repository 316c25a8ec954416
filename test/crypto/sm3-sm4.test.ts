import { createCipheriv, createHmac } from 'node:crypto';
import { expect } from 'chai';
import { CryptoError, fromHex, hmacSm3, kdfSm3, sm3, sm3Hex, sm4Ctr, sm4CtrCipher, sm4EncryptBlocks, toHex } from '../../crypto/index.js';
import { loadVectors } from './helpers.js';

type Sm3Vec = { name: string; messageHex: string; digestHex: string };
type Sm4Vec = { name: string; keyHex: string; plaintextHex: string; ciphertextHex: string; iterations: number };

describe('crypto: SM3 (GB/T 32905)', () => {
  for (const v of loadVectors<{ vectors: Sm3Vec[] }>('sm3.json').vectors) {
    it(`known answer ${v.name}`, () => {
      expect(toHex(sm3(fromHex(v.messageHex)))).to.equal(v.digestHex);
      expect(sm3Hex(fromHex(v.messageHex))).to.equal(v.digestHex);
    });
  }
  it('hashes strings as UTF-8', () => {
    expect(sm3Hex('数域')).to.equal(sm3Hex(new Uint8Array(Buffer.from('数域', 'utf8'))));
  });
  it('HMAC-SM3 is RFC 2104 over SM3 (checked against a hand-built HMAC)', () => {
    const key = new Uint8Array(80).map((_, i) => i); // longer than the 64-byte block: key is hashed first
    const msg = 'hello';
    const k0 = new Uint8Array(64);
    k0.set(sm3(key));
    const ipad = k0.map((b) => b ^ 0x36);
    const opad = k0.map((b) => b ^ 0x5c);
    const inner = sm3(Buffer.concat([ipad, Buffer.from(msg)]));
    const expected = sm3(Buffer.concat([opad, inner]));
    expect(toHex(hmacSm3(key, msg))).to.equal(toHex(expected));
    expect(toHex(hmacSm3(key, msg))).to.equal(createHmac('sm3', key).update(msg).digest('hex'));
  });
  it('KDF (GB/T 32918.4 §5.4.3) is SM3(Z‖ct) with a 32-bit big-endian counter from 1', () => {
    const z = fromHex('00112233');
    const k = kdfSm3(z, 70);
    expect(k.length).to.equal(70);
    const b1 = sm3(Buffer.concat([z, fromHex('00000001')]));
    const b2 = sm3(Buffer.concat([z, fromHex('00000002')]));
    const b3 = sm3(Buffer.concat([z, fromHex('00000003')]));
    expect(toHex(k)).to.equal(toHex(Buffer.concat([b1, b2, b3.subarray(0, 6)])));
    expect(kdfSm3(z, 0).length).to.equal(0);
    expect(() => kdfSm3(z, -1)).to.throw(CryptoError);
  });
});

describe('crypto: SM4 (GB/T 32907)', () => {
  for (const v of loadVectors<{ vectors: Sm4Vec[] }>('sm4.json').vectors) {
    it(`known answer ${v.name}`, () => {
      const key = fromHex(v.keyHex);
      let block = fromHex(v.plaintextHex);
      if (v.iterations === 1) {
        block = sm4EncryptBlocks(key, block);
      } else {
        // one ECB context, block by block — the iterated example of the standard
        const c = createCipheriv('sm4-ecb', key, null).setAutoPadding(false);
        for (let i = 0; i < v.iterations; i++) block = c.update(block);
      }
      expect(toHex(block)).to.equal(v.ciphertextHex);
    });
  }
  it('CTR keystream block i is SM4(key, iv + i) with a 128-bit counter (carry across words)', () => {
    const key = fromHex('0123456789abcdeffedcba9876543210');
    const iv = fromHex('00000000000000ffffffffffffffffff');
    const zeros = new Uint8Array(48);
    const ks = sm4Ctr(key, iv, zeros);
    const counters = fromHex('00000000000000ffffffffffffffffff' + '00000000000001000000000000000000' + '00000000000001000000000000000001');
    expect(toHex(ks)).to.equal(toHex(sm4EncryptBlocks(key, counters)));
    expect(toHex(sm4Ctr(key, iv, ks))).to.equal(toHex(zeros));
  });
  it('rejects wrong key and IV lengths and non-byte data with CryptoError', () => {
    expect(() => sm4Ctr(new Uint8Array(15), new Uint8Array(16), new Uint8Array(1))).to.throw(CryptoError);
    expect(() => sm4Ctr(new Uint8Array(16), new Uint8Array(8), new Uint8Array(1))).to.throw(CryptoError);
    expect(() => sm4Ctr(new Uint8Array(16), new Uint8Array(16), 'text' as unknown as Uint8Array)).to.throw(CryptoError);
    expect(() => sm4CtrCipher(new Uint8Array(16), new Uint8Array(15))).to.throw(CryptoError);
  });
  it('a CTR stream over uneven chunks equals the one-shot call; outputs are plain Uint8Arrays', () => {
    const key = fromHex('0123456789abcdeffedcba9876543210');
    const iv = fromHex('000102030405060708090a0b0c0d0e0f');
    const data = new Uint8Array(1000).map((_, i) => i * 7);
    const c = sm4CtrCipher(key, iv);
    const parts = [1, 15, 16, 17, 300, 651].reduce<Uint8Array[]>((acc, len, i, all) => {
      const off = all.slice(0, i).reduce((a, b) => a + b, 0);
      return [...acc, new Uint8Array(c.update(data.subarray(off, off + len)))];
    }, []);
    const oneShot = sm4Ctr(key, iv, data);
    expect(toHex(Buffer.concat(parts))).to.equal(toHex(oneShot));
    expect(Object.getPrototypeOf(oneShot)).to.equal(Uint8Array.prototype);
    expect(oneShot.byteLength).to.equal(oneShot.buffer.byteLength); // never a window on a shared pool
  });
});
