import { DomainError } from '../../contracts/errors.js';
import {
  MAX_SAFE,
  bernoulliRational,
  bernoulliRationalBig,
  randomBit,
  uniformBelow,
  uniformBelowBig,
} from './random.js';

/**
 * Discrete noise mechanisms on the integers, sampled exactly (Canonne, Kamath & Steinke, "The Discrete
 * Gaussian for Differential Privacy", NeurIPS 2020, Algorithms 1–3, in the shape OpenDP implements them).
 *
 * Every draw that decides the noise is integer arithmetic on CSPRNG bits: uniform integers by rejection and
 * Bernoulli trials with rational probabilities. Nothing on the sampling path calls Math.log, Math.exp or
 * rounds a probability, so the released distribution is exactly the declared one (no floating-point
 * porosity, Mironov 2012). Parameters are rationals: the Laplace scale Δ/ε exactly; the Gaussian σ² is the
 * one float step — computed once per mechanism from ln(1.25/δ) and rounded UP onto a fine grid, which only
 * adds noise. Numbers stay plain JS integers while they are below 2⁵³ and switch to bigint above.
 */

/** A non-negative rational num/den with den ≥ 1. */
export interface Rational {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

function reduce(num: bigint, den: bigint): Rational {
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

/** The exact value of a finite non-negative double as a rational (doubles are dyadic). */
export function exactRational(x: number): Rational {
  if (!(x >= 0) || !Number.isFinite(x)) throw new RangeError(`not a finite non-negative number: ${x}`);
  let k = 0;
  let y = x;
  while (!Number.isInteger(y)) {
    y *= 2; // exact: scaling a double by 2 only moves its exponent
    k++;
  }
  return reduce(BigInt(y), 1n << BigInt(k));
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

const MICRO = 1_000_000n;
const SIGNIFICANT = 10n ** 9n; // ten significant digits: a relative step of at most 10⁻⁹

/** x rounded onto ten significant decimal digits, down or up, exactly (x > 0). */
function roundSignificant(x: number, up: boolean): Rational {
  const r = exactRational(x);
  let p = 1n;
  while (r.num * p < SIGNIFICANT * r.den) p *= 10n;
  const scaled = r.num * p;
  return reduce(up ? ceilDiv(scaled, r.den) : scaled / r.den, p);
}

/**
 * ε as an exact rational. The ledger keeps micro-ε, so an ε that is a whole number of micro-units (up to the
 * double's own representation error) is read as exactly that; any other ε (an even split of a budget, say)
 * is rounded DOWN at its tenth significant digit, which only adds noise.
 */
export function epsilonRational(epsilon: number): Rational {
  checkEps(epsilon);
  const micro = Math.round(epsilon * 1e6);
  if (micro >= 1 && Math.abs(epsilon * 1e6 - micro) <= 4 * Number.EPSILON * micro) return reduce(BigInt(micro), MICRO);
  return roundSignificant(epsilon, false);
}

/**
 * Sensitivity as an exact rational: integers exactly, anything else rounded UP at its tenth significant digit;
 * a zero sensitivity is taken as 10⁻⁶ units so that every output still carries noise.
 */
export function sensitivityRational(sensitivity: number): Rational {
  if (!(sensitivity >= 0) || !Number.isFinite(sensitivity)) {
    throw new DomainError('privacy-invalid-parameter', `sensitivity must be a finite number ≥ 0, got ${sensitivity}`);
  }
  if (Number.isInteger(sensitivity) && sensitivity > 0) return { num: BigInt(sensitivity), den: 1n };
  if (sensitivity === 0) return { num: 1n, den: MICRO };
  return roundSignificant(sensitivity, true);
}

// ---------------------------------------------------------------------------------------------------------
// CKS Algorithm 1: Bernoulli(exp(−γ)) for rational γ ≥ 0 from Bernoulli(rational) draws only.
// For γ ∈ [0,1]: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until the first 0 at k = K; return K odd.
// For γ > 1: ⌊γ⌋ independent Bernoulli(exp(−1)) must all succeed, then Bernoulli(exp(−(γ − ⌊γ⌋))).

/** Bernoulli(exp(−p/q)) for safe integers 0 ≤ p ≤ q. */
function bernExpUnit(p: number, q: number): boolean {
  let k = 1;
  for (;;) {
    const qk = q * k;
    const a = qk <= MAX_SAFE ? bernoulliRational(p, qk) : bernoulliRationalBig(BigInt(p), BigInt(q) * BigInt(k));
    if (!a) return k % 2 === 1;
    k++;
  }
}

function bernExpUnitBig(p: bigint, q: bigint): boolean {
  let k = 1n;
  for (;;) {
    if (!bernoulliRationalBig(p, q * k)) return k % 2n === 1n;
    k++;
  }
}

/** Bernoulli(exp(−1)). */
function bernExp1(): boolean {
  return bernExpUnit(1, 1);
}

/** Bernoulli(exp(−p/q)) for safe integers p ≥ 0, q ≥ 1. */
function bernExp(p: number, q: number): boolean {
  while (p > q) {
    if (!bernExp1()) return false;
    p -= q;
  }
  return bernExpUnit(p, q);
}

function bernExpBig(p: bigint, q: bigint): boolean {
  while (p > q) {
    if (!bernExp1()) return false;
    p -= q;
  }
  return p <= BigInt(MAX_SAFE) && q <= BigInt(MAX_SAFE) ? bernExpUnit(Number(p), Number(q)) : bernExpUnitBig(p, q);
}

/** Exact Bernoulli(exp(−γ)) for a rational γ = num/den ≥ 0. */
export function bernoulliExp(gamma: Rational): boolean {
  if (gamma.num < 0n || gamma.den < 1n) throw new RangeError('bernoulliExp needs γ ≥ 0 with a positive denominator');
  return bernExpBig(gamma.num, gamma.den);
}

// ---------------------------------------------------------------------------------------------------------
// CKS Algorithm 2 (OpenDP's sample_geometric_exp_fast + sample_discrete_laplace): for scale s = n/d,
// a geometric with P(k) ∝ exp(−k·d/n) is ⌊(U + n·V)/d⌋ where U is uniform on [0, n) accepted with
// probability exp(−U/n) and V ~ Geometric(1 − e⁻¹). A fair sign and a rejected "−0" make it two-sided.
// Expected work is constant in n: no loop runs for ~n steps.

/** Geometric magnitude for scale n/d (safe integers), as a number when it fits, else as a bigint. */
function geometricFast(n: number, d: number): number | bigint {
  let u: number;
  do u = uniformBelow(n);
  while (!bernExp(u, n));
  let v = 0;
  while (bernExp1()) v++;
  const z = u + n * v;
  if (z <= MAX_SAFE) return d === 1 ? z : floorDiv(z, d);
  return (BigInt(u) + BigInt(n) * BigInt(v)) / BigInt(d);
}

function geometricFastBig(n: bigint, d: bigint): bigint {
  let u: bigint;
  do u = uniformBelowBig(n);
  while (!bernExpBig(u, n));
  let v = 0n;
  while (bernExp1()) v++;
  return (u + n * v) / d;
}

/** ⌊x/d⌋ for safe integers x ≥ 0, d ≥ 1: % on safe integers is exact, so is the division of x − x % d by d. */
function floorDiv(x: number, d: number): number {
  return (x - (x % d)) / d;
}

/** The exact two-sided draw: a number while it is a safe integer, else a bigint. */
function laplaceCore(num: bigint, den: bigint): () => number | bigint {
  const small = num <= BigInt(MAX_SAFE) && den <= BigInt(MAX_SAFE);
  const n = Number(num);
  const d = Number(den);
  return () => {
    for (;;) {
      const positive = randomBit();
      const m = small ? geometricFast(n, d) : geometricFastBig(num, den);
      if (m === 0 || m === 0n) {
        if (positive) return 0;
        continue; // "−0": rejected so that 0 is not counted twice
      }
      return positive ? m : -m;
    }
  };
}

function toNumber(x: number | bigint): number {
  // beyond 2⁵³ the exact draw is rounded to the nearest double: post-processing, so no privacy cost
  return typeof x === 'number' ? x : Number(x);
}

/** A sampler of the discrete Laplace with rational scale n/d: P(x) ∝ exp(−|x|·d/n). */
export function discreteLaplaceSampler(scale: Rational): () => number {
  const { num, den } = reduce(scale.num, scale.den);
  if (num <= 0n || den <= 0n) throw new DomainError('privacy-invalid-parameter', 'discrete Laplace scale must be > 0');
  const core = laplaceCore(num, den);
  return () => toNumber(core());
}

// ---------------------------------------------------------------------------------------------------------
// CKS Algorithm 3: propose Y from discrete Laplace with integer scale t = ⌊σ⌋ + 1 and accept with
// probability exp(−(|Y| − σ²/t)² / 2σ²). Writing σ²/t = a/b, the exponent is (b|Y| − a)² / (2·t·a·b).

/** ⌊√n⌋ by Newton's method on integers, starting above the root. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) / 2n;
    if (y >= x) return x;
    x = y;
  }
}

/** A sampler of the discrete Gaussian N_Z(0, σ²) for a rational σ² = num/den > 0. */
export function discreteGaussianSampler(sigma2: Rational): () => number {
  const { num, den } = reduce(sigma2.num, sigma2.den);
  if (num <= 0n || den <= 0n) throw new DomainError('privacy-invalid-parameter', 'discrete Gaussian variance must be > 0');
  const t = isqrt(num / den) + 1n;
  const { num: a, den: b } = reduce(num, den * t); // σ²/t
  const laplace = laplaceCore(t, 1n);
  const q = 2n * t * a * b;
  const safe = q <= BigInt(MAX_SAFE) && a <= 94_906_265n && b <= 94_906_265n;
  const [an, bn, qn] = [Number(a), Number(b), Number(q)];
  return () => {
    for (;;) {
      const y = laplace();
      if (typeof y === 'number') {
        const ay = Math.abs(y);
        if (safe && bn * ay + an <= 94_906_265) {
          // |b|Y| − a| ≤ 94,906,265 < √(2⁵³): its square is an exact safe integer
          const e = bn * ay - an;
          if (bernExp(e * e, qn)) return y;
          continue;
        }
      }
      const by = BigInt(y);
      const e = b * (by < 0n ? -by : by) - a;
      if (bernExpBig(e * e, q)) return toNumber(y);
    }
  };
}

// ---------------------------------------------------------------------------------------------------------
// The float-parameter entry points (kept for callers that hold a number).

/**
 * Discrete Laplace with scale t (integer units): P(x) ∝ exp(−|x|/t), sampled exactly for the exact rational
 * value of the double t. Adding it to an integer query of L1 sensitivity Δ with t = Δ/ε is ε-DP.
 */
export function sampleDiscreteLaplace(t: number): number {
  if (!(t > 0) || !Number.isFinite(t)) throw new DomainError('privacy-invalid-parameter', `discrete Laplace scale must be > 0, got ${t}`);
  if (t !== lastLaplace.t) lastLaplace = { t, sample: discreteLaplaceSampler(exactRational(t)) };
  return lastLaplace.sample();
}

// The float entry points keep the last sampler built, so a loop of draws at one scale builds it once.
let lastLaplace: { t: number; sample: () => number } = { t: NaN, sample: () => 0 };
let lastGaussian: { sigma: number; sample: () => number } = { sigma: NaN, sample: () => 0 };

/** Discrete Gaussian N_Z(0, σ²), with σ² rounded up onto the grid gaussianVariance uses. */
export function sampleDiscreteGaussian(sigma: number): number {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new DomainError('privacy-invalid-parameter', `discrete Gaussian sigma must be > 0, got ${sigma}`);
  if (sigma !== lastGaussian.sigma) lastGaussian = { sigma, sample: discreteGaussianSampler(gaussianVariance(sigma * sigma)) };
  return lastGaussian.sample();
}

/**
 * A float variance rounded UP to a rational σ² = t·a/b with t = ⌊σ⌋ + 1 and b a power of two giving a/b at
 * least 20 significant bits (relative step ≤ 2⁻²⁰), small enough that the acceptance test usually stays in
 * safe-integer arithmetic. This is calibration, done once; the sampling itself never touches a float.
 */
export function gaussianVariance(sigma2: number): Rational {
  if (!(sigma2 > 0) || !Number.isFinite(sigma2)) throw new DomainError('privacy-invalid-parameter', `variance must be > 0, got ${sigma2}`);
  const t = Math.floor(Math.sqrt(sigma2)) + 1;
  const c = sigma2 / t;
  let b = 1;
  while (c * b < 1 << 20) b *= 2;
  const a = Math.ceil(c * b);
  const ra = exactRational(a);
  const rc = exactRational(c);
  // guard the float step: a/b ≥ c exactly, and t·a/b ≥ sigma2 exactly
  let ab = ra.num;
  while (ab * rc.den < rc.num * BigInt(b)) ab++;
  const rs = exactRational(sigma2);
  while (BigInt(t) * ab * rs.den < rs.num * BigInt(b)) ab++;
  return reduce(BigInt(t) * ab, BigInt(b));
}

/** The probability mass functions, for tests and for stating intervals in receipts (floats: not sampling). */
export function discreteLaplacePmf(t: number, x: number): number {
  const q = Math.exp(-1 / t);
  const oneMinusQ = -Math.expm1(-1 / t);
  return (oneMinusQ / (1 + q)) * Math.pow(q, Math.abs(x));
}

export function discreteGaussianPmf(sigma: number, x: number): number {
  const s2 = sigma * sigma;
  let z: number;
  if (sigma > 20) {
    // Poisson summation: Σ exp(−k²/2σ²) = σ√(2π)(1 + 2Σ exp(−2π²σ²m²)); the correction is below 1e−3000 here
    z = sigma * Math.sqrt(2 * Math.PI);
  } else {
    z = 1;
    for (let k = 1; ; k++) {
      const term = Math.exp(-(k * k) / (2 * s2));
      z += 2 * term;
      if (term < 1e-18) break;
    }
  }
  return Math.exp(-(x * x) / (2 * s2)) / z;
}

/**
 * Half-width of the central 95% interval of discrete Laplace noise with scale t: the least w with
 * P(|X| ≤ w) = 1 − 2q^(w+1)/(1+q) ≥ 0.95, q = e^(−1/t). Closed form, so it costs nothing for large t.
 */
export function discreteLaplaceHalfWidth95(t: number): number {
  if (!(t > 0) || !Number.isFinite(t)) throw new DomainError('privacy-invalid-parameter', `discrete Laplace scale must be > 0, got ${t}`);
  const q = Math.exp(-1 / t);
  const covers = (w: number) => 1 - (2 * Math.pow(q, w + 1)) / (1 + q) >= 0.95;
  // q^(w+1) ≤ 0.025(1+q)  ⟺  w + 1 ≥ t·ln(1 / (0.025(1+q)))
  let w = Math.max(0, Math.ceil(t * Math.log(1 / (0.025 * (1 + q)))) - 1);
  while (w > 0 && covers(w - 1)) w--;
  while (!covers(w)) w++;
  return w;
}

/** A mechanism as a value: what noise it adds and what privacy it costs (OpenDP's "measurement"). */
export interface Mechanism {
  name: 'discrete-laplace' | 'discrete-gaussian';
  /** Noise parameter in integer (fixed-point) units: t for Laplace, σ for Gaussian (a float, for display). */
  scale: number;
  /** The exact parameter the sampler uses: the scale t for Laplace, the variance σ² for Gaussian. */
  exact: Rational;
  epsilon: number;
  delta: number;
  sample(): number;
  /** n independent draws. */
  sampleMany(n: number): number[];
}

function many(sample: () => number): (n: number) => number[] {
  return (n: number) => {
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = sample();
    return out;
  };
}

/** ε-DP discrete Laplace for an integer query of L1 sensitivity Δ (integer units): t = Δ/ε exactly. */
export function discreteLaplaceMechanism(sensitivity: number, epsilon: number): Mechanism {
  const e = epsilonRational(epsilon);
  const s = sensitivityRational(sensitivity);
  const exact = reduce(s.num * e.den, s.den * e.num);
  const sample = discreteLaplaceSampler(exact);
  return {
    name: 'discrete-laplace',
    scale: Number(exact.num) / Number(exact.den),
    exact,
    epsilon,
    delta: 0,
    sample,
    sampleMany: many(sample),
  };
}

/**
 * (ε, δ)-DP discrete Gaussian for an integer query of L2 sensitivity Δ: σ² = Δ²·2 ln(1.25/δ)/ε²
 * (Dwork & Roth Thm A.1; CKS Thm 7 shows the discrete Gaussian is at least as private as the continuous one
 * at the same σ). The classic calibration needs ε ≤ 1, so larger ε are refused rather than mis-stated.
 * σ² is the only float computation: it gets a 10⁻⁹ relative margin for the float error of the logarithm and
 * is then rounded up onto a rational grid (gaussianVariance); both only add noise.
 */
export function discreteGaussianMechanism(sensitivity: number, epsilon: number, delta: number): Mechanism {
  const e = epsilonRational(epsilon);
  if (!(delta > 0 && delta < 1)) throw new DomainError('privacy-invalid-parameter', `delta must be in (0, 1), got ${delta}`);
  if (epsilon > 1) throw new DomainError('privacy-invalid-parameter', `the Gaussian calibration used needs epsilon ≤ 1 per measurement, got ${epsilon}`);
  const s = sensitivityRational(sensitivity);
  const sens = Number(s.num) / Number(s.den);
  const eps = Number(e.num) / Number(e.den);
  const sigma2 = ((sens * sens * 2 * Math.log(1.25 / delta)) / (eps * eps)) * (1 + 1e-9);
  const exact = gaussianVariance(sigma2);
  const sample = discreteGaussianSampler(exact);
  return {
    name: 'discrete-gaussian',
    scale: Math.sqrt(Number(exact.num) / Number(exact.den)),
    exact,
    epsilon,
    delta,
    sample,
    sampleMany: many(sample),
  };
}

function checkEps(epsilon: number): void {
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new DomainError('privacy-invalid-parameter', `epsilon must be > 0, got ${epsilon}`);
}
