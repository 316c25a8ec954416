import { expect } from 'chai';
import {
  bernoulliExp,
  discreteGaussianMechanism,
  discreteGaussianPmf,
  discreteGaussianSampler,
  discreteLaplaceHalfWidth95,
  discreteLaplaceMechanism,
  discreteLaplacePmf,
  discreteLaplaceSampler,
  epsilonRational,
  gaussianVariance,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
  type Rational,
} from '../../../enclave/privacy/mechanisms.js';
import { uniformBelow, uniformBelowBig } from '../../../enclave/privacy/random.js';
import { binByCdf, chiSquaredBins, discreteGaussianCdfLarge, discreteLaplaceCdf, draw } from './dp-stats.js';

const r = (num: bigint | number, den: bigint | number = 1n): Rational => ({ num: BigInt(num), den: BigInt(den) });

/** χ² of integer samples against a pmf, one bin per integer in [lo, hi] plus two tails (mass by complement). */
function pmfChiSquared(samples: Float64Array, pmf: (x: number) => number, lo: number, hi: number) {
  const bounds: number[] = [];
  for (let x = lo; x <= hi + 1; x++) bounds.push(x);
  const cdfAt = new Map<number, number>();
  let acc = 0;
  for (let x = lo; x <= hi; x++) {
    acc += pmf(x);
    cdfAt.set(x, acc);
  }
  const inner = acc;
  // symmetric pmfs: split the outside mass evenly between the tails
  const left = (1 - inner) / 2;
  const { counts, probs } = binByCdf(samples, bounds, (x) => (x < lo ? left : left + cdfAt.get(x)!));
  return chiSquaredBins(counts, probs);
}

describe('DP exact samplers: Bernoulli(exp(−γ)) from rational coins only (CKS Algorithm 1)', function () {
  this.timeout(20_000);
  const N = 200_000;
  const cases: Array<[string, Rational]> = [
    ['0', r(0)],
    ['1/3', r(1, 3)],
    ['1', r(1)],
    ['3/2', r(3, 2)],
    ['5/2', r(5, 2)],
    ['7', r(7)],
    ['(2⁷⁰+1)/2⁷⁰ (bigint coins)', r((1n << 70n) + 1n, 1n << 70n)],
    ['10¹⁸/(3·10¹⁸+7) (bigint coins)', r(10n ** 18n, 3n * 10n ** 18n + 7n)],
  ];
  for (const [label, gamma] of cases) {
    it(`γ = ${label}: the frequency of 1 matches exp(−γ) within 4.5 standard errors`, () => {
      const p = Math.exp(-Number(gamma.num) / Number(gamma.den));
      let ones = 0;
      for (let i = 0; i < N; i++) if (bernoulliExp(gamma)) ones++;
      if (gamma.num === 0n) {
        expect(ones).to.equal(N); // exp(0) = 1 exactly: never a 0
        return;
      }
      const se = Math.sqrt((p * (1 - p)) / N);
      expect(Math.abs(ones / N - p), `p̂ ${ones / N} vs ${p}`).to.be.lessThan(4.5 * se);
    });
  }

  it('γ < 0 is refused', () => {
    expect(() => bernoulliExp(r(-1, 2))).to.throw(RangeError);
  });
});

