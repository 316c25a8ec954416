import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOutputGate, type GateContext, type GroupResult } from '../../../enclave/privacy/gate.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { discreteLaplacePmf } from '../../../enclave/privacy/mechanisms.js';
import { calibrate, discreteLaplaceHalfWidth95, meanHalfWidth95, planMeasurements } from '../../../contracts/privacy/calibration.js';
import { isDomainError } from '../../../contracts/errors.js';

const groups: GroupResult[] = [
  { key: ['north'], rows: 12, subjects: 3, values: { n: 12, total: 500 } },
  { key: ['south'], rows: 40, subjects: 40, values: { n: 40, total: 900 } },
  { key: ['west'], rows: 2, values: { n: 2, total: 10 } },
];

const typeOf = async (f: () => unknown): Promise<string | undefined> => {
  try {
    await f();
  } catch (e) {
    return isDomainError(e) ? e.type : String(e);
  }
  return undefined;
};
const rejection = async (f: () => unknown): Promise<Error> => {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
};

/** `n` empty keys: one call noises n values, a cheap sample of the noise distribution */
const emptyDomain = (n: number): string[][] => Array.from({ length: n }, (_, i) => [`k${i}`]);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const meanAbs = (xs: number[]): number => mean(xs.map(Math.abs));

describe('privacy gate: exact releases', () => {
  it('withholds groups below k on distinct identifiers; a withheld key appears nowhere in the outcome', async () => {
    const g = groups.slice(0, 2);
    const out = await applyOutputGate(g, { minGroupSize: 5 }, { bounds: {} });
    expect(out.privacy.basis).to.equal('subjects');
    expect(out.groups.map((x) => x.key)).to.deep.equal([['south']]); // north: 12 rows but only 3 people
    expect(out.groups[0]!.values).to.deep.equal({ n: 40, total: 900 });
    expect(out.privacy).to.include({ minGroupSize: 5, absentGroups: 'empty-or-withheld', mechanism: 'none', epsilonSpent: 0, epsilonRemaining: null });
    expect(out).to.not.have.property('suppressed');
    expect(out.privacy).to.not.have.property('suppressedGroups');
    expect(JSON.stringify(out)).to.not.include('north');
  });

  it('gives the withheld keys to beforeRelease only (for the differencing guard)', async () => {
    let seen: { released: string[][]; withheld: string[][] } | undefined;
    const out = await applyOutputGate([...groups, { key: ['east'], rows: 0, values: { n: 0, total: null } }], { minGroupSize: 3 }, {
      bounds: {},
      beforeRelease: (released, withheld) => (seen = { released: released.map((g) => g.key), withheld }),
    });
    expect(out.privacy.basis).to.equal('rows');
    expect(seen).to.deep.equal({ released: [['north'], ['south']], withheld: [['west'], ['east']] });
    expect(JSON.stringify(out)).to.not.match(/west|east/);
  });

  it('never releases hidden inputs', async () => {
    const out = await applyOutputGate([{ key: [], rows: 9, values: { avg: 2, _s: 18, _c: 9 } }], { minGroupSize: 1 }, { bounds: {}, hidden: ['_s', '_c'] });
    expect(out.groups[0]!.values).to.deep.equal({ avg: 2 });
  });

  it('refuses a malformed policy with a typed error', async () => {
    expect(await rejection(() => applyOutputGate(groups, { minGroupSize: 0 }, { bounds: {} }))).to.satisfy(isDomainError);
    expect((await rejection(() => applyOutputGate(groups, { minGroupSize: 2, dp: { epsilon: -1 } }, { bounds: {} }))).message).to.match(/policy/);
    expect(await typeOf(() => applyOutputGate(groups, { minGroupSize: 2, dp: { epsilon: 1 }, maxRowsPerPerson: 0 }, { bounds: {} }))).to.equal('privacy-invalid-policy');
  });
});

