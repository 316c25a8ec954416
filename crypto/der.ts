/**
 * The small, strict DER (X.690 §10) subset the SM2 formats need: SEQUENCE, INTEGER (non-negative),
 * OCTET STRING, BIT STRING, OBJECT IDENTIFIER, context tags. The reader refuses every non-canonical
 * form (long-form lengths that fit short form, leading zeros, negative integers, trailing bytes),
 * so one value has exactly one accepted encoding.
 */
import { concatBytes } from './encoding.js';
import { CryptoError } from './errors.js';

export const TAG = { INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, OID: 0x06, SEQUENCE: 0x30 } as const;

export class DerError extends CryptoError {
  constructor(message: string) {
    super('bad-encoding', `DER: ${message}`);
  }
}

function encodeLength(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const bytes: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) bytes.unshift(l & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function tlv(tag: number, content: Uint8Array): Uint8Array {
  const len = encodeLength(content.length);
  const out = new Uint8Array(1 + len.length + content.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

export const derSequence = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, concatBytes(...items));

/** Minimal two's-complement encoding of a non-negative integer (leading 0x00 only when the top bit is set). */
export function derUint(n: bigint): Uint8Array {
  if (n < 0n) throw new DerError('negative integer');
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return tlv(TAG.INTEGER, new Uint8Array(Buffer.from(hex, 'hex')));
}

export const derOctets = (b: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, b);
export const derBits = (b: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(0, ...b)); // 0 unused bits

export function derOid(oid: string): Uint8Array {
  const arcs = oid.split('.').map((a) => BigInt(a));
  const parts = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const arc of parts) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) group.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  return tlv(TAG.OID, Uint8Array.from(bytes));
}

/** Sequential strict reader over one DER buffer. */
export class DerReader {
  private off: number;
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.off = start;
  }

  get done(): boolean {
    return this.off === this.end;
  }

  peekTag(): number | undefined {
    return this.off < this.end ? this.buf[this.off] : undefined;
  }

  /** Reads one element with the expected tag; returns its content bytes. */
  read(tag: number): Uint8Array {
    if (this.off + 2 > this.end) throw new DerError('truncated');
    if (this.buf[this.off] !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}, got 0x${this.buf[this.off]!.toString(16)}`);
    let p = this.off + 1;
    const first = this.buf[p++]!;
    let len: number;
    if (first < 0x80) {
      len = first;
    } else {
      const n = first & 0x7f;
      if (n === 0 || n > 4) throw new DerError('unsupported length form');
      if (p + n > this.end) throw new DerError('truncated length');
      if (this.buf[p] === 0) throw new DerError('non-minimal length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + this.buf[p++]!;
      if (len < 0x80) throw new DerError('long-form length for a short value');
    }
    if (p + len > this.end) throw new DerError('truncated value');
    this.off = p + len;
    return this.buf.subarray(p, p + len);
  }

  /** A reader over the content of the next SEQUENCE (or other constructed tag). */
  readConstructed(tag: number = TAG.SEQUENCE): DerReader {
    const c = this.read(tag);
    return new DerReader(c);
  }

  /** Non-negative INTEGER in minimal form. */
  readUint(): bigint {
    const c = this.read(TAG.INTEGER);
    if (c.length === 0) throw new DerError('empty integer');
    if (c[0]! & 0x80) throw new DerError('negative integer');
    if (c.length > 1 && c[0] === 0 && !(c[1]! & 0x80)) throw new DerError('non-minimal integer');
    return BigInt(`0x${Buffer.from(c).toString('hex')}`);
  }

  readOctets(): Uint8Array {
    return this.read(TAG.OCTET_STRING);
  }

  /** BIT STRING with zero unused bits (all key encodings here are whole bytes). */
  readBits(): Uint8Array {
    const c = this.read(TAG.BIT_STRING);
    if (c.length === 0 || c[0] !== 0) throw new DerError('bit string with unused bits');
    return c.subarray(1);
  }

  end_(): void {
    if (!this.done) throw new DerError('trailing bytes');
  }
}

/** Parses a whole buffer that must be exactly one element with `tag`; returns a reader over its content. */
export function derTop(buf: Uint8Array, tag: number = TAG.SEQUENCE): DerReader {
  const r = new DerReader(buf);
  const inner = r.readConstructed(tag);
  r.end_();
  return inner;
}