describe('DP exact samplers: uniform integers by rejection (no modulo bias)', function () {
  this.timeout(20_000);

  it('[0, 3·2³⁰), [0, 3·2⁴⁰) and [0, 10²⁰) are uniform over their thirds; [0, 6) over its values', () => {
    for (const n of [3 * 2 ** 30, 3 * 2 ** 40]) {
      const s = draw(60_000, () => Math.floor((uniformBelow(n) * 3) / n));
      const { counts, probs } = binByCdf(s, [1, 2], (x) => (x < 0 ? 0 : Math.min(1, (x + 1) / 3)));
      const c = chiSquaredBins(counts, probs);
      expect(c.stat, `n = ${n}: ${JSON.stringify({ counts, c })}`).to.be.lessThan(c.critical);
    }
    const big = 10n ** 20n;
    const s = draw(60_000, () => Number((uniformBelowBig(big) * 3n) / big));
    const { counts, probs } = binByCdf(s, [1, 2], (x) => (x < 0 ? 0 : Math.min(1, (x + 1) / 3)));
    const c = chiSquaredBins(counts, probs);
    expect(c.stat, JSON.stringify({ counts, c })).to.be.lessThan(c.critical);
    const six = draw(60_000, () => uniformBelow(6));
    const b6 = binByCdf(six, [1, 2, 3, 4, 5], (x) => (x < 0 ? 0 : Math.min(1, (x + 1) / 6)));
    const c6 = chiSquaredBins(b6.counts, b6.probs);
    expect(c6.stat).to.be.lessThan(c6.critical);
    expect(Math.max(...six)).to.equal(5);
  });

  it('a modulo-biased uniform fails the same test (the test can fail)', () => {
    // (32-bit word) mod (3·2³⁰) lands in the first third twice as often
    const n = 3 * 2 ** 30;
    const s = draw(60_000, () => Math.floor((((uniformBelow(2 ** 32) % n) * 3) / n)));
    const { counts, probs } = binByCdf(s, [1, 2], (x) => (x < 0 ? 0 : Math.min(1, (x + 1) / 3)));
    const c = chiSquaredBins(counts, probs);
    expect(c.stat).to.be.greaterThan(c.critical * 10);
  });
});

describe('DP exact samplers: the noise has exactly the declared law', function () {
  this.timeout(20_000);
  const N = 200_000;

  for (const [label, scale] of [
    ['t = 1', r(1)],
    ['t = 7/3', r(7, 3)],
    ['t = 1/2 (below one unit)', r(1, 2)],
    ['t = 25', r(25)],
  ] as Array<[string, Rational]>) {
    it(`discrete Laplace ${label}: χ² against the pmf passes`, () => {
      const t = Number(scale.num) / Number(scale.den);
      const s = draw(N, discreteLaplaceSampler(scale));
      const hw = Math.max(2, Math.ceil(t * 6));
      const c = pmfChiSquared(s, (x) => discreteLaplacePmf(t, x), -hw, hw);
      expect(c.stat, JSON.stringify(c)).to.be.lessThan(c.critical);
    });
  }

  for (const t of [10n ** 9n, 10n ** 15n, 10n ** 20n]) {
    it(`discrete Laplace t = ${t} (constant expected work, ${t > 2n ** 53n ? 'bigint' : 'number'} path): χ² over 20 quantile bins passes`, () => {
      const tn = Number(t);
      const start = process.hrtime.bigint();
      const s = draw(50_000, discreteLaplaceSampler(r(t)));
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      expect(ms, 'a loop of ~t steps would never finish').to.be.lessThan(5_000);
      const bounds: number[] = [];
      for (let i = 1; i < 20; i++) {
        // bin edges at the i/20 quantiles
        const p = i / 20;
        const q = Math.exp(-1 / tn);
        bounds.push(p < 0.5 ? Math.ceil(tn * Math.log(p * (1 + q))) : Math.ceil(-tn * Math.log((1 - p) * (1 + q))));
      }
      const { counts, probs } = binByCdf(s, bounds, (x) => discreteLaplaceCdf(tn, x));
      const c = chiSquaredBins(counts, probs);
      expect(c.stat, JSON.stringify({ counts, c })).to.be.lessThan(c.critical);
    });
  }

  for (const [label, sigma2] of [
    ['σ² = 1', r(1)],
    ['σ² = 49/4 (σ = 3.5)', r(49, 4)],
    ['σ² = 2/3', r(2, 3)],
  ] as Array<[string, Rational]>) {
    it(`discrete Gaussian ${label}: χ² against the pmf passes`, () => {
      const sigma = Math.sqrt(Number(sigma2.num) / Number(sigma2.den));
      const s = draw(N, discreteGaussianSampler(sigma2));
      const hw = Math.ceil(sigma * 6);
      const c = pmfChiSquared(s, (x) => discreteGaussianPmf(sigma, x), -hw, hw);
      expect(c.stat, JSON.stringify(c)).to.be.lessThan(c.critical);
    });
  }

  for (const sigma of [1e6, 1e9]) {
    it(`discrete Gaussian σ = ${sigma}: χ² over 24 bins of width σ/4 passes`, () => {
      const s = draw(50_000, discreteGaussianSampler(gaussianVariance(sigma * sigma)));
      const bounds: number[] = [];
      for (let i = -11; i <= 11; i++) bounds.push(Math.round((i * sigma) / 4));
      const { counts, probs } = binByCdf(s, bounds, (x) => discreteGaussianCdfLarge(sigma, x));
      const c = chiSquaredBins(counts, probs);
      expect(c.stat, JSON.stringify({ counts, c })).to.be.lessThan(c.critical);
    });
  }

  it('the float entry points agree with the rational ones (t = 10, σ = 4)', () => {
    const lap = pmfChiSquared(draw(N / 2, () => sampleDiscreteLaplace(10)), (x) => discreteLaplacePmf(10, x), -60, 60);
    expect(lap.stat, JSON.stringify(lap)).to.be.lessThan(lap.critical);
    const gau = pmfChiSquared(draw(N / 4, () => sampleDiscreteGaussian(4)), (x) => discreteGaussianPmf(4, x), -24, 24);
    expect(gau.stat, JSON.stringify(gau)).to.be.lessThan(gau.critical);
  });

  it('a sampler with the wrong law fails the same test (t = 25 against t = 22)', () => {
    const s = draw(N, discreteLaplaceSampler(r(22)));
    const c = pmfChiSquared(s, (x) => discreteLaplacePmf(25, x), -150, 150);
    expect(c.stat).to.be.greaterThan(c.critical * 2);
  });
});

