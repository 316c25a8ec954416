import { expect } from 'chai';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DatasetSchema } from '../../../contracts/dataset/schema.js';
import { isDomainError } from '../../../contracts/errors.js';
import { conditionPredicate, dpDomain, exactReleaseSets, validateSql, type SqlMode } from '../../../query/validate.js';
import { sm3Hex } from '../../../crypto/index.js';
import { schema } from './fixture.js';

type Case = [query: string, clause: string, rule: string];

/** Refused in BOTH languages with that clause and rule. */
const REFUSED_BOTH: Case[] = [
  // identifiers, directly or through expressions
  ['SELECT person_id FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT MIN(person_id) FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT COUNT(DISTINCT person_id) FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT COUNT(*) FROM dataset GROUP BY person_id', 'GROUP BY', 'identifier-column'],
  ["SELECT SUM(CASE WHEN person_id = 'P000001' THEN amount END) FROM dataset", 'SELECT', 'identifier-column'],
  ["SELECT COUNT(*) FROM dataset WHERE person_id = 'P000001'", 'WHERE', 'identifier-column'],
  ['SELECT SUM(LENGTH(person_id)) FROM dataset', 'SELECT', 'function-allow-list'],
  ['SELECT SUM("person_id") FROM dataset', 'SELECT', 'identifier-column'],
  ['SELECT SUM("nosuch") FROM dataset', 'SELECT', 'double-quoted-literal'],
  ['SELECT COUNT(*) FROM dataset GROUP BY PERSON_ID', 'GROUP BY', 'identifier-column'],
  ['SELECT COUNT(*) FROM dataset ORDER BY person_id', 'ORDER BY', 'identifier-column'],
  // measures / attributes outside aggregates
  ['SELECT amount FROM dataset', 'SELECT', 'aggregate-only-column'],
  ['SELECT name, COUNT(*) FROM dataset GROUP BY name', 'GROUP BY', 'group-by-dimension'],
  ['SELECT COUNT(*) FROM dataset GROUP BY amount', 'GROUP BY', 'group-by-dimension'],
  ['SELECT SUM(region) FROM dataset', 'SELECT', 'aggregate-needs-measure'],
  ['SELECT SUM(name) FROM dataset', 'SELECT', 'attribute-aggregate'],
  // string functions and operators over attributes
  ['SELECT substr(name, 1, 1), COUNT(*) FROM dataset', 'SELECT', 'function-allow-list'],
  ["SELECT SUM(CASE WHEN name LIKE 'Zh%' THEN 1 END) FROM dataset", 'SELECT', 'operator-allow-list'],
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
  ["SELECT SUM(CASE WHEN region = 'north' THEN amount ELSE 0 END) FROM dataset", 'SELECT', 'case-form'],
  ["SELECT SUM(CASE WHEN region = 'north' THEN amount WHEN region = 'south' THEN nights END) FROM dataset", 'SELECT', 'case-form'],
  ['SELECT SUM(amount) AS __rows FROM dataset', 'SELECT', 'alias'],
  ['SELECT SUM(amount) AS s, COUNT(*) AS s FROM dataset', 'SELECT', 'duplicate-output'],
  ['SELECT region, COUNT(*) AS n FROM dataset GROUP BY region ORDER BY n', 'ORDER BY', 'order-by'],
  // set operations, subqueries, CTEs, LIMIT, HAVING
  ['SELECT COUNT(*) FROM dataset UNION SELECT SUM(amount) FROM dataset', 'UNION', 'no-set-operation'],
  ['SELECT SUM(amount) FROM (SELECT * FROM dataset)', 'FROM', 'no-subquery'],
  ["SELECT COUNT(*) FROM dataset WHERE region IN (SELECT region FROM dataset WHERE name = 'x')", 'WHERE', 'no-subquery'],
  ['SELECT COUNT(*) FROM dataset WHERE EXISTS (SELECT 1)', 'WHERE', 'no-subquery'],
  ['WITH d AS (SELECT * FROM dataset) SELECT COUNT(*) FROM d', 'statement', 'select-only'],
  ['SELECT COUNT(*) FROM dataset LIMIT 1', 'LIMIT', 'no-limit'],
  ['SELECT region, COUNT(*) FROM dataset GROUP BY region HAVING COUNT(*) = 1', 'HAVING', 'no-having'],
  ['SELECT COUNT(*) FROM dataset, dataset AS b', 'FROM', 'single-table'],
  ['SELECT COUNT(*) FROM sqlite_master', 'FROM', 'single-table'],
  ['SELECT COUNT(*) FROM other.dataset', 'FROM', 'single-table'],
  // comments, stacked statements, non-SELECT
  ['SELECT COUNT(*) FROM dataset -- hello', 'query text', 'no-comments'],
  ['SELECT COUNT(*) /* x */ FROM dataset', 'query text', 'no-comments'],
  ['SELECT COUNT(*) FROM dataset; DROP TABLE dataset', 'statement', 'single-statement'],
  ['PRAGMA table_info(dataset)', 'statement', 'select-only'],
  ["ATTACH DATABASE '/tmp/x.db' AS x", 'statement', 'select-only'],
  ['DELETE FROM dataset', 'statement', 'select-only'],
  ['SELEC COUNT(*) FROM dataset', 'statement', 'syntax'],
  ['', 'statement', 'syntax'],
  // literals and parameters
  ['SELECT COUNT(*) FROM dataset WHERE region = ?', 'WHERE', 'no-parameters'],
  ["SELECT COUNT(*) FROM dataset WHERE region = X'00'", 'WHERE', 'literal-allow-list'],
  ['SELECT COUNT(*) FROM dataset WHERE nosuch = 1', 'WHERE', 'unknown-column'],
  ['SELECT random() FROM dataset', 'SELECT', 'function-allow-list'],
  [`SELECT ${Array.from({ length: 25 }, () => 'COUNT(*)').join(', ')} FROM dataset`, 'SELECT', 'too-many-aggregates'],
  // dimensions are compared with their declared values only
  ["SELECT COUNT(*) FROM dataset WHERE region = 'nowhere'", 'WHERE', 'undeclared-value'],
  ["SELECT COUNT(*) FROM dataset WHERE region IN ('north', 'North')", 'WHERE', 'undeclared-value'],
  ["SELECT COUNT(CASE WHEN channel = 'fax' THEN 1 END) FROM dataset", 'SELECT', 'undeclared-value'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'north' COLLATE NOCASE", 'statement', 'expression-allow-list'],
  ["SELECT region, COUNT(*) FROM dataset GROUP BY region COLLATE NOCASE", 'statement', 'expression-allow-list'],
  // one reading of the text: backslashes, control and invisible characters
  ["SELECT COUNT(*) FROM dataset WHERE region = 'x\\' OR nights = 77 OR region = \\'north'", 'query text', 'query-text-character'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'north\\'", 'query text', 'query-text-character'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'north\u0000'", 'query text', 'query-text-character'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'nor\nth'", 'query text', 'query-text-character'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'north\u202e'", 'query text', 'query-text-character'],
  ["SELECT COUNT(*) FROM dataset WHERE region = 'north\ud800'", 'query text', 'query-text-character'],
  ['SELECT COUNT(*)\u3000FROM dataset', 'query text', 'query-text-character'],
  ['SELECT COUNT(*) FROM dataset\u007f', 'query text', 'query-text-character'],
  ['SELECT COUNT(*) FROM "data\u0001set"', 'query text', 'query-text-character'],
];

/** Exact releases: the attacks on weights, integer division, CAST, ranges and conditions on measures. */
const REFUSED_EXACT: Case[] = [
  // per-row weights that vanish on all but one person
  ['SELECT SUM(amount*(1-COALESCE((nights-7)/(nights-7),0))) AS v, SUM(1-COALESCE((nights-7)/(nights-7),0)) AS n FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(amount*((nights+13)/90-(nights+12)/90)) AS v FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM((nights+13)/90-(nights+12)/90) AS n FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(ROUND(amount / 1000)) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(CAST((amount+200)/1000 AS INTEGER)) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(amount * 1) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(-amount) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(ABS(amount)) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(COALESCE(amount, 0)) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(IFNULL(amount, 0)) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT AVG(nights + 0) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT COUNT(nights - 7) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT SUM(1) FROM dataset', 'SELECT', 'exact-row-expression'],
  ['SELECT TOTAL(nights / 2) FROM dataset', 'SELECT', 'exact-row-expression'],
  ["SELECT SUM(CASE WHEN region = 'north' THEN amount * 2 END) FROM dataset", 'SELECT', 'exact-row-expression'],
  ["SELECT SUM(CASE WHEN region = 'north' THEN CAST(amount AS INTEGER) END) FROM dataset", 'SELECT', 'exact-row-expression'],
  // the weight split over two queries: a CASE on a measure
  ['SELECT SUM(CASE WHEN nights = 7 THEN amount END) AS v FROM dataset', 'SELECT', 'exact-condition-column'],
  ['SELECT COUNT(CASE WHEN nights = 7 THEN 1 END) AS n FROM dataset', 'SELECT', 'exact-condition-column'],
  ['SELECT SUM(CASE WHEN nights <> 7 THEN amount END) AS v FROM dataset', 'SELECT', 'exact-condition-column'],
  ["SELECT COUNT(CASE WHEN name = 'name-3' THEN 1 END) FROM dataset", 'SELECT', 'exact-condition-column'],
  ["SELECT COUNT(CASE WHEN amount IS NULL THEN 1 END) FROM dataset", 'SELECT', 'exact-condition-form'],
  ['SELECT COUNT(*) FROM dataset WHERE nights > 3', 'WHERE', 'exact-condition-column'],
  ['SELECT COUNT(*) FROM dataset WHERE nights + 0 = 7', 'WHERE', 'exact-condition-column'],
  ["SELECT COUNT(*) FROM dataset WHERE name = 'x'", 'WHERE', 'exact-condition-column'],
  // ranges, NULL tests, column against column, bare columns and literals as conditions
  ["SELECT COUNT(*) FROM dataset WHERE region || 'x' = 'northx'", 'WHERE', 'exact-condition-form'],
  ["SELECT COUNT(*) FROM dataset WHERE region > 'n'", 'WHERE', 'exact-range-condition'],
  ["SELECT COUNT(*) FROM dataset WHERE region BETWEEN 'east' AND 'south'", 'WHERE', 'exact-range-condition'],
  ['SELECT COUNT(*) FROM dataset WHERE region IS NULL', 'WHERE', 'exact-condition-form'],
  ['SELECT COUNT(*) FROM dataset WHERE region = channel', 'WHERE', 'exact-condition-form'],
  ['SELECT COUNT(*) FROM dataset WHERE region', 'WHERE', 'exact-condition-form'],
  ['SELECT COUNT(*) FROM dataset WHERE 1', 'WHERE', 'exact-condition-form'],
  // aggregate forms
  ['SELECT MIN(amount) FROM dataset', 'SELECT', 'privacy-order-statistic-needs-dp'],
  ['SELECT MAX(nights) AS m FROM dataset', 'SELECT', 'privacy-order-statistic-needs-dp'],
  // which values occur in a group is not a function of the cells it covers
  ['SELECT COUNT(DISTINCT amount) FROM dataset', 'SELECT', 'exact-aggregate-form'],
  ['SELECT COUNT(DISTINCT name) FROM dataset', 'SELECT', 'exact-aggregate-form'],
  ["SELECT channel, COUNT(DISTINCT region) AS r FROM dataset WHERE region = 'north' GROUP BY channel", 'SELECT', 'exact-aggregate-form'],
  ['SELECT COUNT(name) FROM dataset', 'SELECT', 'exact-aggregate-form'],
  ["SELECT COUNT(CASE WHEN region = 'north' THEN amount END) FROM dataset", 'SELECT', 'exact-aggregate-form'],
  ["SELECT COUNT(CASE WHEN region = 'north' THEN 2 END) FROM dataset", 'SELECT', 'exact-aggregate-form'],
  ["SELECT SUM(CASE WHEN region = 'north' THEN amount ELSE NULL END) FROM dataset", 'SELECT', 'case-form'],
  ['SELECT COUNT(*) FROM dataset', 'clamp', 'clamp-needs-dp'],
];

/** DP releases: ranges on text, unbounded or derived outputs, conditions that are not "column vs literal". */
const REFUSED_DP: Case[] = [
  ["SELECT COUNT(CASE WHEN name >= '138' THEN 1 END) FROM dataset", 'SELECT', 'dp-text-range'],
  ["SELECT COUNT(CASE WHEN name BETWEEN '1380' AND '1389' THEN 1 END) FROM dataset", 'SELECT', 'dp-text-range'],
  ["SELECT COUNT(*) FROM dataset WHERE region < 'south'", 'WHERE', 'dp-text-range'],
  ["SELECT COUNT(CASE WHEN nights > '3' THEN 1 END) FROM dataset", 'SELECT', 'dp-comparison-form'],
  ["SELECT COUNT(*) FROM dataset WHERE region || 'x' = 'northx'", 'WHERE', 'dp-comparison-form'],
  ["SELECT COUNT(CASE WHEN name || 'x' = 'ax' THEN 1 END) FROM dataset", 'SELECT', 'dp-comparison-form'],
  ['SELECT COUNT(CASE WHEN amount > nights THEN 1 END) FROM dataset', 'SELECT', 'dp-comparison-form'],
  ['SELECT COUNT(CASE WHEN amount + 1 > 3 THEN 1 END) FROM dataset', 'SELECT', 'dp-comparison-form'],
  ['SELECT COUNT(*) FROM dataset WHERE amount > 10', 'WHERE', 'aggregate-only-column'],
  ['SELECT SUM(amount) / COUNT(*) AS r FROM dataset', 'SELECT', 'privacy-unsupported-output'],
  ['SELECT ROUND(AVG(amount), 2) FROM dataset', 'SELECT', 'privacy-unsupported-output'],
  ['SELECT SUM(amount % 7) FROM dataset', 'SELECT', 'privacy-unsupported-output'],
  ['SELECT SUM(amount / (nights - 3)) FROM dataset', 'SELECT', 'privacy-unsupported-output'],
  ['SELECT SUM(amount*(1-COALESCE((nights-7)/(nights-7),0))) FROM dataset', 'SELECT', 'privacy-unsupported-output'],
  ['SELECT SUM(amount) FROM dataset', 'clamp', 'clamp-outside-schema'],
];

function refusedWith(q: string, mode: SqlMode, clause: string, rule: string, clamp?: Record<string, [number, number]>): void {
  const v = validateSql(q, schema, { mode, ...(clamp ? { clamp } : {}) });
  expect(v.ok, `${mode}: ${q}`).to.equal(false);
  if (v.ok) return;
  expect(v.errors.map((e) => `${e.clause}/${e.rule}`), `${mode}: ${q}`).to.include(`${clause}/${rule}`);
  for (const e of v.errors) expect(e.message.length).to.be.greaterThan(5);
}

const ACCEPTED_EXACT: string[] = [
  'SELECT COUNT(*) FROM dataset',
  'SELECT region, COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights FROM dataset GROUP BY region ORDER BY region',
  "SELECT region, channel, COUNT(*) FROM dataset WHERE region IN ('north', 'south') AND NOT channel = 'shop' GROUP BY region, channel",
  "SELECT COUNT(*) FROM dataset WHERE region NOT IN ('west') OR (channel != 'web' AND region <> 'east')",
  "SELECT SUM(CASE WHEN region = 'north' THEN amount END) AS north_total, AVG(CASE WHEN channel IN ('web') THEN nights END) AS web_nights FROM dataset",
  "SELECT channel, COUNT(CASE WHEN region = 'north' OR region = 'east' THEN 1 END) AS ne FROM dataset GROUP BY channel",
  'SELECT COUNT(amount), TOTAL(nights) FROM dataset',
  'SELECT ROUND(AVG(amount), 2), SUM(amount) / COUNT(*), -SUM(nights), ABS(SUM(amount)) * 100 FROM dataset',
  "select region, sum(amount) from dataset d where d.region <> 'west' group by region",
  "SELECT COUNT(*) FROM dataset WHERE 'north' = region",
];

const ACCEPTED_DP: string[] = [
  'SELECT region, COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights FROM dataset GROUP BY region',
  'SELECT MIN(amount), MAX(amount), TOTAL(nights) FROM dataset',
  'SELECT SUM(CASE WHEN nights > 3 THEN amount END) AS long_stay FROM dataset',
  "SELECT COUNT(CASE WHEN name = 'name-1' AND nights BETWEEN 1 AND 5 THEN 1 END) FROM dataset",
  "SELECT COUNT(CASE WHEN name IN ('a', 'b') OR name != 'c' OR amount IS NULL THEN 1 END) FROM dataset",
  'SELECT SUM(CAST((amount + 200) / 1000 AS INTEGER)) AS s, SUM(ABS(amount) * 2 + 1) AS t, SUM(COALESCE(amount, 0)) AS c FROM dataset',
  'SELECT COUNT(DISTINCT nights) FROM dataset',
  "SELECT channel, COUNT(DISTINCT name) AS names, COUNT(DISTINCT region) AS r FROM dataset WHERE region = 'north' GROUP BY channel",
];

describe('restricted SQL validator', () => {
  for (const [q, clause, rule] of REFUSED_BOTH) {
    it(`refuses in both modes (${rule}): ${q}`, () => {
      refusedWith(q, 'exact', clause, rule);
      refusedWith(q, 'dp', clause, rule);
    });
  }
  for (const [q, clause, rule] of REFUSED_EXACT) {
    it(`refuses in exact mode (${rule}): ${q}`, () => refusedWith(q, 'exact', clause, rule, rule === 'clamp-needs-dp' ? { amount: [0, 10] } : undefined));
  }
  for (const [q, clause, rule] of REFUSED_DP) {
    it(`refuses in DP mode (${rule}): ${q}`, () => refusedWith(q, 'dp', clause, rule, rule === 'clamp-outside-schema' ? { amount: [-500, 10] } : undefined));
  }

  it('refuses clamps on what is not a measure, and backwards clamps', () => {
    refusedWith('SELECT COUNT(*) FROM dataset', 'dp', 'clamp', 'clamp-outside-schema', { region: [0, 1] });
    refusedWith('SELECT COUNT(*) FROM dataset', 'dp', 'clamp', 'clamp-outside-schema', { nights: [10, 5] });
  });

  it('says what to do instead when a condition is on a measure', () => {
    const v = validateSql('SELECT SUM(CASE WHEN nights = 7 THEN amount END) FROM dataset', schema, { mode: 'exact' });
    if (v.ok) throw new Error('expected a refusal');
    expect(v.errors[0]!.message).to.match(/only under differential privacy/);
  });

  for (const [mode, list] of [['exact', ACCEPTED_EXACT], ['dp', ACCEPTED_DP]] as const) {
    for (const q of list) {
      it(`accepts in ${mode} mode: ${q}`, () => {
        const v = validateSql(q, schema, { mode });
        expect(v.ok, JSON.stringify(v)).to.equal(true);
        if (!v.ok) return;
        expect(v.mode).to.equal(mode);
        expect(v.hash).to.equal(sm3Hex(v.normalized));
        expect(validateSql(v.normalized, schema, { mode })).to.deep.equal(v); // the normalised text is itself valid and a fixpoint
      });
    }
  }

  it('the exact language is a subset of the DP language, except where outputs combine aggregates', () => {
    for (const q of ACCEPTED_EXACT) {
      const v = validateSql(q, schema, { mode: 'dp' });
      if (!v.ok) expect(v.errors.map((e) => e.rule)).to.deep.equal(v.errors.map(() => 'privacy-unsupported-output'));
    }
  });

  it('exact mode: outputs, bounds from the schema, and the rows read = the CASE condition only', () => {
    const v = validateSql("SELECT region, COUNT(*), SUM(amount) AS total, AVG(nights), SUM(CASE WHEN channel = 'web' THEN amount END), COUNT(amount) FROM dataset GROUP BY region", schema, { mode: 'exact' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    expect(v.outputs).to.deep.equal([
      { name: 'region', kind: 'dimension', column: 'region', bounds: null, scale: 0 },
      { name: 'count_all', kind: 'aggregate', aggregate: 'count', bounds: [0, 1], scale: 0 },
      { name: 'total', kind: 'aggregate', aggregate: 'sum', column: 'amount', bounds: [-100, 1000], scale: 2 },
      { name: 'mean_nights', kind: 'aggregate', aggregate: 'mean', column: 'nights', bounds: [0, 30], scale: 4 },
      { name: 'sum_amount', kind: 'aggregate', aggregate: 'sum', column: 'amount', bounds: [-100, 1000], scale: 2 },
      { name: 'count_amount', kind: 'aggregate', aggregate: 'count', column: 'amount', bounds: [0, 1], scale: 0 },
    ]);
    expect(v.columnsUsed).to.deep.equal(['amount', 'channel', 'nights', 'region']);
    expect(v.plan.groupBy).to.deep.equal(['region']);
    expect(v.plan.hidden).to.deep.equal([]);
    expect(v.plan.executed).to.contain('COUNT(DISTINCT "person_id") AS "__subjects"');
    // the rows each aggregate reads, as dimension predicates: no IS NOT NULL on a measure, never a value
    expect(v.plan.selection).to.deep.equal({ where: null, conditions: [null, null, null, { dim: 'channel', in: ['web'] }, null] });
    expect(exactReleaseSets(v.plan, ['north'])[3]).to.deep.equal({ and: [{ dim: 'region', in: ['north'] }, { dim: 'channel', in: ['web'] }] });
    expect(v.plan.executed).to.not.contain('MAX(MIN(');
  });

  it('DP mode: every aggregate argument is clamped in the executed SQL; a mean has TOTAL and COUNT parts over the same rows', () => {
    const v = validateSql(
      "SELECT region, SUM(CAST((amount + 20000) / 100000 AS INTEGER)) AS s, AVG(CASE WHEN channel = 'web' THEN amount END) AS m, MAX(nights) AS hi, COUNT(*) AS n FROM dataset GROUP BY region",
      schema,
      { mode: 'dp', clamp: { amount: [0, 500] } },
    );
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    expect(v.outputs.slice(1)).to.deep.equal([
      { name: 's', kind: 'aggregate', aggregate: 'sum', bounds: [0, 0], scale: 0 },
      { name: 'm', kind: 'aggregate', aggregate: 'mean', column: 'amount', bounds: [0, 500], scale: 4, parts: { sum: '__s1', count: '__c1' } },
      { name: 'hi', kind: 'aggregate', aggregate: 'max', column: 'nights', bounds: [0, 30], scale: 0 },
      { name: 'n', kind: 'aggregate', aggregate: 'count', bounds: [0, 1], scale: 0 },
    ]);
    expect(v.plan.hidden).to.deep.equal(['__s1', '__c1']);
    // sums run as TOTAL: SUM raises on integer overflow, an error that would be a yes/no answer about the rows
    expect(v.plan.executed).to.contain('TOTAL(MAX(MIN(CAST((MAX(MIN("amount", 500), 0) + 20000) / 100000 AS INTEGER), 0), 0)) AS "s"');
    expect(v.plan.executed).to.not.match(/\bSUM\(/);
    expect(v.plan.executed).to.contain(`TOTAL(MAX(MIN(CASE WHEN "channel" = 'web' THEN MAX(MIN("amount", 500), 0) END, 500), 0)) AS "__s1"`);
    expect(v.plan.executed).to.contain(`COUNT(MAX(MIN(CASE WHEN "channel" = 'web' THEN MAX(MIN("amount", 500), 0) END, 500), 0)) AS "__c1"`);
    expect(v.plan.executed).to.contain('MAX(MAX(MIN("nights", 30), 0)) AS "hi"');
    expect(v.plan.executed).to.not.contain('__subjects'); // a DP release has no k
    // the approved text is the buyer's query; the clamp is part of the computation, not of the text
    expect(v.normalized).to.not.contain('MIN(');
  });

  it('DP mode: the executed SQL keeps every aggregate within its bounds, whatever CAST, division or ROUND do (fast-check on SQLite)', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)');
      const ins = db.prepare('INSERT INTO dataset VALUES (?, ?, ?, ?, ?, ?, ?)');
      // values far outside the schema's bounds too: the clamp in the SQL must hold without the load-time clamp
      const amounts = [-1e7, -100, -0.5, 0, 0.49, 1, 99.99, 1000, 20000, 1e7];
      const nights = [-40, 0, 1, 7, 12, 30, 31, 1000];
      let r = 0;
      for (const a of amounts) for (const n of nights) ins.run(++r, `P${r}`, ['north', 'south'][r % 2], 'web', a, n, 'x');
      const leaf = fc.oneof(fc.constantFrom('amount', 'nights'), fc.integer({ min: -300, max: 300000 }).map(String), fc.constantFrom('0.5', '7', '100000'));
      const expr = fc.letrec<{ e: string }>((tie) => ({
        e: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          leaf,
          fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
          tie('e').map((a) => `CAST(${a} AS INTEGER)`),
          tie('e').map((a) => `ROUND(${a})`),
          tie('e').map((a) => `ABS(${a})`),
        ),
      })).e;
      let checked = 0;
      fc.assert(
        fc.property(expr, fc.constantFrom('SUM', 'MIN', 'MAX', 'AVG'), (e, agg) => {
          const q = `SELECT region, ${agg}(${e}) AS v FROM dataset GROUP BY region`;
          const v = validateSql(q, schema, { mode: 'dp' });
          if (!v.ok) return; // unbounded (division by a range with 0) or not a measure expression
          const [lo, hi] = v.outputs[1]!.bounds!;
          for (const row of db.prepare(v.plan.executed).all() as { v: number | null; __rows: number }[]) {
            if (row.v === null) continue;
            checked++;
            const eps = 1e-9 * Math.max(1, Math.abs(lo), Math.abs(hi)) * row.__rows;
            if (agg === 'SUM') expect(row.v, q).to.be.within(lo * row.__rows - eps, hi * row.__rows + eps);
            else expect(row.v, q).to.be.within(lo - eps, hi + eps);
          }
        }),
        { numRuns: 300 },
      );
      expect(checked).to.be.greaterThan(100);
      // the reported case: without the clamp, out-of-range rows make this sum 200, with bounds [0, 0]
      const v = validateSql('SELECT SUM(CAST((amount + 20000) / 100000 AS INTEGER)) AS v FROM dataset', schema, { mode: 'dp' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      expect(v.outputs[0]!.bounds).to.deep.equal([0, 0]);
      expect((db.prepare(v.normalized).get() as { v: number }).v).to.not.equal(0);
      expect((db.prepare(v.plan.executed).get() as { v: number }).v).to.equal(0);
    } finally {
      db.close();
    }
  });

  it('DP mode: a mean is the clamped sum over the rows its CASE selects divided by the count of THOSE rows', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)');
      const ins = db.prepare('INSERT INTO dataset VALUES (?, ?, ?, ?, ?, ?, ?)');
      for (let i = 1; i <= 40; i++) ins.run(i, `P${i}`, 'north', i % 4 === 0 ? 'web' : 'shop', i === 4 ? 5000 : i, 1, 'x');
      const v = validateSql("SELECT region, AVG(CASE WHEN channel = 'web' THEN amount END) AS m FROM dataset GROUP BY region", schema, { mode: 'dp' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      const row = db.prepare(v.plan.executed).get() as Record<string, number>;
      expect(row.__c0).to.equal(10); // the web rows, not the group's 40
      expect(row.__rows).to.equal(40);
      expect(row.__s0).to.equal(1000 + (8 + 12 + 16 + 20 + 24 + 28 + 32 + 36 + 40)); // 5000 clamped to 1000
      expect(row.m).to.be.closeTo(row.__s0! / row.__c0!, 1e-9);
    } finally {
      db.close();
    }
  });

  it('DP mode: the public domain is the cross product of the grouped dimensions, refused above 4,096 keys', () => {
    expect(dpDomain(schema, [])).to.deep.equal([[]]);
    expect(dpDomain(schema, ['channel', 'region'])).to.deep.equal([
      ['web', 'north'], ['web', 'south'], ['web', 'east'], ['web', 'west'],
      ['shop', 'north'], ['shop', 'south'], ['shop', 'east'], ['shop', 'west'],
    ]);
    const big = DatasetSchema.parse({
      sector: 'tourism',
      columns: [
        { name: 'a', type: 'category', role: 'dimension', level: 1, values: Array.from({ length: 100 }, (_, i) => `a${i}`) },
        { name: 'b', type: 'category', role: 'dimension', level: 1, values: Array.from({ length: 50 }, (_, i) => `b${i}`) },
        { name: 'x', type: 'int', role: 'measure', level: 1, bounds: [0, 10] },
      ],
    });
    expect(dpDomain(big, ['a']).length).to.equal(100);
    let type = '';
    try {
      dpDomain(big, ['a', 'b']);
    } catch (e) {
      type = isDomainError(e) ? e.type : 'other';
    }
    expect(type).to.equal('dp-domain-too-large');
    const q = 'SELECT a, b, SUM(x) FROM dataset GROUP BY a, b';
    const dp = validateSql(q, big, { mode: 'dp' });
    expect(dp.ok ? [] : dp.errors.map((e) => `${e.clause}/${e.rule}`)).to.deep.equal(['GROUP BY/dp-domain-too-large']);
    expect(validateSql(q, big, { mode: 'exact' }).ok).to.equal(true); // exact releases list the non-empty groups only
  });

  it('equivalent spellings normalise to the same text and hash; different queries do not', () => {
    const a = validateSql('select REGION, count(*) as n from DATASET group by region', schema, { mode: 'exact' });
    const b = validateSql('SELECT region,COUNT(*)   AS n FROM dataset GROUP BY REGION', schema, { mode: 'exact' });
    const c = validateSql('SELECT region, COUNT(*) AS m FROM dataset GROUP BY region', schema, { mode: 'exact' });
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected valid');
    expect(a.hash).to.equal(b.hash);
    expect(a.hash).to.not.equal(c.hash);
  });

  it('a parenthesised bare column is that column in both modes (same text and hash), and widens nothing', () => {
    const spellings: [string, string][] = [
      ['SELECT SUM((amount)) AS s FROM dataset', 'SELECT SUM(amount) AS s FROM dataset'],
      ['SELECT COUNT(((amount))) AS c FROM dataset', 'SELECT COUNT(amount) AS c FROM dataset'],
      ["SELECT (region), SUM(CASE WHEN (channel) = 'web' THEN (amount) END) AS s FROM dataset WHERE (region) IN ('north', 'south') GROUP BY (region)",
        "SELECT region, SUM(CASE WHEN channel = 'web' THEN amount END) AS s FROM dataset WHERE region IN ('north', 'south') GROUP BY region"],
    ];
    for (const mode of ['exact', 'dp'] as const) {
      for (const [paren, plain] of spellings) {
        const a = validateSql(paren, schema, { mode });
        const b = validateSql(plain, schema, { mode });
        if (!a.ok) throw new Error(`${mode}: ${paren}: ${JSON.stringify(a.errors)}`);
        if (!b.ok) throw new Error(`${mode}: ${plain}: ${JSON.stringify(b.errors)}`);
        expect(a.normalized).to.equal(b.normalized);
        expect(a.hash).to.equal(b.hash);
        expect(a.plan.executed).to.equal(b.plan.executed);
      }
    }
    // still refused in exact mode: row-level arithmetic and the identifier, parenthesised or not
    refusedWith('SELECT SUM((amount) * 2) AS s FROM dataset', 'exact', 'SELECT', 'exact-row-expression');
    refusedWith('SELECT SUM(-(amount)) AS s FROM dataset', 'exact', 'SELECT', 'exact-row-expression');
    refusedWith('SELECT COUNT(DISTINCT (person_id)) AS s FROM dataset', 'exact', 'SELECT', 'identifier-column');
    const rules = (q: string): string[] => {
      const v = validateSql(q, schema, { mode: 'exact' });
      return v.ok ? [] : v.errors.map((e) => `${e.clause}/${e.rule}`);
    };
    expect(rules('SELECT COUNT(*) AS n FROM dataset WHERE amount > 10')).to.not.deep.equal([]);
    expect(rules('SELECT COUNT(*) AS n FROM dataset WHERE (amount) > 10')).to.deep.equal(rules('SELECT COUNT(*) AS n FROM dataset WHERE amount > 10'));
  });

  it('never throws and never accepts a query that mentions the identifier (fast-check)', () => {
    const pieces = ['person_id', 'amount', 'region', 'name', 'nights', 'COUNT(', 'SUM(', 'MIN(', 'CASE WHEN ', ' THEN ', ' END', ')', ', ', ' = ', "'x'", "'north'", '1', ' FROM dataset', ' WHERE ', ' GROUP BY ', '*', ' AND ', ' || ', ' UNION SELECT ', ';', '--', '"person_id"', '(SELECT ', ' AS ', 'upper(', '\\', "\\'"];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 14 }), fc.constantFrom<SqlMode>('exact', 'dp'), (parts, mode) => {
        const q = 'SELECT ' + parts.join('');
        const v = validateSql(q, schema, { mode });
        if (v.ok) {
          expect(v.columnsUsed).to.not.include('person_id');
          expect(v.normalized.includes('person_id')).to.equal(false);
        }
      }),
      { numRuns: 400 },
    );
  });
});
