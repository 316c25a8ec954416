import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { rowChunkAad, sealRowChunkWithKey } from '../../../formats/row-chunk.js';
import { ChunkDecoder, type EncodedChunk } from '../../../enclave/sandbox/encoded-chunk.js';
import { COLUMNS, makeRows, schema } from './fixture.js';

/**
 * The byte reader of JSON.stringify-laid-out chunks must answer exactly what JSON.parse + layOut answer —
 * the same slots, text bytes, number bits and subject numbers — and leave every chunk it does not read
 * (and every invalid one) to that way, so errors are the same too.
 */
describe('SQL sandbox: chunks read in place equal chunks read through JSON.parse', function () {
  this.timeout(60_000);
  // one data key for every chunk here (the sealer makes one per chunk; SM2 wrapping is not under test)
  const dataKey = new Uint8Array(randomBytes(32));
  const loaded = schema.columns.map((c) => ({ name: c.name, type: c.type, role: c.role, ...(c.bounds ? { bounds: [c.bounds[0], c.bounds[1]] as [number, number] } : {}) }));
  const enc = new TextEncoder();

  type Outcome = { ok: true; chunk: EncodedChunk } | { ok: false; type: string; message: string };
  const bits = (a: ArrayBufferView): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
  const norm = (o: Outcome) => (o.ok ? { rows: o.chunk.rows, len: bits(o.chunk.len), num: bits(o.chunk.num), text: bits(o.chunk.text) } : o);

  /** Decode the same sealed plaintexts with and without the byte reader. */
  function both(plaintexts: Uint8Array[], columns = loaded): { inPlace: number; fast: unknown[]; slow: unknown[]; subjects: [Int32Array, Int32Array] } {
    const sealed = plaintexts.map((p, i) => ({ s: sealRowChunkWithKey(p, { key: Uint8Array.from(dataKey), wrappedKey: new Uint8Array(0) }, rowChunkAad('b', i)), aad: rowChunkAad('b', i) }));
    const decoders = [new ChunkDecoder(COLUMNS, columns, true, true), new ChunkDecoder(COLUMNS, columns, true, false)];
    const results = decoders.map((d) =>
      sealed.map(({ s, aad }, i): unknown => {
        try {
          return norm({ ok: true, chunk: d.decode({ dataKey: Uint8Array.from(dataKey), box: s.box, aad }, i) });
        } catch (e) {
          const err = e as { type: string; message: string };
          return norm({ ok: false, type: err.type, message: err.message });
        }
      }),
    );
    return { inPlace: decoders[0]!.readInPlace, fast: results[0]!, slow: results[1]!, subjects: [decoders[0]!.subjects(), decoders[1]!.subjects()] };
  }

  it('reads the sealer\'s chunks in place, with the same slots, bytes and subjects', () => {
    const rows = makeRows(3_000, 5);
    const plain = [0, 1000, 2000].map((i) => enc.encode(JSON.stringify({ columns: COLUMNS, rows: rows.slice(i, i + 1000) })));
    const r = both(plain);
    expect(r.inPlace).to.equal(3);
    expect(r.fast).to.deep.equal(r.slow);
    expect([...r.subjects[0]]).to.deep.equal([...r.subjects[1]]);
    // loading fewer columns, in another order
    const some = [loaded[3]!, loaded[1]!, loaded[0]!];
    const s = both(plain, some);
    expect(s.inPlace).to.equal(3);
    expect(s.fast).to.deep.equal(s.slow);
  });

  it('any values, widths and layouts: the same outcome, or the same error (fast-check)', () => {
    const value = fc.oneof(
      fc.constant(null),
      fc.string({ maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.double(),
      fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
      fc.integer({ min: -10_000_000, max: 10_000_000 }).map((x) => x / 100),
      fc.constantFrom(0, -0, 1e21, 1e-7, 123456789012345.67, 0.1, 'P000001', 'north', '12.5', true, false),
      fc.constantFrom({}, [], [1]),
    );
    const row = fc.oneof({ weight: 6, arbitrary: fc.array(value, { minLength: 6, maxLength: 6 }) }, { weight: 1, arbitrary: fc.array(value, { maxLength: 8 }) }, { weight: 1, arbitrary: value });
    const layout = fc.constantFrom('stringify', 'stringify', 'stringify', 'spaces', 'keys-swapped', 'columns-permuted', 'column-missing', 'trailing', 'bom');
    fc.assert(
      fc.property(fc.array(fc.array(row, { maxLength: 12 }), { minLength: 1, maxLength: 3 }), layout, (chunks, how) => {
        const plain = chunks.map((rows) => {
          let cols = [...COLUMNS];
          if (how === 'columns-permuted') cols = [...cols].reverse();
          if (how === 'column-missing') cols = cols.slice(1);
          let text = how === 'keys-swapped' ? JSON.stringify({ rows, columns: cols }) : JSON.stringify({ columns: cols, rows });
          if (how === 'spaces') text = JSON.stringify({ columns: cols, rows }, null, 1);
          if (how === 'trailing') text += ' ';
          if (how === 'bom') text = '\ufeff' + text;
          return enc.encode(text);
        });
        const r = both(plain);
        expect(r.fast).to.deep.equal(r.slow);
        expect([...r.subjects[0]]).to.deep.equal([...r.subjects[1]]);
      }),
      { numRuns: 300 },
    );
  });

  it('numbers in every spelling JSON.stringify writes are read to the same double', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -1e9, max: 1e9 }).map((x) => x / 1000)), { minLength: 1, maxLength: 50 }), (xs) => {
        const rows = xs.map((x, i) => [`P${i}`, 'north', 'web', x, x, 'n']);
        const textCols = [loaded[0]!, { ...loaded[3]!, bounds: undefined as unknown as [number, number] }].map(({ bounds, ...c }) => (bounds ? { ...c, bounds } : c));
        const r = both([enc.encode(JSON.stringify({ columns: COLUMNS, rows }))], textCols);
        expect(r.fast).to.deep.equal(r.slow);
      }),
      { numRuns: 200 },
    );
  });

  it('hand-written near-misses go the JSON.parse way and fail or pass as it says', () => {
    const head = '{"columns":["person_id","region","channel","amount","nights","name"],"rows":[';
    const cases = [
      `${head}["P1","north","web",01,2,"n"]]}`,
      `${head}["P1","north","web",1.,2,"n"]]}`,
      `${head}["P1","north","web",-,2,"n"]]}`,
      `${head}["P1","north","web",1e400,2,"n"]]}`,
      `${head}["P1","north","web",${'9'.repeat(400)},2,"n"]]}`,
      `${head}["P1","north","web",1E2,2,"n"]]}`,
      `${head}["P1","nor\\u0074h","web",1,2,"n"]]}`,
      `${head}["P1","north","web",1,2,"n"],]}`,
      `${head}["P1","north","web",1,2,"n"]]`,
      `${head}["P1","north","web",1,2,"n"]]}x`,
      `${head}["P1","north","web",nul,2,"n"]]}`,
      `${head}["P1","north","web","7.5",2,"n"]]}`,
      `${head}["P1","north","web",1,2,"n","x"]]}`,
      `${head}["P1","north","web",1,2]]}`,
      `${head}[]]}`,
      `${head}]}`,
      `${head}["P1","north","web",12345678901234567890.5,-0.000001,"n"]]}`,
      '{"columns":[],"rows":[]}',
      '{"columns":["person_id","region","channel","amount","nights","name","person_id"],"rows":[]}',
    ];
    const r = both(cases.map((c) => enc.encode(c)));
    expect(r.fast).to.deep.equal(r.slow);
    expect(r.inPlace).to.equal(2); // only the chunk without rows and the one with long numbers (given to Number) are JSON.stringify's layout
  });
});
