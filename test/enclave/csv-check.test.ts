import { expect } from 'chai';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { checkCsv } from '../../client-sdk/dataset/csv-check.js';
import { parseFixed } from '../../enclave/he/layout.js';

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