describe('privacy gate: DP releases', () => {
  const sumCtx = (extra: Partial<GateContext> = {}): GateContext => ({ bounds: { s: [0, 100] }, outputs: { s: { kind: 'sum', scale: 0 } }, ...extra });

  it('refuses DP on a value with no declared bounds', async () => {
    expect((await rejection(() => applyOutputGate(groups, { minGroupSize: 1, dp: { epsilon: 1 } }, { bounds: { n: [0, 1] }, domain: [['north'], ['south'], ['west']] }))).message).to.match(/no declared bounds/);
  });

  it('releases a NULL as its noised neutral value, never as NULL (SUM of no matching row)', async () => {
    const released: number[] = [];
    for (let i = 0; i < 40; i++) {
      const out = await applyOutputGate([{ key: [], rows: 5, values: { s: null } }], { minGroupSize: 10, dp: { epsilon: 1 } }, sumCtx());
      const v = out.groups[0]!.values.s;
      expect(v).to.be.a('number');
      released.push(v as number);
    }
    // the neutral value 0 plus noise of scale t = 100: a NULL looks like a sum of zero
    expect(new Set(released).size).to.be.greaterThan(5);
    expect(Math.abs(mean(released))).to.be.lessThan(100);
  });

  it('MIN of nothing is noised inside the bounds, not NULL', async () => {
    const out = await applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 1 } }, { bounds: { lo: [10, 20] }, outputs: { lo: { kind: 'min', scale: 0 } }, domain: emptyDomain(50) });
    for (const g of out.groups) expect(g.values.lo).to.be.within(10, 20);
  });

  it('releases every key of the public domain, in its order, whatever the data holds', async () => {
    const domain = [['a'], ['b'], ['c'], ['d']];
    const out = await applyOutputGate([{ key: ['c'], rows: 1, subjects: 1, values: { n: 1 } }, { key: ['zz'], rows: 50, values: { n: 50 } }], { minGroupSize: 10, dp: { epsilon: 1 } }, {
      bounds: { n: [0, 1] },
      outputs: { n: { kind: 'count' } },
      domain,
    });
    // a one-person group is released (no k-suppression under DP); a key outside the domain is not
    expect(out.groups.map((g) => g.key)).to.deep.equal(domain);
    for (const g of out.groups) expect(g.values.n).to.be.a('number').and.at.least(0);
    expect(out.groups.every((g) => g.rows === 0 && g.subjects === undefined)).to.equal(true);
    expect(out.privacy).to.include({ absentGroups: 'none', basis: 'none' });
  });

  it('empty keys are noised, not exact zeros', async () => {
    const out = await applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 1 } }, sumCtx({ domain: emptyDomain(200) }));
    const vs = out.groups.map((g) => g.values.s as number);
    expect(vs.filter((v) => v !== 0).length).to.be.greaterThan(150);
  });

  it('a grouped DP result without its domain is refused (the caller must pass it)', async () => {
    expect(await typeOf(() => applyOutputGate([{ key: ['a'], rows: 3, values: { s: 3 } }], { minGroupSize: 1, dp: { epsilon: 1 } }, sumCtx()))).to.equal('privacy-invalid-domain');
    expect(await typeOf(() => applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 1 } }, sumCtx({ domain: emptyDomain(4097) })))).to.equal('dp-domain-too-large');
  });

  it('a mean is noisy SUM / noisy COUNT of the rows it selects, from hidden parts never released', async () => {
    // 1000 rows in the group, but the mean's CASE selects 200 of them with mean 40
    const g: GroupResult = { key: [], rows: 1000, values: { m: 40, _s: 8000, _c: 200 } };
    const ctx: GateContext = { bounds: { m: [0, 50] }, outputs: { m: { kind: 'mean', scale: 2, parts: { sum: '_s', count: '_c' } } }, hidden: ['_s', '_c'] };
    const vals: number[] = [];
    for (let i = 0; i < 20; i++) {
      const out = await applyOutputGate([g], { minGroupSize: 1, dp: { epsilon: 20 } }, ctx);
      expect(Object.keys(out.groups[0]!.values)).to.deep.equal(['m']);
      vals.push(out.groups[0]!.values.m as number);
      expect(out.privacy.measurements).to.equal(2);
    }
    expect(mean(vals)).to.be.closeTo(40, 1); // v·rows / rows-noise would sit near 8 or 40 with the wrong count
    expect(await typeOf(() => applyOutputGate([g], { minGroupSize: 1, dp: { epsilon: 1 } }, { bounds: { m: [0, 50] }, outputs: { m: { kind: 'mean' } }, hidden: ['_s', '_c'] }))).to.equal('privacy-unsupported-output');
  });

  it('a released count shared as a mean part is measured once; ε is split over the measurements made', async () => {
    const ctx: GateContext = {
      bounds: { n: [0, 1], m: [0, 10] },
      outputs: { n: { kind: 'count' }, m: { kind: 'mean', scale: 2, parts: { sum: '_s', count: 'n' } } },
      hidden: ['_s'],
      domain: [['x'], ['y']],
    };
    const out = await applyOutputGate([{ key: ['y'], rows: 4, values: { n: 4, _s: 20 } }], { minGroupSize: 1, dp: { epsilon: 0.6 } }, ctx);
    expect(out.privacy.measurements).to.equal(2);
    const mech = out.privacy.steps.filter((s) => s.step === 'mechanism');
    expect(mech.map((s) => s.epsilon)).to.deep.equal([0.3, 0.3]);
    expect(mech.reduce((a, s) => a + s.epsilon, 0)).to.be.closeTo(0.6, 1e-12);
  });

  it('sensitivity is per person: Δ and the noise grow with maxRowsPerPerson', async () => {
    const run = (m: number) =>
      applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 1 }, maxRowsPerPerson: m }, { bounds: { n: [0, 1], s: [-30, 20] }, outputs: { n: { kind: 'count' }, s: { kind: 'sum' } }, domain: emptyDomain(1500) });
    const one = await run(1);
    const four = await run(4);
    expect(one.privacy.accuracy!.n!.sensitivity).to.equal(1);
    expect(four.privacy.accuracy!.n!.sensitivity).to.equal(4);
    expect(four.privacy.accuracy!.s!.sensitivity).to.equal(124); // m · max(|lo|, |hi|) + m grid units of rounding
    expect(four.privacy.maxRowsPerPerson).to.equal(4);
    // empirical: sums' noise (t = Δ/ε' with ε' = 0.5) scales by m
    const spread = (o: typeof one) => meanAbs(o.groups.map((g) => g.values.s as number));
    const ratio = spread(four) / spread(one);
    expect(ratio).to.be.within(3.2, 4.8);
  });

  it('accuracy fields are present for every output and match calibration.ts', async () => {
    const ctx: GateContext = {
      bounds: { n: [0, 1], s: [0, 100], m: [0, 100] },
      outputs: { n: { kind: 'count' }, s: { kind: 'sum', scale: 2 }, m: { kind: 'mean', scale: 4, parts: { sum: 's', count: 'n' } } },
      domain: [['a']],
    };
    const out = await applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 0.5 }, maxRowsPerPerson: 3 }, ctx);
    const acc = out.privacy.accuracy!;
    expect(Object.keys(acc).sort()).to.deep.equal(['m', 'n', 's']);
    const M = planMeasurements([
      { name: 'm', kind: 'mean', parts: { sum: 's', count: 'n' } },
      { name: 'n', kind: 'count' },
      { name: 's', kind: 'sum' },
    ]).length;
    expect(M).to.equal(2);
    const { gridScale: _a, gridSensitivity: _b, ...n } = calibrate({ kind: 'count', bounds: [0, 1], scale: 0, maxRowsPerPerson: 3, epsilon: 0.5, measurements: M });
    expect(acc.n).to.deep.equal(n);
    expect(acc.s).to.include({ mechanism: 'discrete-laplace', sensitivity: 300.03, noiseScale: 1200.12 }); // + m grid units of rounding
    expect(acc.s!.halfWidth95).to.be.a('number');
    expect(acc.m).to.include({ halfWidth95: null, sumHalfWidth: acc.s!.halfWidth95, countHalfWidth: acc.n!.halfWidth95 });
    expect(acc.m!.formula).to.match(/n/);
    expect(meanHalfWidth95(acc.m as never, [0, 100], 1e6)).to.be.lessThan(1);
  });

  it("the stated 95 % half-width covers about 95 % of the gate's draws", async () => {
    const out = await applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 0.5 } }, { bounds: { s: [0, 10] }, outputs: { s: { kind: 'sum' } }, domain: emptyDomain(4000) });
    const w = out.privacy.accuracy!.s!.halfWidth95!;
    const inside = out.groups.filter((g) => Math.abs(g.values.s as number) <= w).length / out.groups.length;
    expect(inside).to.be.within(0.93, 0.97);
  });

  it('Gaussian: δ > 0 uses the discrete Gaussian with σ from calibration.ts; 1.96σ rounded up', async () => {
    const out = await applyOutputGate([], { minGroupSize: 1, dp: { epsilon: 0.5, delta: 1e-6 }, maxRowsPerPerson: 2 }, { bounds: { n: [0, 1] }, outputs: { n: { kind: 'count' } }, domain: [['a']] });
    const a = out.privacy.accuracy!.n!;
    expect(a.mechanism).to.equal('discrete-gaussian');
    expect(a.noiseScale).to.be.closeTo((2 * Math.sqrt(2 * Math.log(1.25e6))) / 0.5, 1e-9);
    expect(a.halfWidth95).to.equal(Math.ceil(1.96 * a.noiseScale));
  });
});

