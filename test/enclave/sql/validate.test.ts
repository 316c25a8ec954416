import { expect } from 'chai';
import fc from 'fast-check';
import { validateSql } from '../../../enclave/sql/validate.js';
import { sm3Hex } from '../../../enclave/crypto/index.js';
import { schema } from './fixture.js';

/** [query, clause, rule]: each must be refused with that rule named for that clause. */
const REFUSED: [string, string, string][] = [
  // identifiers, directly or through expressions
  ['SELECT person_id FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT MIN(person_id) FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT MAX(person_id) AS m FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT COUNT(DISTINCT person_id) FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT COUNT(*) FROM dataset GROUP BY person_id', 'GROUP BY', 'identifier-column'],
  ["SELECT SUM(CASE WHEN person_id = 'P000001' THEN amount END) FROM dataset", 'SELECT', 'identifier-column'],
  ["SELECT COUNT(*) FROM dataset WHERE person_id = 'P000001'", 'WHERE', 'identifier-column'],
  ['SELECT SUM(LENGTH(person_id)) FROM dataset', 'SELECT', 'function-allow-list'],
  ['SELECT SUM("person_id") FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT MIN("Person_Id") FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT SUM("nosuch") FROM dataset', 'SELECT', 'double-quoted-literal'],
  ['SELECT COUNT(*) FROM dataset GROUP BY PERSON_ID', 'GROUP BY', 'identifier-column'],
  ['SELECT COUNT(*) FROM dataset ORDER BY person_id', 'ORDER BY', 'identifier-column'],
  // measures / attributes outside aggregates
  ['SELECT amount FROM dataset', 'SELECT', 'aggregate-only-column'],
  ['SELECT name, COUNT(*) FROM dataset GROUP BY name', 'GROUP BY', 'group-by-dimension'],
  ['SELECT COUNT(*) FROM dataset GROUP BY amount', 'GROUP BY', 'group-by-dimension'],
  ['SELECT COUNT(*) FROM dataset WHERE amount > 10', 'WHERE', 'aggregate-only-column'],
  ["SELECT COUNT(*) FROM dataset WHERE name = 'x'", 'WHERE', 'aggregate-only-column'],
  ['SELECT MIN(name) FROM dataset', 'SELECT', 'attribute-aggregate'],
  ['SELECT SUM(region) FROM dataset', 'SELECT', 'aggregate-needs-measure'],
  // string functions and operators over attributes
  ['SELECT substr(name, 1, 1), COUNT(*) FROM dataset', 'SELECT', 'function-allow-list'],
  ['SELECT COUNT(DISTINCT upper(name)) FROM dataset', 'SELECT', 'function-allow-list'],
  ["SELECT SUM(CASE WHEN name LIKE 'Zh%' THEN 1 END) FROM dataset", 'SELECT', 'operator-allow-list'],
  ["SELECT SUM(CASE WHEN substr(name, 1, 1) = 'n' THEN 1 END) FROM dataset", 'SELECT', 'function-allow-list'],
  ["SELECT COUNT(*) FROM dataset WHERE region || 'x' = 'northx'", 'WHERE', 'expression-allow-list'],
  ['SELECT GROUP_CONCAT(region) FROM dataset', 'SELECT', 'function-allow-list'],
  ['SELECT json_group_array(amount) FROM dataset', 'SELECT', 'function-allow-list'],
  // output shape
  ['SELECT region FROM dataset', 'SELECT', 'output-not-grouped'],
  ['SELECT region, COUNT(*) FROM dataset', 'SELECT', 'output-not-grouped'],
  ['SELECT 1 FROM dataset', 'SELECT', 'output-must-aggregate'],
  ['SELECT * FROM dataset', 'SELECT', 'no-star'],
  ['SELECT DISTINCT region FROM dataset GROUP BY region', 'SELECT', 'no-select-distinct'],
  ['SELECT COUNT(*) FROM dataset GROUP BY 1', 'GROUP BY', 'group-by-dimension'],
  ['SELECT SUM(COUNT(*)) FROM dataset', 'SELECT', 'nested-aggregate'],
  ['SELECT CASE WHEN COUNT(*) > 5 THEN 1 END FROM dataset', 'SELECT', 'case-form'],
  ['SELECT SUM(CASE WHEN nights > 3 THEN amount ELSE 0 END) FROM dataset', 'SELECT', 'case-form'],
  ['SELECT SUM(CASE WHEN nights > 3 THEN amount WHEN nights > 1 THEN 2 * amount END) FROM dataset', 'SELECT', 'case-form'],
  ['SELECT SUM(amount) AS __rows FROM dataset', 'SELECT', 'alias'],
  ['SELECT SUM(amount) AS s, COUNT(*) AS s FROM dataset', 'SELECT', 'duplicate-output'],
  ['SELECT region, COUNT(*) AS n FROM dataset GROUP BY region ORDER BY n', 'ORDER BY', 'order-by'],
  // set operations, subqueries, CTEs, LIMIT, HAVING
  ['SELECT COUNT(*) FROM dataset UNION SELECT SUM(amount) FROM dataset', 'UNION', 'no-set-operation'],
  ['SELECT COUNT(*) FROM dataset UNION ALL SELECT SUM(amount) FROM dataset', 'UNION ALL', 'no-set-operation'],
  ['SELECT SUM(amount) FROM (SELECT * FROM dataset)', 'FROM', 'no-subquery'],
  ["SELECT COUNT(*) FROM dataset WHERE region IN (SELECT region FROM dataset WHERE name = 'x')", 'WHERE', 'no-subquery'],
  ['SELECT COUNT(*) FROM dataset WHERE EXISTS (SELECT 1)', 'WHERE', 'no-subquery'],
  ['WITH d AS (SELECT * FROM dataset) SELECT COUNT(*) FROM d', 'statement', 'select-only'],
  ['SELECT COUNT(*) FROM dataset LIMIT 1', 'LIMIT', 'no-limit'],
  ['SELECT region, COUNT(*) FROM dataset GROUP BY region LIMIT 1 OFFSET 2', 'LIMIT', 'no-limit'],
  ['SELECT region, COUNT(*) FROM dataset GROUP BY region HAVING COUNT(*) = 1', 'HAVING', 'no-having'],
  ['SELECT COUNT(*) FROM dataset, dataset AS b', 'FROM', 'single-table'],
  ['SELECT COUNT(*) FROM sqlite_master', 'FROM', 'single-table'],
  ['SELECT COUNT(*) FROM other.dataset', 'FROM', 'single-table'],
  ['SELECT COUNT(*) FROM dataset JOIN dataset b ON 1 = 1', 'FROM', 'single-table'],
  // comments, stacked statements, non-SELECT
  ['SELECT COUNT(*) FROM dataset -- hello', 'query text', 'no-comments'],
  ['SELECT COUNT(*) /* x */ FROM dataset', 'query text', 'no-comments'],
  ['SELECT COUNT(*) FROM dataset; DROP TABLE dataset', 'statement', 'single-statement'],
  ['SELECT COUNT(*) FROM dataset;', 'statement', 'single-statement'],
  ['PRAGMA table_info(dataset)', 'statement', 'select-only'],
  ["ATTACH DATABASE '/tmp/x.db' AS x", 'statement', 'select-only'],
  ['DELETE FROM dataset', 'statement', 'select-only'],
  ["INSERT INTO dataset (region) VALUES ('x')", 'statement', 'select-only'],
  ['DROP TABLE dataset', 'statement', 'select-only'],
  // literals and parameters
  ['SELECT COUNT(*) FROM dataset WHERE region = ?', 'WHERE', 'no-parameters'],
  ["SELECT COUNT(*) FROM dataset WHERE region = X'00'", 'WHERE', 'literal-allow-list'],
  ['SELECT COUNT(*) FROM dataset WHERE nosuch = 1', 'WHERE', 'unknown-column'],
  ['SELECT random() FROM dataset', 'SELECT', 'function-allow-list'],
  [`SELECT ${Array.from({ length: 25 }, () => 'COUNT(*)').join(', ')} FROM dataset`, 'SELECT', 'too-many-aggregates'],
];

