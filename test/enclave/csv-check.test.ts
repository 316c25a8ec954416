import { expect } from 'chai';
import { isUtf8 } from 'node:buffer';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { isDomainError } from '../../contracts/errors.js';
import { checkCsv } from '../../client-sdk/dataset/csv-check.js';
import { CsvBytes, firstInvalidUtf8 } from '../../client-sdk/dataset/csv-bytes.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { parseFixed } from '../../he/layout.js';
import { openOrCreateKeystore, publicInfoOf } from '../../enclave/keystore/keystore.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import { generateRows, testSchema, writeCsv } from './fixtures.js';

const schema = DatasetSchema.parse({
  sector: 'tourism',
  columns: [
    { name: 'id', type: 'identifier', role: 'identifier', level: 3 },
    { name: 'city', type: 'category', role: 'dimension', level: 1, values: ['kunming', 'dali'] },
    { name: 'amount', type: 'decimal(2)', role: 'measure', level: 2, bounds: [-100, 100] },
    { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] },
    { name: 'day', type: 'date', role: 'attribute', level: 2 },
  ],
});
const csv = (s: string) => Readable.from([s]);

describe('client-sdk/dataset: CSV check against the schema', () => {
  it('accepts a clean CSV and reports stats', async () => {
    const r = await checkCsv(csv('id,city,amount,nights,day\nA1,kunming,-12.5,3,2024-02-29\nA2,dali,99.99,0,\n'), schema);
    expect(r.ok, JSON.stringify(r.errors)).to.equal(true);
    expect(r.rows).to.equal(2);
    expect(r.stats.amount).to.deep.include({ min: -12.5, max: 99.99 });
    expect(r.stats.day!.empty).to.equal(1);
    expect(r.stats.city!.distinct).to.equal(2);
  });

  it('names row and column precisely for each kind of error', async () => {
    const r = await checkCsv(
      csv(
        [
          'id,city,amount,nights,day',
          'A1,kunming,abc,3,2024-01-01', // row 1: not a decimal
          'A2,dali,1.234,3,2024-01-01', // row 2: too many decimals
          'A3,dali,100.01,3,2024-01-01', // row 3: out of bounds
          'A4,lijiang,1,3,2024-01-01', // row 4: not a declared value
          'A5,dali,1,3,2023-02-29', // row 5: bad date
          'A6,dali,1,3.5,2024-01-01', // row 6: not an int
          'A7,dali,1,3', // row 7: field count
          ',dali,1,3,2024-01-01', // row 8: identifier empty
        ].join('\n'),
      ),
      schema,
    );
    const msgs = r.errors.map((e) => e.message);
    expect(msgs).to.deep.equal([
      "row 1, column amount: 'abc' is not a decimal(2)",
      "row 2, column amount: '1.234' is not a decimal(2)",
      "row 3, column amount: '100.01' is outside the declared bounds [-100, 100]",
      "row 4, column city: 'lijiang' is not one of the declared values of city",
      "row 5, column day: '2023-02-29' is not a date (YYYY-MM-DD)",
      "row 6, column nights: '3.5' is not an int",
      'row 7: has 4 fields, the schema has 5 columns',
      'row 8, column id: is empty',
    ]);
    expect(r.errors[0]).to.include({ row: 1, column: 'amount' });
  });

  it('checks the header against the schema', async () => {
    const r = await checkCsv(csv('id,town,amount,nights,day\nA1,kunming,1,1,2024-01-01\n'), schema);
    expect(r.ok).to.equal(false);
    expect(r.errors.map((e) => e.message).join(' | ')).to.match(/lacks column\(s\) city.*not in the schema: town/);
    const order = await checkCsv(csv('city,id,amount,nights,day\n'), schema);
    expect(order.errors[0]!.message).to.match(/schema order/);
    const empty = await checkCsv(csv(''), schema);
    expect(empty.errors[0]!.message).to.match(/empty/);
  });

  it('stops collecting at maxErrors and says so', async () => {
    const lines = ['id,city,amount,nights,day', ...Array.from({ length: 50 }, (_, i) => `A${i},x,1,1,2024-01-01`)];
    const r = await checkCsv(csv(lines.join('\n')), schema, { maxErrors: 10 });
    expect(r.errors).to.have.length(10);
    expect(r.truncated).to.equal(true);
    expect(r.rows).to.equal(50);
  });

  it('a broken quote is a parse error with a row, not a crash', async () => {
    const r = await checkCsv(csv('id,city,amount,nights,day\nA1,"kunming,1,1,2024-01-01\n'), schema);
    expect(r.ok).to.equal(false);
    expect(r.errors[0]!.message).to.match(/cannot be parsed near row/);
  });

  it('fixed-point parsing is exact (fast-check: integer cents round-trip through their decimal text)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.integer({ min: 0, max: 6 }), (v, scale) => {
        const unit = 10n ** BigInt(scale);
        const neg = v < 0n;
        const a = neg ? -v : v;
        const text = `${neg ? '-' : ''}${a / unit}${scale ? '.' + (a % unit).toString().padStart(scale, '0') : ''}`;
        return parseFixed(text, scale) === v && (scale === 0 || parseFixed(text + '0', scale) === v);
      }),
    );
    expect(parseFixed('1.5', 0)).to.equal(null);
    expect(parseFixed('1e3', 2)).to.equal(null);
    expect(parseFixed('+7', 2)).to.equal(700n);
  });
});