describe('calibration: discrete Laplace half-width', () => {
  it('is the smallest w with P(|X| ≤ w) ≥ 0.95 under the exact pmf', async () => {
    for (const t of [0.3, 1, 2.5, 10, 77.7, 400]) {
      const w = discreteLaplaceHalfWidth95(t);
      let mass = discreteLaplacePmf(t, 0);
      for (let x = 1; x <= w; x++) mass += 2 * discreteLaplacePmf(t, x);
      expect(mass, `t ${t}`).to.be.at.least(0.95);
      expect(mass - 2 * discreteLaplacePmf(t, w), `t ${t}`).to.be.lessThan(0.95);
    }
  });
});

describe('privacy gate: DP + budget', () => {
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-gate-'));
    ledger = await PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctx = (chargeKey: string): GateContext => ({
    bounds: { n: [0, 1] as [number, number], total: [0, 100] as [number, number] },
    outputs: { n: { kind: 'count' as const } },
    domain: [['south']],
    budget: { ledger, buyerOrgId: 'buyer-1', datasetId: 'ds-1', limitEpsilon: 1, chargeKey },
  });

  it('charges ε before release, is idempotent by charge key, and refuses when spent', async () => {
    const a = await applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.4 } }, ctx('t1'));
    expect(a.privacy.mechanism).to.equal('discrete-laplace');
    expect(a.privacy.epsilonSpent).to.equal(0.4);
    expect(a.privacy.epsilonRemaining).to.equal(0.6);
    const again = await applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.4 } }, ctx('t1'));
    expect(again.groups).to.deep.equal(a.groups); // same noise, not fresh noise
    expect((await ledger.spent('buyer-1', 'ds-1')).epsilon).to.equal(0.4);
    await applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.6 } }, ctx('t2'));
    expect(await typeOf(() => applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.1 } }, ctx('t3')))).to.equal('privacy-budget-exhausted');
    expect(await ledger.spent('buyer-1', 'ds-1')).to.deep.include({ epsilon: 1, charges: 2 });
  });

  it('a release that fails before it is committed charges nothing', async () => {
    const failed = await rejection(() =>
      applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.5 } }, {
        ...ctx('t9'),
        beforeRelease: () => {
          throw new Error('worker died');
        },
      }),
    );
    expect(failed.message).to.equal('worker died');
    expect((await ledger.spent('buyer-1', 'ds-1')).epsilon).to.equal(0);
  });

  it('noised values are on the output grid and counts are never negative', async () => {
    const out = await applyOutputGate([{ key: [], rows: 3, values: { n: 3, total: 7 } }], { minGroupSize: 1, dp: { epsilon: 0.01 } }, { ...ctx('t4'), domain: [[]] });
    expect(Number.isInteger(out.groups[0]!.values.n)).to.equal(true);
    expect(out.groups[0]!.values.n).to.be.at.least(0);
  });
});

