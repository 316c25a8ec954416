import { expect } from 'chai';
import fc from 'fast-check';
import { canonicalJson, fromB64, fromHex, fromUtf8, isCanonicalJson, parseCanonicalJson, toB64, toHex, utf8 } from '../../crypto/index.js';
import { errorCode } from './helpers.js';


describe('crypto: canonicalJson (RFC 8785 style)', () => {
  it('sorts keys by UTF-16 code units, recursively, with no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, { d: 'x', c: 2 }] })).to.equal('{"a":[true,null,{"c":2,"d":"x"}],"b":1}');
    // RFC 8785 §3.2.3 example ordering: U+000D < "1" < U+0080 < U+00F6 < U+20AC < U+1F600(surrogates) < U+FB33
    const keys = ['\u20ac', '\r', '\ufb33', '1', '\u{1f600}', '\u0080', '\u00f6'];
    const obj = Object.fromEntries(keys.map((k, i) => [k, i]));
    // (checked on the text: Object.keys would list the integer-like key "1" first)
    const order = [...canonicalJson(obj).matchAll(/"([^"]+)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
    expect(order).to.deep.equal(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\u{1f600}', '\ufb33']);
  });
  it('serialises numbers as ECMAScript does (JCS §3.2.2.3)', () => {
    expect(canonicalJson([0, -0, 1e21, 1e-7, 0.1, 333333333.3333333, -1.5e-300])).to.equal('[0,0,1e+21,1e-7,0.1,333333333.3333333,-1.5e-300]');
  });
  it('rejects what JSON cannot carry faithfully', () => {
    for (const bad of [undefined, NaN, Infinity, () => 1, 10n, Symbol('x'), { a: undefined }, [1, undefined], new Date(0), new Map(), '\ud800', { '\udc00': 1 }]) {
      expect(errorCode(() => canonicalJson(bad))).to.equal('not-canonical');
    }
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(errorCode(() => canonicalJson(cyc))).to.equal('not-canonical');
    // eslint-disable-next-line no-sparse-arrays
    expect(errorCode(() => canonicalJson([1, , 3]))).to.equal('not-canonical');
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).to.equal('[{"x":1},{"x":1}]'); // shared ≠ cycle
  });
  it('is a fixed point: parse(canonical) re-serialises to the same bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const s = canonicalJson(v);
        expect(isCanonicalJson(s)).to.equal(true);
        expect(canonicalJson(JSON.parse(s))).to.equal(s);
      }),
      { numRuns: 300 },
    );
  });
  it('isCanonicalJson / parseCanonicalJson refuse spacing, order, duplicates and number spellings', () => {
    for (const s of ['{"b":1,"a":2}', '{"a": 1}', '{"a":1,"a":1}', '[1.0]', '{"a":1e2}', 'nope', '"\\u0041"']) {
      expect(isCanonicalJson(s), s).to.equal(false);
      expect(errorCode(() => parseCanonicalJson(s))).to.equal('not-canonical');
    }
    expect(parseCanonicalJson('{"a":[1,"x"]}')).to.deep.equal({ a: [1, 'x'] });
  });
});

describe('crypto: encodings', () => {
  it('hex and base64 round trip (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(toHex(fromHex(toHex(b)))).to.equal(toHex(b));
        expect(toHex(fromB64(toB64(b)))).to.equal(toHex(b));
      }),
    );
  });
  it('strict decoders reject junk', () => {
    for (const s of ['abc', 'zz', '0x00', ' 00']) expect(errorCode(() => fromHex(s)), s).to.equal('bad-encoding');
    for (const s of ['QQ', 'QQ=', 'Q===', 'QR==', 'QQ==\n', 'Q Q=', 'ab-_', '====']) expect(errorCode(() => fromB64(s)), s).to.equal('bad-encoding');
    expect(toHex(fromB64('QQ=='))).to.equal('41');
    expect(toHex(fromB64(''))).to.equal('');
  });
  it('utf8 decoding is fatal on malformed input', () => {
    expect(fromUtf8(utf8('数域'))).to.equal('数域');
    expect(errorCode(() => fromUtf8(new Uint8Array([0xff, 0xfe])))).to.equal('bad-encoding');
  });
});