describe('DP exact samplers: no floating point on the sampling path', () => {
  it('sampling works with Math.log, Math.exp, Math.pow, Math.sqrt, Math.expm1 and Math.random made to throw', () => {
    const laplace = discreteLaplaceMechanism(9e8, 0.000003);
    const gaussian = discreteGaussianMechanism(3, 0.5, 1e-6);
    const bigGaussian = discreteGaussianMechanism(9e8, 0.001, 1e-9);
    const names = ['log', 'exp', 'pow', 'sqrt', 'expm1', 'random', 'log2', 'log1p'] as const;
    const m = Math as unknown as Record<string, unknown>;
    const saved = names.map((n) => m[n]);
    let draws: number[] = [];
    try {
      for (const n of names) {
        m[n] = () => {
          throw new Error(`Math.${n} on the sampling path`);
        };
      }
      // building a Laplace mechanism needs no float either: the scale is an exact rational
      const laplaceSmall = discreteLaplaceMechanism(3, 0.1);
      draws = [
        ...laplace.sampleMany(200),
        ...laplaceSmall.sampleMany(200),
        ...gaussian.sampleMany(200),
        ...bigGaussian.sampleMany(200),
        ...draw(200, discreteLaplaceSampler(r(10n ** 20n, 3n))),
        ...draw(200, discreteGaussianSampler(r(10n ** 30n, 7n))),
      ];
    } finally {
      names.forEach((n, i) => (m[n] = saved[i]));
    }
    expect(draws).to.have.length(1200);
    expect(draws.every((x) => Number.isInteger(x))).to.equal(true);
    expect(new Set(draws.slice(0, 200)).size, 'Laplace t = 3·10¹⁴ draws are spread').to.be.greaterThan(190);
    expect(() => Math.log(2)).to.not.throw(); // restored
  });
});