/** The first offending byte of a whole input, by the plain definitions (a reference for the chunked check). */
function reference(b: Buffer): { kind: string; offset: number } | undefined {
  const found = [
    { kind: 'utf8', offset: firstInvalidUtf8(b) },
    { kind: 'nul', offset: b.indexOf(0) },
    { kind: 'bom', offset: b.indexOf(Buffer.of(0xef, 0xbb, 0xbf), 1) },
  ].filter((x) => x.offset !== -1);
  found.sort((x, y) => x.offset - y.offset);
  return found[0];
}

/** Bytes that are mostly text (CJK, ASCII, line structure) with now and then a NUL, a BOM or a stray byte. */
const mostlyText = fc
  .array(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('a', ',', '\n', '"', '数', '域', '€', '😀', 'é').map((t) => Buffer.from(t)) },
      { weight: 1, arbitrary: fc.constantFrom(Buffer.of(0), Buffer.of(0xef, 0xbb, 0xbf), Buffer.of(0xff), Buffer.of(0xc3), Buffer.of(0xe4, 0xb8), Buffer.of(0xed, 0xa0, 0x80), Buffer.of(0xc0, 0x80), Buffer.of(0xf4, 0x90, 0x80, 0x80), Buffer.of(0x80)) },
    ),
    { maxLength: 60 },
  )
  .map((parts) => Buffer.concat(parts));