const ACCEPTED: string[] = [
  'SELECT COUNT(*) FROM dataset',
  'SELECT region, COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights FROM dataset GROUP BY region ORDER BY region',
  "SELECT region, channel, COUNT(*) FROM dataset WHERE region IN ('north', 'south') AND NOT channel = 'shop' GROUP BY region, channel",
  'SELECT MIN(amount), MAX(amount), TOTAL(nights) FROM dataset',
  'SELECT SUM(CASE WHEN nights > 3 THEN amount END) AS long_stay FROM dataset',
  "SELECT COUNT(CASE WHEN name = 'name-1' AND nights BETWEEN 1 AND 5 THEN 1 END) FROM dataset",
  'SELECT COUNT(DISTINCT name), COUNT(DISTINCT region) FROM dataset',
  'SELECT ROUND(AVG(amount), 2), SUM(amount) / COUNT(*), SUM(ABS(amount) * 2 + 1) FROM dataset',
  'select region, sum(amount) from dataset d where d.region <> \'west\' group by region',
  "SELECT COUNT(*) FROM dataset WHERE region = 'it''s -- not a comment'",
  'SELECT COUNT(amount), SUM(COALESCE(amount, 0)), SUM(CAST(nights AS REAL)) FROM dataset',
];

describe('restricted SQL validator', () => {
  for (const [q, clause, rule] of REFUSED) {
    it(`refuses (${rule}): ${q}`, () => {
      const v = validateSql(q, schema);
      expect(v.ok, q).to.equal(false);
      if (v.ok) return;
      expect(v.errors.map((e) => `${e.clause}/${e.rule}`), q).to.include(`${clause}/${rule}`);
      for (const e of v.errors) expect(e.message.length).to.be.greaterThan(5);
    });
  }

  for (const q of ACCEPTED) {
    it(`accepts: ${q}`, () => {
      const v = validateSql(q, schema);
      expect(v.ok, JSON.stringify(v)).to.equal(true);
      if (!v.ok) return;
      expect(v.hash).to.equal(sm3Hex(v.normalized));
      expect(validateSql(v.normalized, schema)).to.deep.equal(v); // the normalised text is itself valid and a fixpoint
    });
  }

  it('names outputs deterministically and derives bounds from the schema', () => {
    const v = validateSql('SELECT region, COUNT(*), SUM(amount) AS total, AVG(nights), SUM(CASE WHEN nights > 3 THEN amount END) FROM dataset GROUP BY region', schema);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    expect(v.outputs).to.deep.equal([
      { name: 'region', kind: 'dimension', column: 'region', bounds: null, scale: 0 },
      { name: 'count_all', kind: 'aggregate', aggregate: 'count', bounds: [0, 1], scale: 0 },
      { name: 'total', kind: 'aggregate', aggregate: 'sum', column: 'amount', bounds: [-100, 1000], scale: 2 },
      { name: 'mean_nights', kind: 'aggregate', aggregate: 'mean', column: 'nights', bounds: [0, 30], scale: 4 },
      { name: 'sum_amount', kind: 'aggregate', aggregate: 'sum', column: 'amount', bounds: [-100, 1000], scale: 2 },
    ]);
    expect(v.columnsUsed).to.deep.equal(['amount', 'nights', 'region']);
    expect(v.plan.groupBy).to.deep.equal(['region']);
  });

  it('equivalent spellings normalise to the same text and hash; different queries do not', () => {
    const a = validateSql('select REGION, count(*) as n from DATASET group by region', schema);
    const b = validateSql('SELECT region,COUNT(*)   AS n FROM dataset GROUP BY REGION', schema);
    const c = validateSql('SELECT region, COUNT(*) AS m FROM dataset GROUP BY region', schema);
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected valid');
    expect(a.hash).to.equal(b.hash);
    expect(a.hash).to.not.equal(c.hash);
  });

  it('never throws and never accepts a query that mentions the identifier (fast-check)', () => {
    const pieces = ['person_id', 'amount', 'region', 'name', 'nights', 'COUNT(', 'SUM(', 'MIN(', 'CASE WHEN ', ' THEN ', ' END', ')', ', ', ' = ', "'x'", '1', ' FROM dataset', ' WHERE ', ' GROUP BY ', '*', ' AND ', ' || ', ' UNION SELECT ', ';', '--', '"person_id"', '(SELECT ', ' AS ', 'upper('];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 14 }), (parts) => {
        const q = 'SELECT ' + parts.join('');
        const v = validateSql(q, schema);
        if (v.ok) {
          expect(v.columnsUsed).to.not.include('person_id');
          expect(v.normalized.includes('person_id')).to.equal(false);
        }
      }),
      { numRuns: 400 },
    );
  });
});
