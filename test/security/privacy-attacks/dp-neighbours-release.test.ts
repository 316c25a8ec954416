import { expect } from 'chai';
import { validateSql } from '../../../query/validate.js';
import { runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { gateInput } from '../../../enclave/sql/run.js';
import { applyOutputGate, dpMeasurements } from '../../../enclave/privacy/gate.js';
import { wilson } from '../../enclave/privacy/dp-stats.js';
import { newKeys, schema, sealRows } from '../../enclave/sql/fixture.js';

/**
 * (ε, δ)-DP per person on neighbouring datasets for what a DP SQL release outputs — an order statistic, a
 * mean (post-processed from two noisy parts of the same rows) and a distinct count — not only for the
 * samplers: D holds a person with five rows (the cap keeps three), D′ does not. The sandbox answers both once
 * (row cap, executed clamp); the real gate then noises each answer 4,096 times per release (a public domain of
 * that many keys holding the same answer: every key gets its own draw). For every output, a bucket o is
 * flagged when the Wilson lower bound (z = 5) of P[out(D) ∈ o] exceeds e^ε' times the upper bound of
 * P[out(D′) ∈ o], either way round, ε' being the share of the release's ε the output's measurements get.
 * A release calibrated for one row per person must be flagged (negative control), so the check can fail.
 */
describe('security: DP SQL outputs on neighbouring datasets stay within e^ε (one person, five rows, cap three)', function () {
  this.timeout(120_000);
  const keys = newKeys();
  const CAP = 3;
  const EPSILON = 2;
  const q = "SELECT MAX(CASE WHEN channel = 'web' THEN nights END) AS top, AVG(amount) AS mean, COUNT(DISTINCT nights) AS kinds FROM dataset";
  const checked = validateSql(q, schema, { mode: 'dp', clamp: { amount: [0, 200] } });
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const v = checked;

  type Rows = (string | number | null)[][];
  const others: Rows = Array.from({ length: 12 }, (_, i) => [`P${i}`, 'north', i % 2 ? 'web' : 'shop', 20 + i, i % 4, 'a']);
  // the person: nights the others never reach, the top amount, on the web
  const person: Rows = [30, 29, 28, 27, 26].map((n) => ['Z', 'south', 'web', 200, n, 'z']);
  const D = [...others.slice(0, 5), ...person, ...others.slice(5)];

  const answer = async (rows: Rows) => {
    const out = await runSqlInSandbox({ schema, chunks: sealRows(rows, keys.publicKey, 4), unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], maxRowsPerPerson: CAP });
    return gateInput(v, out);
  };

  /** n releases' outputs per output name, each release noising the answer on 4,096 keys. */
  async function outputs(rows: Rows, calibratedRows: number, releases: number): Promise<Record<string, Float64Array>> {
    const input = await answer(rows);
    const domain = Array.from({ length: 4096 }, (_, i) => [`k${i}`]);
    const groups = domain.map((key) => ({ key, rows: 0, values: { ...input.groups[0]!.values } }));
    const out: Record<string, number[]> = {};
    for (let r = 0; r < releases; r++) {
      const g = await applyOutputGate(groups, { minGroupSize: 1, dp: { epsilon: EPSILON }, maxRowsPerPerson: calibratedRows }, { bounds: input.bounds, outputs: input.specs, hidden: v.plan.hidden, domain });
      for (const x of g.groups) for (const [name, value] of Object.entries(x.values)) (out[name] ??= []).push(value as number);
    }
    return Object.fromEntries(Object.entries(out).map(([n, xs]) => [n, Float64Array.from(xs)]));
  }

  /** The share of the release's ε an output's measurements get (a mean: its sum and its count). */
  function shares(): Record<string, number> {
    const empty = gateInput(v, { columns: [], rows: [] });
    const { outputs: outs, measurements } = dpMeasurements([], { minGroupSize: 1, dp: { epsilon: EPSILON }, maxRowsPerPerson: CAP }, { bounds: empty.bounds, outputs: empty.specs, hidden: v.plan.hidden });
    const each = EPSILON / measurements.length;
    return Object.fromEntries(outs.map((o) => [o.name, o.parts ? each * (o.parts.sumSquares ? 3 : 2) : each]));
  }

  /** Buckets of width `width` where one side's frequency is, with confidence, above e^ε times the other's. */
  function flagged(a: Float64Array, b: Float64Array, epsilon: number, width: number): number {
    const hist = (xs: Float64Array): Map<number, number> => {
      const h = new Map<number, number>();
      for (const x of xs) h.set(Math.floor(x / width), (h.get(Math.floor(x / width)) ?? 0) + 1);
      return h;
    };
    const oneWay = (x: Float64Array, y: Float64Array): number => {
      const [hx, hy] = [hist(x), hist(y)];
      let bad = 0;
      for (const [bucket, cx] of hx) {
        if (cx >= 100 && wilson(cx, x.length, 5).lo > Math.exp(epsilon) * wilson(hy.get(bucket) ?? 0, y.length, 5).hi) bad++;
      }
      return bad;
    };
    return oneWay(a, b) + oneWay(b, a);
  }

  const WIDTH: Record<string, number> = { top: 2, mean: 5, kinds: 1 };

  it('the neighbours differ by the person’s capped rows, and every output stays within e^ε′', async () => {
    const [a, b] = [await answer(D), await answer(others)];
    const [va, vb] = [a.groups[0]!.values, b.groups[0]!.values];
    expect(va.kinds! - vb.kinds!, 'three new distinct nights: the cap kept three rows').to.equal(CAP);
    expect(va.top).to.equal(30);
    const eps = shares();
    const [oa, ob] = [await outputs(D, CAP, 50), await outputs(others, CAP, 50)];
    for (const name of ['top', 'mean', 'kinds']) {
      const bad = flagged(oa[name]!, ob[name]!, eps[name]!, WIDTH[name]!);
      console.log(`      ${name}: ε′ ${eps[name]}, ${oa[name]!.length} draws per side, ${bad} bucket(s) past e^ε′`);
      expect(bad, name).to.equal(0);
    }
  });

  it('NEGATIVE CONTROL: the same release calibrated for one row per person is flagged', async () => {
    const eps = shares();
    const [oa, ob] = [await outputs(D, 1, 50), await outputs(others, 1, 50)];
    const bad = ['mean', 'kinds'].map((name) => flagged(oa[name]!, ob[name]!, eps[name]!, WIDTH[name]!));
    console.log(`      calibrated for one row: mean ${bad[0]}, distinct count ${bad[1]} bucket(s) past e^ε′`);
    expect(bad[0], 'the mean').to.be.greaterThan(0);
    expect(bad[1], 'the distinct count').to.be.greaterThan(0);
  });
});
