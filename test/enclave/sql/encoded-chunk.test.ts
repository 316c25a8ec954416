import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { type RowChunkFormat, encodeRowChunkV2, rowChunkAad, sealRowChunkWithKey } from '../../../formats/row-chunk.js';
import { ChunkDecoder, NULL_SLOT, NUMBER_SLOT, type EncodedChunk } from '../../../enclave/sandbox/encoded-chunk.js';
import { COLUMNS, makeRows, schema } from './fixture.js';

/**
 * The sandbox's unseal stage lays out a v2 chunk's typed columns exactly as it lays out the same rows of a
 * v1 (JSON) chunk — the same slots, text bytes, clamped number bits and subject numbers — so a bundle
 * answers the same whichever format it was sealed in; and v1's JSON is read by JSON.parse alone.
 */
describe('SQL sandbox: v2 chunks lay out as the same rows in v1 (JSON) chunks', function () {
  this.timeout(60_000);
  // one data key for every chunk here (the sealer makes one per chunk; SM2 wrapping is not under test)
  const dataKey = new Uint8Array(randomBytes(32));
  const loaded = schema.columns.map((c) => ({ name: c.name, type: c.type, role: c.role, ...(c.bounds ? { bounds: [c.bounds[0], c.bounds[1]] as [number, number] } : {}) }));
  const enc = new TextEncoder();
  type Rows = (string | number | null)[][];

  type Outcome = { ok: true; chunk: EncodedChunk } | { ok: false; type: string; message: string };
  const bits = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
  const norm = (o: Outcome) => (o.ok ? { rows: o.chunk.rows, len: bits(o.chunk.len), num: bits(o.chunk.num), text: bits(o.chunk.text) } : { type: o.type });

  function decodeAll(plaintexts: Uint8Array[], columns = loaded, expected?: RowChunkFormat): { out: unknown[]; subjects: number[]; decoder: ChunkDecoder } {
    const decoder = new ChunkDecoder(COLUMNS, columns, true, expected);
    const out = plaintexts.map((p, i): unknown => {
      const s = sealRowChunkWithKey(p, { key: Uint8Array.from(dataKey), wrappedKey: new Uint8Array(0) }, rowChunkAad('b', i));
      try {
        return norm({ ok: true, chunk: decoder.decode({ dataKey: Uint8Array.from(dataKey), box: s.box, aad: rowChunkAad('b', i) }, i) });
      } catch (e) {
        const err = e as { type: string; message: string };
        return norm({ ok: false, type: err.type, message: err.message });
      }
    });
    return { out, subjects: [...decoder.subjects()], decoder };
  }

  const v1 = (rows: Rows, columns = COLUMNS): Uint8Array => enc.encode(JSON.stringify({ columns, rows }));
  const v2 = (rows: Rows, columns = COLUMNS): Uint8Array => Uint8Array.from(encodeRowChunkV2({ columns, rows }));

  function sameBothWays(chunks: Rows[], columns = loaded): void {
    const a = decodeAll(chunks.map((r) => v1(r)), columns);
    const b = decodeAll(chunks.map((r) => v2(r)), columns);
    expect(b.decoder.formats).to.deep.equal({ v1: 0, v2: chunks.length });
    expect(a.decoder.formats).to.deep.equal({ v1: chunks.length, v2: 0 });
    expect(b.out).to.deep.equal(a.out);
    expect(b.subjects).to.deep.equal(a.subjects);
  }

  it("the fixture's rows: the same slots, bytes and subjects, all columns or some in another order", () => {
    const rows = makeRows(3_000, 5);
    const chunks = [0, 1000, 2000].map((i) => rows.slice(i, i + 1000));
    sameBothWays(chunks);
    sameBothWays(chunks, [loaded[3]!, loaded[1]!, loaded[0]!]);
  });

  it('any well-typed rows (NULLs, out-of-bounds numbers, any text): the same layout (fast-check)', () => {
    const text = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom('', '北京', 'P000001', '😀x'));
    const num = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)), fc.integer({ min: -2e9, max: 2e9 }), fc.integer({ min: -1e7, max: 1e7 }).map((x) => x / 100));
    const row = fc.tuple(fc.option(text), fc.option(fc.constantFrom('north', 'south', 'east', 'west')), fc.option(fc.constantFrom('web', 'shop')), fc.option(num), fc.option(num), fc.option(text));
    fc.assert(
      fc.property(fc.array(fc.array(row, { maxLength: 40 }), { minLength: 1, maxLength: 3 }), (chunks) => sameBothWays(chunks as Rows[])),
      { numRuns: 150 },
    );
  });

  it('a numeric column sealed as text is read as Number(text), as v1 reads a numeric string; a non-number is refused', () => {
    const textNights = (rows: Rows): Uint8Array => Uint8Array.from(encodeRowChunkV2({ columns: COLUMNS, rows: rows.map((r) => r.map((v, j) => (j === 4 && v !== null ? String(v) : v))) }));
    const rows: Rows = [['P1', 'north', 'web', 1.5, 3, 'a'], ['P2', 'south', 'shop', null, null, 'b'], ['P3', 'north', 'web', 2, 40, 'c']];
    const a = decodeAll([v1(rows)]);
    const b = decodeAll([textNights(rows)]);
    expect(b.out).to.deep.equal(a.out);
    const c = decodeAll([textNights([['P1', 'north', 'web', 1, 'x' as unknown as number, 'a']])]);
    expect(c.out).to.deep.equal([{ type: 'row-chunk-invalid' }]);
    // the slots themselves: nights clamped to its bounds [0, 30], NULL as NULL
    const d = decodeAll([v2(rows)]).out[0] as { len: string; num: string };
    const len = new Int32Array(Uint8Array.from(Buffer.from(d.len, 'hex')).buffer);
    expect([len[4], len[6 + 3], len[6 + 4]]).to.deep.equal([NUMBER_SLOT, NULL_SLOT, NULL_SLOT]);
    expect(new Float64Array(Uint8Array.from(Buffer.from(d.num, 'hex')).buffer)[12 + 4]).to.equal(30);
  });

  it('a chunk in another format than the bundle says is refused (no downgrade to v1, no v2 in a v1 bundle)', () => {
    const rows = makeRows(10, 3);
    expect(decodeAll([v1(rows)], loaded, 2).out).to.deep.equal([{ type: 'row-chunk-invalid' }]);
    expect(decodeAll([v2(rows)], loaded, 1).out).to.deep.equal([{ type: 'row-chunk-invalid' }]);
    expect(decodeAll([v2(rows)], loaded, 2).out[0]).to.have.property('rows', 10);
    expect(decodeAll([v1(rows)], loaded, 1).out[0]).to.have.property('rows', 10);
  });

  it('v1 chunks are read by JSON.parse alone: what it and the value checks accept loads, the rest is row-chunk-invalid', () => {
    const head = '{"columns":["person_id","region","channel","amount","nights","name"],"rows":[';
    const refused = [
      `${head}["P1","north","web",01,2,"n"]]}`,
      `${head}["P1","north","web",1.,2,"n"]]}`,
      `${head}["P1","north","web",1e400,2,"n"]]}`,
      `${head}["P1","north","web",1,2,"n"],]}`,
      `${head}["P1","north","web",1,2,"n"]]`,
      `${head}["P1","north","web",nul,2,"n"]]}`,
      `${head}["P1","north","web","x",2,"n"]]}`,
      `${head}["P1","north","web",1,2,"n","x"]]}`,
      `${head}["P1","north","web",{},2,"n"]]}`,
      '{"columns":[],"rows":[]}',
      '{"columns":["person_id","region","channel","amount","nights","name","person_id"],"rows":[]}',
    ];
    for (const c of refused) expect(decodeAll([enc.encode(c)]).out, c).to.deep.equal([{ type: 'row-chunk-invalid' }]);
    const accepted = [
      `${head}["P1","nor\\u0074h","web",1E2,2,"n"]]}`,
      `${head}["P1","north","web","7.5",2,"n"]]}`,
      `${head}]}`,
      ` ${head}["P1","north","web",12345678901234567890.5,-0.000001,"n"]]} `,
    ];
    for (const c of accepted) expect(decodeAll([enc.encode(c)]).out[0], c).to.have.property('rows');
  });
});