describe('privacy gate: invariants (fast-check)', () => {
  it('exact: released groups have ≥ k people, the rest are absent, values untouched', async () => {
    const fc = (await import('fast-check')).default;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.integer({ min: 0, max: 50 }), extra: fc.integer({ min: 0, max: 10 }), v: fc.integer({ min: -1000, max: 1000 }) }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        async (specs, k, withSubjects) => {
          const input: GroupResult[] = specs.map((s, i) => ({
            key: [`g${i}`],
            rows: s.rows + s.extra,
            ...(withSubjects ? { subjects: s.rows } : {}),
            values: { v: s.v },
          }));
          let withheld: string[][] = [];
          const out = await applyOutputGate(input, { minGroupSize: k }, { bounds: {}, beforeRelease: (_r, w) => (withheld = w) });
          const size = (g: GroupResult) => (withSubjects && input.length > 0 ? (g.subjects as number) : g.rows);
          expect(out.groups.every((g) => size(g) >= k)).to.equal(true);
          expect([...out.groups.map((g) => g.key[0]), ...withheld.map((s) => s[0])].sort()).to.deep.equal(input.map((g) => g.key[0]).sort());
          for (const w of withheld) expect(JSON.stringify(out)).to.not.include(`"${w[0]}"`);
          for (const g of out.groups) expect(g.values).to.deep.equal(input.find((x) => x.key[0] === g.key[0])!.values);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the ledger never lets spent ε exceed the limit, and retries never pay twice', async () => {
    const fc = (await import('fast-check')).default;
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-ledger-'));
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ eps: fc.integer({ min: 1, max: 40 }), key: fc.integer({ min: 0, max: 8 }) }), { maxLength: 40 }), async (ops) => {
          const ledger = await PrivacyBudgetLedger.open(join(dir, `l${run++}.sqlite`));
          try {
            const paid = new Map<number, number>();
            for (const op of ops) {
              const eps = op.eps / 100;
              try {
                await ledger.charge({ chargeKey: `k${op.key}`, buyerOrgId: 'b', datasetId: 'd', epsilon: paid.get(op.key) ?? eps, limitEpsilon: 1 }, () => ({ ok: true }));
                if (!paid.has(op.key)) paid.set(op.key, eps);
              } catch (e) {
                expect(isDomainError(e) && e.type).to.equal('privacy-budget-exhausted');
              }
            }
            const spent = await ledger.spent('b', 'd');
            expect(spent.epsilon).to.be.at.most(1);
            expect(spent.charges).to.equal(paid.size);
            expect(spent.epsilon).to.be.closeTo([...paid.values()].reduce((a, b) => a + b, 0), 1e-9);
          } finally {
            await ledger.close();
          }
        }),
        { numRuns: 30 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
