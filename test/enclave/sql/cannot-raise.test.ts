import { expect } from 'chai';
import fc from 'fast-check';
import initSqlJs, { type Database } from 'sql.js';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { schema } from './fixture.js';

/**
 * An SQLite error raised while the buyer's query runs over the rows is a yes/no answer about them (e.g.
 * SUM's "integer overflow" iff a set's sum × M passes 2^63, ABS of the most negative integer iff some row
 * equals a guess). The executed form of every accepted query must not raise on ANY data: checked here on
 * sql.js, the engine the sandbox runs, with extreme rows (INT64_MIN/MAX, 2^53 ± 1, ±1e308, -0.0) and random
 * expressions of the language, extreme literals included.
 */

const INT64_MIN = '-9223372036854775808';
const INT64_MAX = '9223372036854775807';
/** SQL literals for the rows: stored with their own storage class (the columns below have no affinity) */
const EXTREMES = [INT64_MIN, INT64_MAX, '9007199254740991', '9007199254740993', '-9007199254740993', '1e308', '-1e308', '-0.0', '0', '1', '-1', '30', '1000', '-100', '0.5', '4611686018427387904', '307445734561825860'];
/** literals a buyer may write (the parser reads them as numbers or bigints) */
const LITERALS = ['0', '1', '2', '7', '100', '0.5', '1e308', '9007199254740993', '4611686018427387904', '307445734561825860', '300000000000000000', INT64_MAX, '9223372036854775808', '1e18'];