describe('DP mechanisms: exact parameters', () => {
  it('ε is the ledger’s micro-ε exactly, and the Laplace scale is Δ/ε as an exact rational', () => {
    expect(epsilonRational(0.1)).to.deep.equal(r(1, 10));
    expect(epsilonRational(0.3)).to.deep.equal(r(3, 10));
    expect(epsilonRational(0.1 + 0.2)).to.deep.equal(r(3, 10));
    expect(epsilonRational(0.000001)).to.deep.equal(r(1, 1_000_000));
    const m = discreteLaplaceMechanism(9e8, 0.000003);
    expect(m.exact).to.deep.equal(r(3n * 10n ** 14n));
    expect(m.scale).to.equal(3e14);
    expect(discreteLaplaceMechanism(5, 0.5).exact).to.deep.equal(r(10));
    expect(discreteLaplaceMechanism(1, 0.333333).exact).to.deep.equal(r(1_000_000, 333_333));
  });

  it('an ε off the micro grid is rounded down (more noise), a fractional Δ up', () => {
    for (const eps of [0.1 / 3, 1e-7 / 3, 0.7 / 9]) {
      const e = epsilonRational(eps);
      expect(Number(e.num) / Number(e.den)).to.be.at.most(eps);
      expect(1 - Number(e.num) / Number(e.den) / eps).to.be.lessThan(1e-9);
    }
    expect(epsilonRational(0.1 / 3)).to.deep.equal(r(3_333_333_333, 10n ** 11n));
    expect(discreteLaplaceMechanism(2.5000000001, 1).exact).to.deep.equal(r(2_500_000_001, 1_000_000_000));
    expect(discreteLaplaceMechanism(1 / 3, 1).exact).to.deep.equal(r(1_666_666_667, 5_000_000_000));
    const z = discreteLaplaceMechanism(0, 1);
    expect(z.exact).to.deep.equal(r(1, 1_000_000));
  });

  it('the Gaussian σ² is rounded up, by at most 2⁻¹⁹ relative, and the mechanism refuses what it cannot honour', () => {
    for (const [d, e, dl] of [
      [1, 0.5, 1e-6],
      [3, 0.1, 1e-9],
      [9e8, 0.000001, 1e-6],
    ] as const) {
      const m = discreteGaussianMechanism(d, e, dl);
      const floatSigma2 = (d * d * 2 * Math.log(1.25 / dl)) / (e * e);
      const s2 = Number(m.exact.num) / Number(m.exact.den);
      expect(s2).to.be.at.least(floatSigma2);
      expect(s2 / floatSigma2 - 1).to.be.lessThan(2 ** -19);
      expect(m.scale).to.be.closeTo(Math.sqrt(floatSigma2), Math.sqrt(floatSigma2) * 2 ** -19);
    }
    expect(() => discreteGaussianMechanism(1, 2, 1e-6)).to.throw(/epsilon ≤ 1/);
    expect(() => discreteGaussianMechanism(1, 0.5, 0)).to.throw(/delta/);
    expect(() => discreteLaplaceMechanism(1, 0)).to.throw(/epsilon/);
    expect(() => discreteLaplaceMechanism(-1, 1)).to.throw(/sensitivity/);
  });

  it('the 95% half-width is the closed form of the cdf, instant for huge scales', () => {
    for (const t of [0.3, 1, 2.5, 10, 77]) {
      let mass = discreteLaplacePmf(t, 0);
      let w = 0;
      while (mass < 0.95) mass += 2 * discreteLaplacePmf(t, ++w);
      expect(discreteLaplaceHalfWidth95(t), `t = ${t}`).to.equal(w);
    }
    const w9 = discreteLaplaceHalfWidth95(1e9);
    expect(w9 / 1e9).to.be.closeTo(Math.log(20), 1e-6); // ≈ t·ln 20
  });
});