describe('client-sdk/dataset: the CSV bytes are the data (UTF-8, no NUL, a BOM only first)', function () {
  this.timeout(120_000);

  it('firstInvalidUtf8 agrees with buffer.isUtf8 and a fatal TextDecoder on any bytes (fast-check)', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true });
    const decodes = (b: Uint8Array) => {
      try {
        fatal.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), mostlyText), (b) => {
        const ok = firstInvalidUtf8(b) === -1;
        return ok === isUtf8(b) && ok === decodes(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('the chunked check finds the byte the whole-input definition finds, however the input is cut (fast-check)', () => {
    fc.assert(
      fc.property(mostlyText, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }), (bytes, cuts) => {
        const check = new CsvBytes();
        let at = 0;
        let bad: number | undefined;
        for (let i = 0; at < bytes.length; i++) {
          const chunk = bytes.subarray(at, at + cuts[i % cuts.length]!);
          const index = check.scan(chunk);
          if (index !== -1) {
            bad = at + index;
            break;
          }
          at += chunk.length;
        }
        if (bad === undefined) check.end();
        const want = reference(bytes);
        // a sequence cut off by the end of the input is only known at its end
        if (!want) return check.problem === undefined;
        // the input is cut where the rest would go to the parser: at the byte, or (a sequence begun in the chunk
        // before) at this chunk's start, just after it
        return check.problem?.kind === want.kind && check.problem.offset === want.offset && (bad === undefined || (bad >= want.offset && bad <= want.offset + 3));
      }),
      { numRuns: 3000 },
    );
  });

  const one = DatasetSchema.parse({
    sector: 'tourism',
    columns: [
      { name: 'id', type: 'identifier', role: 'identifier', level: 3 },
      { name: 'city', type: 'category', role: 'dimension', level: 1, values: ['昆明', '大理'] },
      { name: 'note', type: 'text', role: 'attribute', level: 2 },
    ],
  });
  const oneByte = (b: Buffer) => Readable.from([...b].map((x) => Buffer.of(x))); // every character cut across chunks

  it('accepts UTF-8 text cut anywhere, and a BOM at the very start', async () => {
    const text = Buffer.from('\ufeffid,city,note\nA1,昆明,"多行\n文本 😀"\nA2,大理,€\n');
    const r = await checkCsv(oneByte(text), one);
    expect(r.ok, JSON.stringify(r.errors)).to.equal(true);
    expect(r.rows).to.equal(2);
  });

  it('refuses a NUL, invalid UTF-8 or a BOM inside the file, naming row and column — the identifier too', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('id,city,note\nA1,昆明,x\nA\u00002,大理,y\n'), 'row 2, column id: holds a NUL byte (at byte offset 26)'],
      [Buffer.concat([Buffer.from('id,city,note\nA1,昆明,x\nA2,大理,'), Buffer.of(0xe4, 0xb8), Buffer.from('\n')]), 'row 2, column note: is not valid UTF-8 (byte 0xE4 at byte offset 35)'],
      [Buffer.concat([Buffer.from('id,city,note\nA1,'), Buffer.of(0xe6, 0x98), Buffer.from(',x\n')]), 'row 1, column city: is not valid UTF-8 (byte 0xE6'],
      [Buffer.concat([Buffer.from('id,city,note\nA1,昆明,"two\nlines '), Buffer.of(0xff), Buffer.from('"\n')]), 'row 1, column note: is not valid UTF-8 (byte 0xFF'],
      [Buffer.from('id,city,note\nA1,昆明,x\n\ufeffA2,大理,y\n'), 'row 2, column id: holds a byte-order mark'],
      [Buffer.concat([Buffer.from('id,ci'), Buffer.of(0xc0, 0xaf), Buffer.from('ty,note\n')]), 'header field 2: is not valid UTF-8'],
    ];
    for (const [bytes, message] of cases) {
      for (const input of [Readable.from([bytes]), oneByte(bytes)]) {
        const r = await checkCsv(input, one);
        expect(r.ok).to.equal(false);
        expect(r.errors.at(-1)!.message, bytes.toString('hex')).to.include(message);
      }
    }
  });

  describe('the sealer refuses the same bytes on both of its paths', () => {
    let dir: string;
    let info: EnclavePublicInfo;
    let evaluator: HeEvaluator;
    const rows = generateRows(2500, 3);
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'shuyu-bytes-'));
      const { keystore } = await openOrCreateKeystore({ dir: join(dir, 'ks'), masterSecret: 'bytes-test-secret-0123', operatorPublicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) });
      info = publicInfoOf(keystore);
      evaluator = new HeEvaluator({ threads: 2 });
    });
    after(async () => {
      await evaluator.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const refusal = async (file: string, split: boolean) => {
      try {
        await sealDataset({ input: file, schema: testSchema, enclave: info, outDir: join(dir, `out-${split}`), rowsPerChunk: 300, threads: 2, split, evaluator });
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal('csv-invalid');
        return (e as { detail: { errors: { row: number; column?: string; message: string }[] } }).detail.errors;
      }
      return expect.fail('sealed');
    };

    it('a NUL in an identifier, a broken character in a quoted note, a stray BOM, a bad header: the same row and column, split or streamed', async () => {
      writeCsv(join(dir, 'good.csv'), rows);
      const lines = readFileSync(join(dir, 'good.csv'), 'utf8').split('\n');
      const variant = (name: string, edit: (l: string[]) => Buffer) => {
        writeFileSync(join(dir, name), edit([...lines]));
        return join(dir, name);
      };
      const files = {
        nulId: variant('nul.csv', (l) => ((l[1234] = 'X\u0000' + l[1234]), Buffer.from(l.join('\n')))),
        badNote: variant('bad-note.csv', (l) => {
          // a quoted note with a line break and a broken character (0xE4 then a non-continuation byte)
          l[1800] = l[1800]!.replace(/,([^,]*),([^,]*)$/, ',"two\nlines ~BAD~",$2');
          const [before, after] = l.join('\n').split('~BAD~');
          return Buffer.concat([Buffer.from(before!), Buffer.of(0xe4, 0x28), Buffer.from(after!)]);
        }),
        bom: variant('bom.csv', (l) => ((l[2222] = '\ufeff' + l[2222]), Buffer.from(l.join('\n')))),
        header: variant('header.csv', (l) => Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf, 0xfe), Buffer.from(l.join('\n'))])),
      };
      const want = {
        nulId: { row: 1234, column: 'customer_id', message: /^row 1234, column customer_id: holds a NUL byte/ },
        badNote: { row: 1800, column: 'note', message: /^row 1800, column note: is not valid UTF-8 \(byte 0xE4/ },
        bom: { row: 2222, column: 'customer_id', message: /^row 2222, column customer_id: holds a byte-order mark/ },
        header: { row: 0, column: undefined, message: /^header field 1: is not valid UTF-8 \(byte 0xFE at byte offset 3\)/ },
      };
      for (const [name, file] of Object.entries(files)) {
        const [split, streamed] = [await refusal(file, true), await refusal(file, false)];
        expect(split, name).to.deep.equal(streamed);
        const last = split.at(-1)!;
        const w = want[name as keyof typeof want];
        expect(last.row, name).to.equal(w.row);
        expect(last.column, name).to.equal(w.column);
        expect(last.message, name).to.match(w.message);
        // owner check says the same
        const check = await checkCsv(file, testSchema);
        expect(check.errors.at(-1), name).to.deep.equal(last);
      }
    });
  });
});
