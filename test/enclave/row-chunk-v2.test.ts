import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import {
  type ColumnEncoding,
  ColumnarRowChunkWriter,
  type RowChunkPlain,
  columnarRows,
  decodeRowChunkV2,
  decodeSealedRowChunk,
  encodeRowChunkV2,
  encodeSealedRowChunk,
  openRowChunk,
  openRowChunkBox,
  rowChunkAad,
  sealRowChunk,
  sealRowChunkWithKey,
} from '../../formats/row-chunk.js';
import { bundleBlobPath, sealDataset } from '../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { openOrCreateKeystore, publicInfoOf } from '../../enclave/keystore/keystore.js';
import { mapRowsInSandbox, runSqlInSandbox } from '../../enclave/sandbox/sandbox.js';
import { validateSql } from '../../query/validate.js';
import { generateRows, testSchema, writeCsv } from './fixtures.js';
import { makeRows, newKeys, schema, sealRows } from './sql/fixture.js';

/** Row chunk format v2 (formats/row-chunk.ts): lossless, refused when tampered, and v1 bundles answer the same. */
describe('row chunks v2: binary columnar format', function () {
  this.timeout(60_000);
  const unwrap = sm2KeyPair();

  const sample: RowChunkPlain = {
    columns: ['id', 'qty', 'amount', 'big', 'city', 'note', 'empty'],
    rows: [
      ['P1', 0, -0.01, 1e300, '北京', '', null],
      ['P2', -2147483647, 123456.78, -1.7976931348623157e308, '上海', '数域 😀 text', null],
      [null, 2147483647, null, 5e-324, '北京', 'x'.repeat(300), null],
      ['', 9007199254740991, -9007199254740991, 0.1, null, null, null],
      ['P3', null, 1e21, -123.456789, '上海', 'tab\tnul\u0000 end', null],
      ['P4', -7, 0.5, 2 ** 53 + 2, '北京', 'é', null],
      ['P5', 12, -99.99, 3, '上海', 'ok', null],
      ['P6', 1, 1, 1, '北京', 'ok', null],
    ],
  };

  it('round-trips every column kind: NULLs, negative and large numbers, CJK, empty strings, a column of NULLs', () => {
    const bytes = encodeRowChunkV2(sample);
    const decoded = decodeRowChunkV2(Uint8Array.from(bytes));
    expect(decoded.rows).to.equal(sample.rows.length);
    expect(decoded.columns.map((c) => c.encoding)).to.deep.equal(['text', 'number', 'number', 'number', 'dictionary', 'text', 'number']);
    expect(columnarRows(decoded)).to.deep.equal(sample.rows);
    // sealed, framed as a blob, opened with the enclave key
    const blob = encodeSealedRowChunk(sealRowChunk(sample, unwrap.publicKey, rowChunkAad('b1', 0)));
    expect(openRowChunk(decodeSealedRowChunk(blob), unwrap.privateKey, rowChunkAad('b1', 0))).to.deep.equal(sample);
    // an empty chunk, and the plaintext at an odd byte offset (read through one aligned copy)
    expect(columnarRows(decodeRowChunkV2(encodeRowChunkV2({ columns: ['a'], rows: [] })))).to.deep.equal([]);
    const odd = new Uint8Array(bytes.length + 1);
    odd.set(bytes, 1);
    expect(columnarRows(decodeRowChunkV2(odd.subarray(1)))).to.deep.equal(sample.rows);
  });

  it('stores small fixed-point numbers as scaled int32 and dimensions as one-byte codes (smaller than v1 JSON)', () => {
    const rows = makeRows(2_000, 9);
    const v2 = encodeRowChunkV2({ columns: schema.columns.map((c) => c.name), rows });
    const v1 = Buffer.byteLength(JSON.stringify({ columns: schema.columns.map((c) => c.name), rows }));
    expect(v2.length).to.be.below(v1);
    // amount (decimal(2)) and nights (int): 4 bytes a row, not 8; region/channel: 1 byte a row
    const d = decodeRowChunkV2(Uint8Array.from(v2));
    expect(d.columns.map((c) => c.encoding)).to.deep.equal(['text', 'dictionary', 'dictionary', 'number', 'number', 'text']);
    expect(v2.length).to.be.below(2_000 * (4 + 4 + 1 + 1 + 4 + 4) + 2_000 * 20);
    expect(columnarRows(d)).to.deep.equal(rows);
  });

  it('decode(encode(rows)) = rows for random rows, written in any batches, chunk after chunk (fast-check)', () => {
    const text = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ unit: 'grapheme', maxLength: 6 }), fc.constantFrom('', '数域', '北京', '😀'));
    const num = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.integer({ min: -1e9, max: 1e9 }).map((x) => x / 1000),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE, -0, 0.1, 1e21),
    );
    const kind = fc.constantFrom<ColumnEncoding>('number', 'text', 'dictionary');
    const table = fc.array(kind, { minLength: 1, maxLength: 5 }).chain((kinds) =>
      fc.record({
        kinds: fc.constant(kinds),
        chunks: fc.array(
          fc.array(
            fc.tuple(...kinds.map((k) => fc.option((k === 'number' ? num : k === 'text' ? text : fc.constantFrom('a', 'b', '数', '')) as fc.Arbitrary<string | number>, { freq: 4 }))),
            { maxLength: 60 },
          ),
          { minLength: 1, maxLength: 3 },
        ),
        batch: fc.integer({ min: 1, max: 25 }),
      }),
    );
    fc.assert(
      fc.property(table, ({ kinds, chunks, batch }) => {
        const columns = kinds.map((_, j) => `c${j}`);
        const writer = new ColumnarRowChunkWriter(columns, kinds);
        for (const rows of chunks as (string | number | null)[][][]) {
          // the writer with the sealer's encodings, in batches, reused after reset
          for (let i = 0; i < rows.length; i += batch) writer.addRows(rows.slice(i, i + batch));
          expect(columnarRows(decodeRowChunkV2(Uint8Array.from(writer.finish())))).to.deep.equal(rows);
          writer.reset();
          // the encodings chosen from the values
          expect(columnarRows(decodeRowChunkV2(Uint8Array.from(encodeRowChunkV2({ columns, rows }))))).to.deep.equal(rows);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the writer refuses a value its column cannot hold, and a mixed column has no encoding', () => {
    const w = new ColumnarRowChunkWriter(['a', 'b'], ['number', 'text']);
    expect(() => w.addRows([['x', 'y']])).to.throw(/cannot hold/);
    expect(() => w.addRows([[1, 2]])).to.throw(/cannot hold/);
    expect(() => w.addRows([[Number.NaN, 'y']])).to.throw(/non-scalar/);
    expect(() => encodeRowChunkV2({ columns: ['a'], rows: [[1], ['1']] })).to.throw(/mixes/);
  });

  const refused = (f: () => unknown): boolean => {
    try {
      f();
      return false;
    } catch (e) {
      return isDomainError(e) && e.type === 'row-chunk-invalid';
    }
  };

  it('a tampered v2 chunk is refused: any flipped byte of the sealed blob (fast-check)', () => {
    const blob = encodeSealedRowChunk(sealRowChunk(sample, unwrap.publicKey, rowChunkAad('b', 3)));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: blob.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const b = Uint8Array.from(blob);
        b[i]! ^= x;
        return refused(() => openRowChunk(decodeSealedRowChunk(b), unwrap.privateKey, rowChunkAad('b', 3)));
      }),
      { numRuns: 60 },
    );
  });

  it('a well-sealed but malformed v2 plaintext is refused with row-chunk-invalid, never a crash (fast-check)', () => {
    const good = Uint8Array.from(encodeRowChunkV2(sample));
    const key = new Uint8Array(randomBytes(32));
    const open = (p: Uint8Array) => {
      const s = sealRowChunkWithKey(p, { key: Uint8Array.from(key), wrappedKey: new Uint8Array(0) }, rowChunkAad('b', 0));
      return openRowChunkBox(Uint8Array.from(key), s.box, rowChunkAad('b', 0));
    };
    expect(open(Uint8Array.from(good)).rows).to.deep.equal(sample.rows);
    // hand-made defects at known places
    const at = (find: string | number[], from = 0): number => Buffer.from(good).indexOf(typeof find === 'string' ? Buffer.from(find) : Buffer.from(find), from);
    const withByte = (i: number, v: number) => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['truncated', good.subarray(0, good.length - 1)],
      ['a byte after the end', Uint8Array.from([...good, 0])],
      ['format version 3', withByte(4, 3)],
      ['header padding', withByte(5, 1)],
      ['unknown encoding', withByte(16 + 1 + 2, 9)],
      ['invalid UTF-8 in a text value', withByte(at('数域'), 0xff)],
      ['a value cut inside a character', withByte(at('é'), 0x20)],
      ['a NaN among the numbers', (() => { const b = Uint8Array.from(good); const i = at([0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f]); b.set([0, 0, 0, 0, 0, 0, 0xf8, 0x7f], i); return b; })()],
      ['no columns', (() => { const b = Uint8Array.from(good.subarray(0, 16)); b[12] = 0; return b; })()],
      ['rows beyond the bytes', (() => { const b = Uint8Array.from(good); b[11] = 0x7f; return b; })()],
    ];
    for (const [what, p] of cases) expect(refused(() => open(p)), what).to.equal(true);
    // any byte changed or any length cut: opened equal to a valid chunk, or refused — never another error
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 16, max: good.length }), (i, v, len) => {
        const p = withByte(i, v).subarray(0, len);
        try {
          const out = open(p);
          return Array.isArray(out.rows) && out.rows.length <= 8;
        } catch (e) {
          return isDomainError(e) && e.type === 'row-chunk-invalid';
        }
      }),
      { numRuns: 400 },
    );
  });

  describe('a v1 bundle answers as the same rows sealed v2', () => {
    const keys = newKeys();
    const rows = makeRows(3_000, 13);
    const v1 = sealRows(rows, keys.publicKey, 700, 1);
    const v2 = sealRows(rows, keys.publicKey, 700, 2);

    it('the same SQL results, exact and with the per-person row cap; a chunk in the other format is refused', async () => {
      const v = validateSql('SELECT region, channel, COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights FROM dataset GROUP BY region, channel', schema, { mode: 'exact' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      const run = (chunks: typeof v1, extra: object = {}) => runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], ...extra });
      const [a, b, a1, b1] = await Promise.all([run(v1), run(v2, { rowFormat: 2 }), run(v1, { maxRowsPerPerson: 1, rowFormat: 1 }), run(v2, { maxRowsPerPerson: 1 })]);
      expect(b.rows).to.deep.equal(a.rows);
      expect(b.rows.length).to.equal(8);
      expect(b1.rows).to.deep.equal(a1.rows);
      expect(b1.stats.rowsCapped).to.equal(a1.stats.rowsCapped).and.to.be.above(0);
      let type = '';
      await run(v1, { rowFormat: 2 }).catch((e: unknown) => (type = isDomainError(e) ? e.type : String(e)));
      expect(type).to.equal('row-chunk-invalid');
    });

    it('the same privacy row map: partitions, dimension codes and subject numbers', async () => {
      const layout = { partitionBy: ['region'], partitions: [0, 1, 2, 3].map((k) => ({ key: [k] })) };
      const [a, b] = await Promise.all([mapRowsInSandbox({ schema, layout, chunks: v1, unwrapPrivateKey: keys.privateKey }), mapRowsInSandbox({ schema, layout, chunks: v2, unwrapPrivateKey: keys.privateKey, rowFormat: 2 })]);
      expect(b.subjects!.length).to.equal(3_000);
      expect([...b.subjects!]).to.deep.equal([...a.subjects!]);
      expect([...b.partition]).to.deep.equal([...a.partition]);
      expect(b.dimensions!.map((d) => [d.name, [...d.codes]])).to.deep.equal(a.dimensions!.map((d) => [d.name, [...d.codes]]));
    });
  });

  it("the owner's sealer writes v2 by default, says so in the manifest, and v1 on request holds the same rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-rows-v2-'));
    const evaluator = new HeEvaluator({ threads: 1 });
    try {
      const { keystore: ks } = await openOrCreateKeystore({ dir: join(dir, 'ks'), masterSecret: 'row-chunk-v2-secret-0123', operatorPublicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) });
      writeCsv(join(dir, 'd.csv'), generateRows(500, 5));
      const opened: Record<string, { rows: unknown[]; bytes: number; format: unknown }> = {};
      for (const rowFormat of [undefined, 1] as const) {
        const out = join(dir, `b${rowFormat ?? ''}`);
        const s = await sealDataset({ input: join(dir, 'd.csv'), schema: testSchema, enclave: publicInfoOf(ks), outDir: out, rowsPerChunk: 200, evaluator, ...(rowFormat ? { rowFormat } : {}) });
        const refs = s.manifest.chunks.filter((c) => c.kind === 'rows');
        opened[String(rowFormat ?? 'default')] = {
          format: s.manifest.rows.chunkFormat,
          bytes: refs.reduce((n, r) => n + r.size, 0),
          rows: refs.flatMap((r) => openRowChunk(decodeSealedRowChunk(new Uint8Array(readFileSync(bundleBlobPath(out, r.sm3)))), ks.unwrap.privateKey, rowChunkAad(s.manifest.bundleId, r.index)).rows),
        };
      }
      expect(opened.default!.format).to.equal(2);
      expect(opened['1']!.format).to.equal(1);
      expect(opened.default!.rows).to.have.length(500);
      expect(opened.default!.rows).to.deep.equal(opened['1']!.rows);
      expect(opened.default!.bytes).to.be.below(opened['1']!.bytes);
    } finally {
      await evaluator.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
