/**
 * The browser's stand-in for the few `node:crypto` functions crypto uses, so the console bundles
 * THE one crypto implementation instead of a second copy. scripts/build-console.ts aliases `node:crypto`
 * to this file and injects its `Buffer` as the global (the `buffer` package, Node's own API).
 *
 * - SM3 (GB/T 32905-2016) on @noble/hashes' Merkle–Damgård base: §5.1 IV, §5.2 constants T_j and
 *   functions FF_j/GG_j/P0/P1, §5.3.2 message expansion, §5.3.3 compression (V ⊕ CF), §5.2 padding
 *   (the same as SHA-256's, which HashMD does).
 * - HMAC-SM3 (RFC 2104) with noble's hmac; randomBytes from crypto.getRandomValues.
 * - createCipheriv (SM4) is not offered: the console never seals or opens boxes.
 * test/console/browser-sm3.test.ts checks this against node:crypto's sm3 and the standard's vectors.
 */
import { HashMD } from '@noble/hashes/_md.js';
import { hmac } from '@noble/hashes/hmac.js';
import { createHasher } from '@noble/hashes/utils.js';
import { Buffer } from 'buffer';

export { Buffer };

const IV = [0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e];
const rotl = (x: number, n: number): number => ((x << (n & 31)) | (x >>> ((32 - n) & 31))) | 0;
const P0 = (x: number): number => x ^ rotl(x, 9) ^ rotl(x, 17);
const P1 = (x: number): number => x ^ rotl(x, 15) ^ rotl(x, 23);
// T_j rotated left by j mod 32, precomputed once (§5.3.3: SS1 uses T_j <<< (j mod 32)).
const TJ = Array.from({ length: 64 }, (_, j) => rotl(j < 16 ? 0x79cc4519 : 0x7a879d8a, j % 32));
const W = new Int32Array(68);
const W1 = new Int32Array(64);

export class Sm3 extends HashMD<Sm3> {
  private A = IV[0]! | 0;
  private B = IV[1]! | 0;
  private C = IV[2]! | 0;
  private D = IV[3]! | 0;
  private E = IV[4]! | 0;
  private F = IV[5]! | 0;
  private G = IV[6]! | 0;
  private H = IV[7]! | 0;

  constructor() {
    super(64, 32, 8, false);
  }

  protected get(): number[] {
    return [this.A, this.B, this.C, this.D, this.E, this.F, this.G, this.H];
  }

  protected set(A: number, B: number, C: number, D: number, E: number, F: number, G: number, H: number): void {
    this.A = A | 0;
    this.B = B | 0;
    this.C = C | 0;
    this.D = D | 0;
    this.E = E | 0;
    this.F = F | 0;
    this.G = G | 0;
    this.H = H | 0;
  }

  protected process(view: DataView, offset: number): void {
    for (let j = 0; j < 16; j++, offset += 4) W[j] = view.getUint32(offset, false);
    for (let j = 16; j < 68; j++) W[j] = P1(W[j - 16]! ^ W[j - 9]! ^ rotl(W[j - 3]!, 15)) ^ rotl(W[j - 13]!, 7) ^ W[j - 6]!;
    for (let j = 0; j < 64; j++) W1[j] = W[j]! ^ W[j + 4]!;
    let { A, B, C, D, E, F, G, H } = this;
    for (let j = 0; j < 64; j++) {
      const a12 = rotl(A, 12);
      const SS1 = rotl((a12 + E + TJ[j]!) | 0, 7);
      const SS2 = SS1 ^ a12;
      const ff = j < 16 ? A ^ B ^ C : (A & B) | (A & C) | (B & C);
      const gg = j < 16 ? E ^ F ^ G : (E & F) | (~E & G);
      const TT1 = (ff + D + SS2 + W1[j]!) | 0;
      const TT2 = (gg + H + SS1 + W[j]!) | 0;
      D = C;
      C = rotl(B, 9);
      B = A;
      A = TT1;
      H = G;
      G = rotl(F, 19);
      F = E;
      E = P0(TT2);
    }
    this.set(A ^ this.A, B ^ this.B, C ^ this.C, D ^ this.D, E ^ this.E, F ^ this.F, G ^ this.G, H ^ this.H);
  }

  protected roundClean(): void {
    W.fill(0);
    W1.fill(0);
  }

  destroy(): void {
    this.destroyed = true;
    this.set(0, 0, 0, 0, 0, 0, 0, 0);
    this.buffer.fill(0);
  }

  _cloneInto(to?: Sm3): Sm3 {
    to ||= new Sm3();
    to.set(...(this.get() as [number, number, number, number, number, number, number, number]));
    return this._cloneIntoMeta(to) as Sm3;
  }
}

export const sm3 = createHasher(() => new Sm3());

type Data = Uint8Array | string;
const bytesOf = (data: Data, enc?: string): Uint8Array =>
  typeof data === 'string' ? Buffer.from(data, (enc ?? 'utf8') as BufferEncoding) : data;

interface Updatable {
  update(b: Uint8Array): unknown;
  digest(): Uint8Array;
}

/** The part of node's Hash/Hmac objects crypto uses: chained update, digest() or digest('hex'|'base64'). */
class NodeStyleHash {
  constructor(private readonly h: Updatable) {}
  update(data: Data, enc?: string): this {
    this.h.update(bytesOf(data, enc));
    return this;
  }
  digest(): Buffer;
  digest(enc: BufferEncoding): string;
  digest(enc?: BufferEncoding): Buffer | string {
    const out = Buffer.from(this.h.digest());
    return enc ? out.toString(enc) : out;
  }
}

const onlySm3 = (algorithm: string): void => {
  if (algorithm.toLowerCase() !== 'sm3') throw new Error(`the console's crypto offers only sm3, not ${algorithm}`);
};

export function createHash(algorithm: string): NodeStyleHash {
  onlySm3(algorithm);
  return new NodeStyleHash(sm3.create());
}

export function createHmac(algorithm: string, key: Uint8Array | string): NodeStyleHash {
  onlySm3(algorithm);
  return new NodeStyleHash(hmac.create(sm3, bytesOf(key)));
}

export function randomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let off = 0; off < n; off += 65_536) globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65_536)));
  return out;
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) throw new RangeError('Input buffers must have the same byte length');
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function createCipheriv(): never {
  throw new Error('SM4 is not available in the console: sealing happens on the owner\u2019s machine with the SDK');
}
