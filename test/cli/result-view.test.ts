import { expect } from 'chai';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { resultText } from '../../client-sdk/cli/result-view.js';

/**
 * `shuyu buyer result` and the demo print a released result as a table: every value of an output with the
 * same decimals (the schema's scale), thousands separators, a DP value with its ± 95 % interval, the
 * groups an exact release left out named once as "empty or withheld", a verification as a sentence.
 */

const schema = DatasetSchema.parse({
  sector: 'tourism',
  columns: [
    { name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 },
    { name: 'prefecture', type: 'category', role: 'dimension', level: 1, values: ['kunming', 'dali', 'lijiang', 'xishuangbanna'] },
    { name: 'spend_yuan', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100000] },
  ],
});

describe('CLI result view: results as tables people can read', () => {
  it('exact aggregate: one format per output, separators, absent groups named once', () => {
    const text = resultText(
      {
        kind: 'aggregate',
        groupBy: ['prefecture'],
        outputs: ['count', 'sum(spend_yuan)', 'mean(spend_yuan)'],
        groups: [
          { key: ['kunming'], values: { count: 12345, 'sum(spend_yuan)': 1234567.891234, 'mean(spend_yuan)': 100.0060683 } },
          { key: ['dali'], values: { count: 7, 'sum(spend_yuan)': 70, 'mean(spend_yuan)': 10 } },
        ],
      },
      { schema, privacy: { minGroupSize: 5, absentGroups: 'empty-or-withheld' }, computation: { kind: 'aggregate', filters: [{ column: 'prefecture', in: ['kunming', 'dali', 'lijiang'] }] } },
    );
    const lines = text.split('\n');
    expect(lines[0]).to.match(/^prefecture\s+count\s+sum\(spend_yuan\)\s+mean\(spend_yuan\)$/);
    expect(text).to.contain('12,345').and.to.contain('1,234,567.89').and.to.contain('100.01');
    // the same decimals for every value of an output, right-aligned
    expect(text).to.match(/dali\s+7\s+70\.00\s+10\.00$/m);
    expect(text).to.not.match(/\d\.\d{3,}/);
    // xishuangbanna is outside the filter: only lijiang could be absent
    expect(text).to.contain('1 group(s) not listed are empty or withheld (fewer than 5 people); the release never says which: lijiang.');
  });

  it('DP: each value with its ± 95 % interval; every group present, no absent-group note', () => {
    const text = resultText(
      { kind: 'aggregate', groupBy: ['prefecture'], outputs: ['count', 'mean(spend_yuan)'], groups: [{ key: ['kunming'], values: { count: 1000.4, 'mean(spend_yuan)': 123.456 } }] },
      { schema, privacy: { absentGroups: 'none', accuracy: { count: { halfWidth95: 3.2 }, 'mean(spend_yuan)': { halfWidth95: null, sumHalfWidth: 500, countHalfWidth: 3.2 } } } },
    );
    expect(text).to.match(/count \(± 95%\)/);
    expect(text).to.contain('1,000 ± 3');
    // a mean's interval from its group's count: (500 + 123.456 × 3.2) / 1000.4
    expect(text).to.contain(`123.46 ± ${((500 + 123.456 * 3.2) / 1000.4).toFixed(2)}`);
    expect(text).to.not.contain('withheld');
  });

  it('verification answers as a sentence; long results cut with the count of the rest', () => {
    expect(resultText({ kind: 'verify', match: true })).to.equal('Verification: the record you gave MATCHES the dataset.');
    expect(resultText({ kind: 'verify', match: false, perAttribute: { name: true, phone: false } })).to.contain('not matching: phone');
    const many = { kind: 'sql', groupBy: ['g'], outputs: ['n'], groups: Array.from({ length: 30 }, (_, i) => ({ key: [`g${i}`], values: { n: i } })) };
    const text = resultText(many, { maxRows: 12 });
    expect(text).to.contain('… and 18 more row(s), all in the receipt.');
    expect(text).to.contain('Groups not listed are empty or withheld; the release never says which.');
  });
});
