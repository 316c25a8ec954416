import { expect } from 'chai';
import fc from 'fast-check';
import initSqlJs from 'sql.js';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { PartialMerge } from '../../../enclave/sandbox/partition-merge.js';
import { schema } from './fixture.js';

/**
 * Below the output gate: a checked query's partial forms run over random slices of random rows, merged
 * (PartitionPlan + PartialMerge), give what `executed` gives over all the rows in one database — exact and
 * DP plans alike (the DP result compared before noise). Amounts are multiples of 1/4, so every sum is exact
 * in any order and the results must be identical, not close.
 */
describe('SQL partitioned: merged slice partials equal the single database (sql.js, fast-check)', function () {
  this.timeout(60_000);
  let SQL: Awaited<ReturnType<typeof initSqlJs>>;
  before(async () => {
    SQL = await initSqlJs();
  });

  type Row = (string | number | null)[];
  const table = (rows: Row[]) => {
    const db = new SQL.Database();
    db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)');
    const ins = db.prepare('INSERT INTO dataset VALUES (?, ?, ?, ?, ?, ?, ?)');
    rows.forEach((r, i) => ins.run([i + 1, ...r]));
    ins.free();
    return db;
  };
  const sorted = (res: { columns: string[]; values: unknown[][] } | undefined) => ({
    columns: res?.columns ?? [],
    values: [...(res?.values ?? [])].map((r) => JSON.stringify(r)).sort(),
  });

  function compare(q: string, mode: SqlMode, rows: Row[], cuts: number[]): boolean {
    const v = validateSql(q, schema, { mode });
    if (!v.ok) return false;
    const p = v.plan.partition;
    expect(p, `${q}: decomposes`).to.not.equal(undefined);
    const whole = table(rows);
    const want = sorted(whole.exec(v.plan.executed)[0]);
    whole.close();
    const merge = new PartialMerge(p!);
    const bounds = [0, ...[...new Set(cuts.map((c) => c % (rows.length + 1)))].sort((a, b) => a - b), rows.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      if (bounds[i] === bounds[i + 1] && i > 0) continue;
      const db = table(rows.slice(bounds[i], bounds[i + 1]));
      merge.add(db.exec(p!.partial)[0], p!.subjects ? db.exec(p!.subjects)[0] : undefined);
      db.close();
    }
    const fin = new SQL.Database();
    const got = sorted(merge.finish(fin));
    fin.close();
    expect(got, `${q}\n→ ${p!.partial}\n→ ${p!.final}`).to.deep.equal(want);
    return true;
  }

  const row = fc.tuple(
    fc.option(fc.constantFrom('P1', 'P2', 'P3', 'P4', 'P5', 'P6'), { freq: 8 }),
    fc.constantFrom('north', 'south', 'east', 'west'),
    fc.constantFrom('web', 'shop'),
    fc.option(fc.integer({ min: -400, max: 4000 }).map((x) => x / 4), { freq: 6 }),
    fc.option(fc.integer({ min: 0, max: 30 }), { freq: 10 }),
    fc.constantFrom('n1', 'n2'),
  );
  const rows = fc.array(row, { minLength: 0, maxLength: 40 });
  const cuts = fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 5 });
  const where = fc.constantFrom('', " WHERE region = 'west'", " WHERE region IN ('north', 'south')", " WHERE NOT channel = 'shop'");
  const groupBy = fc.constantFrom('', 'region', 'channel', 'region, channel');
  const measure = fc.constantFrom('amount', 'nights');
  const cond = fc.constantFrom("channel = 'web'", "region IN ('east', 'west')", "NOT region = 'north'");
  const arg = fc.oneof(measure, fc.tuple(cond, measure).map(([c, m]) => `CASE WHEN ${c} THEN ${m} END`));

  it('exact mode: aggregates and arithmetic on them, with k counted on people (identical)', () => {
    const agg = fc.oneof(
      fc.constant('COUNT(*)'),
      fc.tuple(fc.constantFrom('SUM', 'AVG', 'COUNT', 'TOTAL'), arg).map(([f, a]) => `${f}(${a})`),
    );
    const out = fc.letrec<{ e: string }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        agg,
        agg,
        fc.constantFrom('2', '7', '0', '0.5'),
        fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '%'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
        tie('e').map((a) => `ROUND(${a}, 1)`),
        tie('e').map((a) => `ABS(${a})`),
      ),
    })).e;
    let ran = 0;
    fc.assert(
      fc.property(fc.array(out, { minLength: 1, maxLength: 3 }), where, groupBy, rows, cuts, (outs, w, g, rs, cs) => {
        const q = `SELECT ${g ? `${g}, ` : ''}${outs.map((e, i) => `${e} AS v${i}`).join(', ')} FROM dataset${w}${g ? ` GROUP BY ${g}` : ''}`;
        if (compare(q, 'exact', rs, cs)) ran++;
      }),
      { numRuns: 250 },
    );
    expect(ran, 'accepted queries compared').to.be.greaterThan(100);
  });

  it('DP mode: clamped TOTAL, COUNT, AVG (mean parts), MIN and MAX (identical before noise)', () => {
    const call = fc.tuple(fc.constantFrom('SUM', 'TOTAL', 'AVG', 'MIN', 'MAX', 'COUNT'), arg).map(([f, a]) => `${f}(${a})`);
    let ran = 0;
    fc.assert(
      fc.property(fc.array(call, { minLength: 1, maxLength: 4 }), where, groupBy, rows, cuts, (calls, w, g, rs, cs) => {
        const q = `SELECT ${g ? `${g}, ` : ''}${calls.map((c, i) => `${c} AS v${i}`).join(', ')} FROM dataset${w}${g ? ` GROUP BY ${g}` : ''}`;
        if (compare(q, 'dp', rs, cs)) ran++;
      }),
      { numRuns: 200 },
    );
    expect(ran, 'accepted queries compared').to.be.greaterThan(100);
  });

  it('a DP COUNT(DISTINCT …) does not decompose: the plan has no partition (one database)', () => {
    const v = validateSql('SELECT region, COUNT(DISTINCT nights) AS d FROM dataset GROUP BY region', schema, { mode: 'dp' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    expect(v.plan.partition).to.equal(undefined);
  });
});
