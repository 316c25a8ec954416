import { expect } from 'chai';
import fc from 'fast-check';
import { dpDomain, validateSql } from '../../../query/validate.js';
import { runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { gateInput } from '../../../enclave/sql/run.js';
import { dpMeasurements } from '../../../enclave/privacy/gate.js';
import { gridValue } from '../../../enclave/privacy/grid-value.js';
import { newKeys, schema, sealRows } from '../../enclave/sql/fixture.js';

/**
 * DP per person, end to end before the noise: for random queries of the whole DP language — arithmetic, ABS,
 * ROUND, CAST, COALESCE, CASE on measures and attributes, SUM/TOTAL/AVG/MIN/MAX/COUNT and COUNT(DISTINCT) —
 * adding one person with more rows than the offer's cap (spread over groups, in any dataset position) moves
 * every measurement's vector over the public domain by at most the Δ its noise is calibrated to. The values are
 * the ones the gate noises: the real sandbox (row cap, executed clamp), the real gate input, grid and neutral
 * values. A hostile query that made one person's effect exceed Δ (a clamp skipped, a part over other rows,
 * a person's rows past the cap, a grid rounding not counted) would fail here.
 */
describe('security: one person moves every DP measurement by at most its calibrated Δ (random queries)', function () {
  this.timeout(300_000);
  const keys = newKeys();
  const M = 3; // the offer's rows per person

  const literal = fc.constantFrom('0', '1', '3', '0.5', '-1', '100', '0.001', '1000', '-7');
  const measure = fc.constantFrom('amount', 'nights');
  const expr = fc.letrec<{ e: string }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small' },
      measure,
      measure,
      literal,
      fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/'), tie('e')).map(([a, o, b]) => `(${a} ${o} ${b})`),
      tie('e').map((a) => `ABS(${a})`),
      tie('e').map((a) => `-(${a})`),
      tie('e').map((a) => `ROUND(${a})`),
      fc.tuple(tie('e'), fc.constantFrom('INTEGER', 'REAL')).map(([a, t]) => `CAST(${a} AS ${t})`),
      fc.tuple(tie('e'), tie('e')).map(([a, b]) => `COALESCE(${a}, ${b})`),
    ),
  })).e;
  const condition = fc.constantFrom("name = 'z'", "channel = 'web'", 'amount > 50', 'nights <= 10', "name IN ('z', 'a')", 'amount BETWEEN 0 AND 500', 'nights IS NULL', "NOT name = 'z'");
  const argument = fc.oneof(expr, fc.tuple(condition, expr).map(([c, e]) => `CASE WHEN ${c} THEN ${e} END`));
  const output = fc.oneof(
    fc.tuple(fc.constantFrom('SUM', 'TOTAL', 'AVG', 'MIN', 'MAX', 'COUNT'), argument).map(([f, a]) => `${f}(${a})`),
    fc.constant('COUNT(*)'),
    fc.constantFrom('name', 'nights', 'amount', 'channel').map((c) => `COUNT(DISTINCT ${c})`),
  );
  const where = fc.constantFrom('', " WHERE region = 'west'", " WHERE region IN ('north', 'south')");
  const groupBy = fc.constantFrom('', 'region', 'channel', 'region, channel');
  const row = (person: fc.Arbitrary<string>) =>
    fc.tuple(
      person,
      fc.constantFrom('north', 'south', 'east', 'west'),
      fc.constantFrom('web', 'shop'),
      fc.integer({ min: -10_000, max: 100_000 }).map((x) => x / 100),
      fc.option(fc.integer({ min: 0, max: 30 }), { freq: 6 }),
      fc.constantFrom('a', 'b', 'z'),
    );
  // the buyer's narrower bounds, sometimes
  const clamp = fc.option(fc.record({ amount: fc.constantFrom<[number, number]>([0, 100], [-50, 20], [10, 10]) }, { requiredKeys: [] }), { freq: 2 });
  // the others (some with several rows), and the person Z: 1–5 rows, placed anywhere among them
  const data = fc.tuple(
    fc.array(row(fc.constantFrom('P1', 'P2', 'P3', 'P4', 'P5', 'P6')), { maxLength: 12 }),
    fc.array(row(fc.constant('Z')), { minLength: 1, maxLength: 5 }),
    fc.array(fc.nat(), { maxLength: 5 }),
  );

  type Rows = (string | number | null)[][];
  /** Per measurement of `q`: how far adding `person` to `others` moves its grid vector, and its calibrated Δ. */
  async function moves(q: string, others: Rows, person: Rows, at: number[] = [], clamp?: Record<string, [number, number]>): Promise<{ name: string; kind: string; l1: number; delta: number }[] | undefined> {
    const v = validateSql(q, schema, { mode: 'dp', ...(clamp ? { clamp } : {}) });
    if (!v.ok) return undefined;
    const withPerson = [...others];
    person.forEach((r, i) => withPerson.splice(Math.min(withPerson.length, at[i] ?? withPerson.length), 0, r));
    const answer = async (rows: Rows) => {
      const out = await runSqlInSandbox({ schema, chunks: sealRows(rows, keys.publicKey, 4), unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], maxRowsPerPerson: M });
      return new Map(gateInput(v, out).groups.map((x) => [JSON.stringify(x.key), x] as const));
    };
    const [a, b] = [await answer(withPerson), await answer(others)];
    const { groups, bounds, specs } = gateInput(v, { columns: [], rows: [] });
    const { measurements } = dpMeasurements(groups, { minGroupSize: 1, dp: { epsilon: 1 }, maxRowsPerPerson: M }, { bounds, outputs: specs, hidden: v.plan.hidden });
    return measurements.map((x) => {
      let l1 = 0;
      for (const key of dpDomain(schema, v.plan.groupBy)) {
        const id = JSON.stringify(key);
        l1 += Math.abs(gridValue(x.kind, a.get(id)?.values[x.name], x.bounds, x.scale) - gridValue(x.kind, b.get(id)?.values[x.name], x.bounds, x.scale));
      }
      return { name: x.name, kind: x.kind, l1, delta: x.cal.gridSensitivity };
    });
  }

  it('boundary cases — the person at the bounds, in empty groups, off the grid — reach Δ and never pass it', async () => {
    const row = (id: string, region: string, amount: number, nights: number | null): Rows[number] => [id, region, 'web', amount, nights, 'a'];
    const three = ['north', 'south', 'east'];
    const cases: { q: string; others: Rows; person: Rows; reach: number }[] = [
      // MIN/MAX of groups only the person fills: each of the m groups moves by the whole range
      { q: 'SELECT region, MIN(amount) AS lo, MAX(amount) AS hi FROM dataset GROUP BY region', others: [row('P1', 'west', 5, 1)], person: three.map((r) => row('Z', r, -100, 1)), reach: 0.99 },
      // off the grid (x/7 at 4 decimals) in m groups, each rounding up: the grid slack is spent
      { q: 'SELECT region, SUM(nights / 7.0) AS s FROM dataset GROUP BY region', others: three.map((r, i) => row(`P${i}`, r, 1, 6)), person: three.map((r) => row('Z', r, 1, 30)), reach: 0.9999 },
      // m new distinct values, and two rows past the cap that would add two more
      { q: 'SELECT COUNT(DISTINCT nights) AS d, COUNT(*) AS n FROM dataset', others: [row('P1', 'west', 5, 1)], person: [20, 21, 22, 23, 24].map((n) => row('Z', 'north', 1, n)), reach: 1 },
      // a mean's parts: the person's capped rows at the top bound, over rows the CASE selects
      { q: "SELECT AVG(CASE WHEN name = 'a' THEN amount END) AS m FROM dataset", others: [row('P1', 'west', 5, 1)], person: [1, 2, 3, 4].map(() => row('Z', 'north', 1000, 1)), reach: 0.99 },
    ];
    for (const c of cases) {
      const got = (await moves(c.q, c.others, c.person))!;
      expect(got, c.q).to.not.equal(undefined);
      for (const x of got) expect(x.l1, `${c.q}: ${x.name} (${x.kind})`).to.be.at.most(x.delta);
      const most = Math.max(...got.map((x) => x.l1 / x.delta));
      expect(most, `${c.q}: the case reaches its Δ ${JSON.stringify(got)}`).to.be.at.least(c.reach);
    }
  });

  it(`adding a person with up to 5 rows (cap ${M}) stays within Δ for every measurement`, async () => {
    let checked = 0;
    let largest = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(output, { minLength: 1, maxLength: 3 }), where, groupBy, data, clamp, async (outs, w, g, [others, person, at], narrow) => {
        const q = `SELECT ${g ? `${g}, ` : ''}${outs.map((e, i) => `${e} AS v${i}`).join(', ')} FROM dataset${w}${g ? ` GROUP BY ${g}` : ''}`;
        const got = await moves(q, others, person, at, narrow ?? undefined);
        for (const x of got ?? []) {
          checked++;
          largest = Math.max(largest, x.l1 / x.delta);
          expect(x.l1, `${q} clamp ${JSON.stringify(narrow)}\n${x.name} (${x.kind}); the person's rows ${JSON.stringify(person)}`).to.be.at.most(x.delta);
        }
      }),
      { numRuns: Number(process.env.DP_SENSITIVITY_RUNS ?? 40) },
    );
    console.log(`      ${checked} measurements checked; the largest move was ${(largest * 100).toFixed(0)} % of its Δ`);
    expect(checked).to.be.greaterThan(20);
  });
});