describe('SQL: the executed form of an accepted query cannot raise an SQLite error (sql.js)', function () {
  this.timeout(60_000);
  let db: Database;

  before(async () => {
    const SQL = await initSqlJs();
    db = new SQL.Database();
    // no declared types: every value keeps the storage class of its literal, as adversarial as data can be
    db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id, region, channel, amount, nights, name)');
    let r = 0;
    const values: string[] = [];
    for (const a of EXTREMES) {
      for (const n of [INT64_MIN, INT64_MAX, '30', '0', '-0.0', '1e308', '9007199254740993', 'NULL']) {
        r++;
        values.push(`(${r}, 'P${r}', '${['north', 'south', 'east'][r % 3]}', '${r % 2 ? 'web' : 'shop'}', ${a}, ${n}, 'n${r % 5}')`);
      }
    }
    // many rows at the top of the bounds: a clamped integer sum of them can pass 2^63
    for (let i = 0; i < 40; i++) values.push(`(${++r}, 'Q${i}', 'west', 'web', 1000, 30, 'top')`);
    db.exec(`INSERT INTO dataset VALUES ${values.join(', ')}`);
  });
  after(() => db?.close());

  const run = (sql: string): void => {
    db.exec(sql);
  };

  const leaf = fc.oneof(fc.constantFrom('amount', 'nights'), fc.constantFrom(...LITERALS), fc.constantFrom(...LITERALS).map((x) => `-${x}`));
  const value = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc.tuple(tie('e'), fc.constantFrom('INTEGER', 'REAL', 'NUMERIC')).map(([a, t]) => `CAST(${a} AS ${t})`),
      tie('e').map((a) => `ROUND(${a})`),
      fc.tuple(tie('e'), fc.constantFrom('0', '2', '30', '-5', INT64_MAX)).map(([a, n]) => `ROUND(${a}, ${n})`),
      tie('e').map((a) => `ABS(${a})`),
      fc.tuple(tie('e'), tie('e')).map(([a, b]) => `COALESCE(${a}, ${b})`),
      fc.tuple(tie('e'), tie('e')).map(([a, b]) => `IFNULL(${a}, ${b})`),
    ),
  })).e;
  const condition = fc.oneof(
    fc.constantFrom("name = 'n1'", "name IN ('n1', 'n2')", 'amount IS NULL', "channel = 'web'"),
    fc.tuple(fc.constantFrom('amount', 'nights'), fc.constantFrom('<', '>', '<=', '>=', '=', '!='), fc.constantFrom(...LITERALS)).map(([c, op, x]) => `${c} ${op} ${x}`),
    fc.tuple(fc.constantFrom('amount', 'nights'), fc.constantFrom(...LITERALS)).map(([c, x]) => `${c} BETWEEN -${x} AND ${x}`),
  );
  const argument = fc.oneof(value, fc.tuple(condition, value).map(([c, v]) => `CASE WHEN ${c} THEN ${v} END`));
  const call = fc.tuple(fc.constantFrom('SUM', 'TOTAL', 'AVG', 'MIN', 'MAX', 'COUNT'), argument).map(([f, a]) => `${f}(${a})`);
  const where = fc.constantFrom('', " WHERE region = 'west'", " WHERE region IN ('north', 'south')", " WHERE NOT channel = 'shop'");
  const groupBy = fc.constantFrom('', 'region', 'channel');

  it('DP: random value expressions over extreme rows never raise (fast-check)', () => {
    let executed = 0;
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 3 }), where, groupBy, (calls, w, g) => {
        const q = `SELECT ${g ? `${g}, ` : ''}${calls.map((c, i) => `${c} AS v${i}`).join(', ')} FROM dataset${w}${g ? ` GROUP BY ${g}` : ''}`;
        const v = validateSql(q, schema, { mode: 'dp' });
        if (!v.ok) return;
        executed++;
        expect(() => run(v.plan.executed), `${q}\n→ ${v.plan.executed}`).to.not.throw();
      }),
      {
        numRuns: 400,
        // the two reported oracles, as written by the buyer: a bisection on an integer sum, and ABS(INT64_MIN)
        examples: [
          [['SUM(CAST(amount * 100 AS INTEGER) * 92233720368547758)'], " WHERE region = 'west'", ''],
          [[`SUM(CASE WHEN name = 'top' THEN ABS(CAST(amount * 100 AS INTEGER) - 100000 - ${INT64_MAX} - 1) END)`], '', ''],
          [['SUM(nights * 300000000000000000)'], '', 'region'],
        ],
      },
    );
    expect(executed, 'accepted queries executed').to.be.greaterThan(100);
  });

  it('DP: COUNT(DISTINCT …), MIN/MAX and means over extreme rows never raise', () => {
    for (const q of [
      'SELECT COUNT(DISTINCT nights) AS d, COUNT(DISTINCT name) AS n FROM dataset',
      `SELECT region, AVG(CASE WHEN nights > 1 THEN ABS(nights - ${INT64_MAX} - 1) END) AS a, MIN(ABS(amount)) AS lo, MAX(ABS(nights)) AS hi FROM dataset GROUP BY region`,
    ]) {
      const v = validateSql(q, schema, { mode: 'dp' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      expect(() => run(v.plan.executed), v.plan.executed).to.not.throw();
    }
  });

  it('exact: arithmetic and functions over aggregates never raise, whatever the literals (fast-check)', () => {
    // exact releases read in-bounds measures (the sealer and the load check them): the outputs' arithmetic
    // over the aggregates is what the buyer controls
    const agg = fc.constantFrom('COUNT(*)', 'SUM(nights)', 'AVG(nights)', 'COUNT(nights)', "SUM(CASE WHEN channel = 'web' THEN nights END)", "COUNT(CASE WHEN channel = 'web' THEN 1 END)");
    const out = fc.letrec<{ e: string }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        agg,
        agg,
        fc.constantFrom(...LITERALS),
        fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
        tie('e').map((a) => `ABS(${a})`),
        tie('e').map((a) => `ROUND(${a})`),
        tie('e').map((a) => `-${a}`),
      ),
    })).e;
    let executed = 0;
    fc.assert(
      fc.property(out, groupBy, (e, g) => {
        const q = `SELECT ${g ? `${g}, ` : ''}${e} AS v FROM dataset WHERE region != 'west' AND nights BETWEEN 0 AND 30${g ? ` GROUP BY ${g}` : ''}`;
        const v = validateSql(q.replace(' AND nights BETWEEN 0 AND 30', ''), schema, { mode: 'exact' });
        if (!v.ok) return;
        executed++;
        // the in-bounds rows only (a range on a measure is not exact SQL: added to the executed text here)
        const sql = v.plan.executed.replace(`WHERE "region" != 'west'`, `WHERE "region" != 'west' AND "nights" BETWEEN 0 AND 30 AND "nights" = CAST("nights" AS INTEGER)`);
        expect(sql, 'the row filter was added').to.contain('BETWEEN 0 AND 30');
        expect(() => run(sql), `${q}\n→ ${sql}`).to.not.throw();
      }),
      {
        numRuns: 300,
        // a count guessed through ABS(INT64_MIN) (raises iff some group has exactly c rows), here c = the count
        examples: [[`ABS(COUNT(*) - 3 - ${INT64_MAX} - 1)`, 'region'], [`ABS(COUNT(*) - COUNT(*) - ${INT64_MAX} - 1)`, 'region']],
      },
    );
    expect(executed, 'accepted queries executed').to.be.greaterThan(100);
  });

  it('the raising constructs really raise on sql.js as the buyer wrote them (what the executed form avoids)', () => {
    expect(() => run(`SELECT ABS(${INT64_MIN})`)).to.throw(/integer overflow/);
    expect(() => run(`SELECT SUM(x) FROM (SELECT ${INT64_MAX} AS x UNION ALL SELECT 1)`)).to.throw(/integer overflow/);
    // and the rest do not: % and / by zero are NULL, integer overflow in + - * falls back to REAL
    for (const q of [`SELECT ${INT64_MIN} % -1, ${INT64_MIN} / -1, 5 % 0, 5 / 0, ${INT64_MAX} * 2, ${INT64_MIN} - 1`, `SELECT TOTAL(x), AVG(x) FROM (SELECT ${INT64_MAX} AS x UNION ALL SELECT 1)`, `SELECT ROUND(1e308, ${INT64_MAX}), CAST(1e308 AS INTEGER), ABS(CAST(${INT64_MIN} AS REAL))`]) {
      expect(() => run(q), q).to.not.throw();
    }
  });

  for (const mode of ['exact', 'dp'] as SqlMode[]) {
    it(`${mode}: ABS reads its argument as REAL in the executed form; the approved text is as written`, () => {
      const q = mode === 'dp' ? 'SELECT SUM(ABS(amount)) AS s FROM dataset' : 'SELECT ABS(SUM(nights) - 3) AS s FROM dataset';
      const v = validateSql(q, schema, { mode });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      expect(v.plan.executed).to.match(/ABS\(CAST\(/);
      expect(v.normalized).to.not.contain('CAST');
    });
  }
});
