import { expect } from 'chai';
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  discreteGaussianMechanism,
  discreteGaussianPmf,
  discreteLaplaceMechanism,
  discreteLaplacePmf,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
} from '../../../enclave/privacy/mechanisms.js';
import { applyOutputGate } from '../../../enclave/privacy/gate.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { isDomainError } from '../../../contracts/errors.js';

/** Pearson chi-squared of samples against a pmf on the integers; bins with expected < 20 merge into two tails. */
function chiSquared(samples: Int32Array, pmf: (x: number) => number): { stat: number; df: number; critical: number } {
  const n = samples.length;
  let lo = 0;
  while (n * pmf(lo - 1) >= 20) lo--;
  let hi = 0;
  while (n * pmf(hi + 1) >= 20) hi++;
  const counts = new Float64Array(hi - lo + 3); // [left tail, lo..hi, right tail]
  for (const s of samples) counts[s < lo ? 0 : s > hi ? counts.length - 1 : s - lo + 1]! += 1;
  const expected = new Float64Array(counts.length);
  let inner = 0;
  for (let x = lo; x <= hi; x++) {
    expected[x - lo + 1] = n * pmf(x);
    inner += pmf(x);
  }
  // symmetric pmfs: split the outside mass evenly between the tails
  expected[0] = (n * (1 - inner)) / 2;
  expected[counts.length - 1] = (n * (1 - inner)) / 2;
  let stat = 0;
  for (let i = 0; i < counts.length; i++) stat += (counts[i]! - expected[i]!) ** 2 / expected[i]!;
  const df = counts.length - 1;
  const z = 3.719; // upper 1e-4 quantile of N(0,1): a false alarm once in 10,000 runs
  const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3; // Wilson–Hilferty
  return { stat, df, critical };
}

function draw(n: number, f: () => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = f();
  return out;
}

describe('DP noise: the samplers have the declared distributions (4·10⁵ samples)', function () {
  this.timeout(60_000);

  it('discrete Laplace from the mechanism (Δ = 5, ε = 0.5 → t = 10) passes chi-squared; one tenth the noise fails it', () => {
    const mech = discreteLaplaceMechanism(5, 0.5);
    expect(mech.scale).to.equal(10);
    const declared = (x: number) => discreteLaplacePmf(10, x);
    const good = chiSquared(draw(400_000, mech.sample), declared);
    expect(good.stat, JSON.stringify(good)).to.be.lessThan(good.critical);
    const weak = chiSquared(draw(200_000, () => sampleDiscreteLaplace(1)), declared); // the mutation
    expect(weak.stat, JSON.stringify(weak)).to.be.greaterThan(weak.critical * 100);
  });

  it('discrete Gaussian (σ = 10) passes chi-squared; one tenth the noise fails it', () => {
    const declared = (x: number) => discreteGaussianPmf(10, x);
    const good = chiSquared(draw(400_000, () => sampleDiscreteGaussian(10)), declared);
    expect(good.stat, JSON.stringify(good)).to.be.lessThan(good.critical);
    const weak = chiSquared(draw(200_000, () => sampleDiscreteGaussian(1)), declared);
    expect(weak.stat).to.be.greaterThan(weak.critical * 100);
  });

  it('the Gaussian mechanism is calibrated as declared and refuses parameters it cannot honour', () => {
    const m = discreteGaussianMechanism(1, 0.5, 1e-6);
    // σ² is rounded up onto a rational grid (relative step ≤ 2⁻²⁰): never below the formula, barely above it
    const sigma = Math.sqrt(2 * Math.log(1.25 / 1e-6)) / 0.5;
    expect(m.scale).to.be.at.least(sigma);
    expect(m.scale).to.be.closeTo(sigma, sigma * 2 ** -20);
    expect(() => discreteGaussianMechanism(1, 2, 1e-6)).to.throw(/epsilon ≤ 1/);
    expect(() => discreteLaplaceMechanism(1, 0)).to.throw(/epsilon/);
  });

  it('no source file under enclave/ uses Math.random (the grep can fail)', () => {
    const needle = ['Math', 'random'].join('.');
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ts|js|mjs|cjs)$/.test(name) && readFileSync(p, 'utf8').includes(needle)) hits.push(p);
      }
    };
    walk(join(process.cwd(), 'enclave'));
    expect(hits).to.deep.equal([]);
    expect(`const x = ${needle}();`.includes(needle)).to.equal(true);
  });
});

describe('DP: averaging attack (the same query 1,000 times)', () => {
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-avg-'));
    ledger = await PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
  });
  after(async () => {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the budget refuses long before the average pins the true count', async () => {
    const truth = 1234;
    const answers: number[] = [];
    let refusedAt = -1;
    for (let i = 0; i < 1000; i++) {
      try {
        const out = await applyOutputGate([{ key: [], rows: truth, subjects: truth, values: { n: truth } }], { minGroupSize: 10, dp: { epsilon: 0.1 } }, {
          bounds: { n: [0, 1] },
          outputs: { n: { kind: 'count' } },
          budget: { ledger, buyerOrgId: 'attacker', datasetId: 'ds', limitEpsilon: 1, chargeKey: `avg-${i}` },
        });
        answers.push(out.groups[0]!.values.n!);
      } catch (e) {
        expect(isDomainError(e) && e.type).to.equal('privacy-budget-exhausted');
        refusedAt = i;
        break;
      }
    }
    expect(refusedAt).to.equal(10);
    expect(answers).to.have.length(10);
    // after the allowed answers the average's 95% interval (discrete Laplace t = 10 → sd = √(2q)/(1−q))
    const q = Math.exp(-1 / 10);
    const sd = Math.sqrt(2 * q) / (1 - q);
    const halfWidth = (1.96 * sd) / Math.sqrt(answers.length);
    expect(halfWidth).to.be.greaterThan(8); // ±8 people, nowhere near ±0.5 (the exact count)
    // and the remaining 990 attempts were refused, not answered with fresh noise
    expect(await ledger.spent('attacker', 'ds')).to.deep.include({ epsilon: 1, charges: 10 });
  });
});
