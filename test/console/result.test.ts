/**
 * The console's reading of a released result (console/result.ts), without a browser: the number format of
 * each output, the ± interval of a DP value, the groups an exact release left out, and the CSV.
 */
import { expect } from 'chai';
import { absentKeys, formatNumber, halfWidthFor, outputFormat, resultCsv, resultTable } from '../../console/result.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';

const schema: DatasetSchema = {
  sector: 'tourism',
  columns: [
    { name: 'trip_id', type: 'identifier', role: 'identifier', level: 2, tags: [] },
    { name: 'prefecture', type: 'category', role: 'dimension', level: 1, tags: [], values: ['昆明市', '大理州', '丽江市'] },
    { name: 'origin', type: 'category', role: 'dimension', level: 1, tags: [], values: ['省内', '省外'] },
    { name: 'spend_yuan', type: 'decimal(2)', role: 'measure', level: 2, tags: [], bounds: [0, 20000] },
    { name: 'nights', type: 'int', role: 'measure', level: 2, tags: [], bounds: [0, 30] },
  ],
};

describe('console result: formats, intervals, absent groups, CSV', () => {
  it('formats each output at the scale of its measure, with its unit', () => {
    expect(outputFormat('count', schema)).to.deep.equal({ decimals: 0, unit: null });
    expect(outputFormat('sum(spend_yuan)', schema)).to.deep.equal({ decimals: 2, unit: 'yuan' });
    expect(outputFormat('mean(nights)', schema)).to.deep.equal({ decimals: 1, unit: 'nights' });
    expect(outputFormat('variance(spend_yuan)', schema)).to.deep.equal({ decimals: 2, unit: null });
    // an SQL alias: whole when every value is whole
    expect(outputFormat('n', schema, [3, 4])).to.deep.equal({ decimals: 0, unit: null });
    expect(outputFormat('avg_spend', schema, [3.25, 4])).to.deep.equal({ decimals: 2, unit: null });
    expect(formatNumber(1234567.5, 2, 'en-GB')).to.equal('1,234,567.50');
    expect(formatNumber(-0.126, 2, 'zh-CN')).to.equal('-0.13');
  });

  it('states a DP half-width: fixed for counts and sums, from the group\'s released count for a mean', () => {
    expect(halfWidthFor('count', { halfWidth95: 6 }, {})).to.equal(6);
    const mean = { halfWidth95: null, sumHalfWidth: 1000, countHalfWidth: 6 };
    expect(halfWidthFor('mean(spend_yuan)', mean, { count: 50, 'mean(spend_yuan)': 200 })).to.equal((1000 + 200 * 6) / 50);
    expect(halfWidthFor('mean(spend_yuan)', mean, { 'mean(spend_yuan)': 200 }), 'no count released').to.equal(null);
    expect(halfWidthFor('count', undefined, {})).to.equal(null);
  });

  it('names the declared keys an exact release left out, within the filters', () => {
    const result = { kind: 'aggregate', groupBy: ['prefecture', 'origin'], outputs: ['count'], groups: [{ key: ['昆明市', '省内'], values: { count: 9 } }] };
    expect(absentKeys(result, schema, [{ column: 'prefecture', in: ['昆明市', '大理州'] }])).to.deep.equal([
      ['昆明市', '省外'],
      ['大理州', '省内'],
      ['大理州', '省外'],
    ]);
    expect(absentKeys({ ...result, groupBy: ['expr_1'] }, schema), 'a column without declared values').to.deep.equal([]);
    expect(absentKeys({ ...result, groupBy: [] }, schema)).to.deep.equal([]);
  });

  it('writes the released numbers as CSV, quoting where needed, a ±95% column per DP output', () => {
    const tbl = resultTable({ kind: 'aggregate', groupBy: ['prefecture'], outputs: ['count', 'mean(spend_yuan)'], groups: [{ key: ['大理州'], values: { count: 12, 'mean(spend_yuan)': 1234.5 } }, { key: ['a,"b"'], values: { count: 7, 'mean(spend_yuan)': null } }] })!;
    expect(resultCsv(tbl)).to.equal('\ufeffprefecture,count,mean(spend_yuan)\r\n大理州,12,1234.5\r\n"a,""b""",7,\r\n');
    const dp = resultCsv(tbl, (row, col) => (col === 1 ? 6 : row === 0 ? 21.7 : null));
    expect(dp.split('\r\n')[0]).to.equal('\ufeffprefecture,count,count ±95%,mean(spend_yuan),mean(spend_yuan) ±95%');
    expect(dp.split('\r\n')[1]).to.equal('大理州,12,6,1234.5,21.7');
  });
});
