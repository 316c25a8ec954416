import { expect } from 'chai';
import fc from 'fast-check';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { isDomainError } from '../../contracts/errors.js';
import { RowChunkWriter } from '../../formats/row-chunk.js';
import { parseFixed, parseFixedNumber } from '../../he/layout.js';
import { type CsvIssue, RowValidator } from '../../client-sdk/dataset/csv-check.js';

/**
 * The sealer's hot-path shortcuts must change nothing but speed: the row chunk text written a batch at a
 * time is byte for byte JSON.stringify({ columns, rows }); the allocation-free fixed-point reading agrees with
 * the general one on every string; a measure's row value is still Number(text).
 */
describe('client-sdk/dataset: sealing fast paths = the plain definitions', () => {
  const scalar = fc.oneof(fc.string({ unit: 'binary' }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constant(null));

  it('RowChunkWriter writes exactly JSON.stringify({ columns, rows }), in any batching, chunk after chunk', () => {
    const columns = ['a', 'b"', 'ü'];
    const writer = new RowChunkWriter(columns);
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(scalar, scalar, scalar), { maxLength: 6 }), { maxLength: 5 }), (batches) => {
        for (const b of batches) writer.addRows(b);
        const text = Buffer.from(writer.finish()).toString('utf8');
        writer.reset();
        expect(text).to.equal(JSON.stringify({ columns, rows: batches.flat() }));
        expect(writer.rows).to.equal(0);
      }),
      { numRuns: 300 },
    );
  });

  it('RowChunkWriter refuses what checkPlain refuses (wrong width, non-scalar, non-finite)', () => {
    const writer = new RowChunkWriter(['a', 'b']);
    for (const bad of [[['x']], [['x', {}]], [['x', Number.NaN]], [['x', Infinity]], [['x', undefined]], [['x', 1n]]] as unknown[][][]) {
      expect(() => writer.addRows(bad), JSON.stringify(bad, (_, v) => (typeof v === 'bigint' ? 'bigint' : v))).to.throw().that.satisfies((e: unknown) => isDomainError(e) && e.type === 'row-chunk-invalid');
    }
    expect(() => new RowChunkWriter([])).to.throw();
  });

  it('parseFixedNumber = Number(parseFixed) on any text, any scale', () => {
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom('0', '1', '5', '9', '.', '-', '+', ' ', 'e', 'x', '\t') }),
      fc.tuple(fc.constantFrom('', '-', '+', ' '), fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.constantFrom('', '.'), fc.nat({ max: 10 ** 9 }).map(String), fc.constantFrom('', '0', '00', ' ')).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 0, max: 6 }), (s, scale) => {
        const ref = parseFixed(s, scale);
        const got = parseFixedNumber(s, scale);
        if (ref === null) expect(got, s).to.equal(null);
        else expect(Object.is(got, ref === 0n && /^\s*-/.test(s) ? -0 : Number(ref)), `${s} → ${got}, want ${ref}`).to.equal(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a measure row value is Number(text) and its HE value the fixed-point integer; bad text keeps its message', () => {
    const schema = DatasetSchema.parse({
      sector: 'macro-economy',
      columns: [
        { name: 'i', type: 'int', role: 'measure', level: 2, bounds: [-1e12, 1e12] },
        { name: 'd', type: 'decimal(2)', role: 'measure', level: 2, bounds: [-1e9, 1e9] },
      ],
    });
    const v = new RowValidator(schema);
    const num = (scale: number) => fc.tuple(fc.constantFrom('', '-', '+'), fc.nat({ max: 999_999_999 }), fc.nat({ max: 99 }), fc.boolean()).map(([sg, a, b, frac]) => `${sg}${a}${scale && frac ? `.${String(b).padStart(2, '0')}` : ''}`);
    fc.assert(
      fc.property(num(0), num(2), (i, d) => {
        const issues: CsvIssue[] = [];
        const out = v.parseRow([i, d], 1, issues)!;
        expect(issues).to.deep.equal([]);
        expect(Object.is(out.values[0], Number(i)) && Object.is(out.values[1], Number(d)), `${i} ${d} → ${out.values}`).to.equal(true);
        // (=== : a -0 from '-0' adds into the totals as 0)
        expect(out.measures[0] === Number(parseFixed(i, 0)) && out.measures[1] === Number(parseFixed(d, 2)), `${i} ${d} → ${out.measures}`).to.equal(true);
      }),
      { numRuns: 2000 },
    );
    for (const [i, d, msg] of [
      ['1.5', '1', "row 3, column i: '1.5' is not an int"],
      ['1234567890123456', '1', "row 3, column i: '1234567890123456' is not an int"],
      ['1', '1.234', "row 3, column d: '1.234' is not a decimal(2)"],
      ['1', '2000000000', "row 3, column d: '2000000000' is outside the declared bounds [-1000000000, 1000000000]"],
      ['- 1', '1', "row 3, column i: '- 1' is not an int"],
    ]) {
      const issues: CsvIssue[] = [];
      expect(v.parseRow([i!, d!], 3, issues)).to.equal(null);
      expect(issues.map((x) => x.message)).to.deep.equal([msg]);
    }
  });
});
