import { DomainError } from '../../contracts/errors.js';
import { uniformOpen, bernoulli } from './random.js';

/**
 * Discrete noise mechanisms on the integers (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020). Values are fixed-point integers before noise, so the released
 * number is an integer on the output's grid and there is no floating-point Laplace porosity (Mironov 2012).
 * The geometric draws use inverse-CDF on a 53-bit CSPRNG uniform: the distribution differs from the ideal one
 * by less than 2⁻⁵⁰ per outcome, far below what the statistical test can see, and the output stays integral.
 */

/** Geometric on {0,1,2,…} with P(k) = (1−q)·q^k, q = exp(−1/t). */
function geometric(t: number): number {
  return Math.floor(-t * Math.log(uniformOpen()));
}

/**
 * Discrete Laplace with scale t (integer units): P(x) ∝ exp(−|x|/t). As the difference of two i.i.d.
 * geometrics it has exactly that law. Adding it to an integer query of L1 sensitivity Δ with t = Δ/ε is ε-DP.
 */
export function sampleDiscreteLaplace(t: number): number {
  if (!(t > 0) || !Number.isFinite(t)) throw new DomainError('privacy-invalid-parameter', `discrete Laplace scale must be > 0, got ${t}`);
  return geometric(t) - geometric(t);
}

/**
 * Discrete Gaussian N_Z(0, σ²): P(x) ∝ exp(−x²/2σ²). CKS Algorithm 3: propose from discrete Laplace with
 * t = ⌊σ⌋+1 and accept with probability exp(−(|Y| − σ²/t)² / 2σ²).
 */
export function sampleDiscreteGaussian(sigma: number): number {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new DomainError('privacy-invalid-parameter', `discrete Gaussian sigma must be > 0, got ${sigma}`);
  const t = Math.floor(sigma) + 1;
  const s2 = sigma * sigma;
  for (;;) {
    const y = sampleDiscreteLaplace(t);
    const d = Math.abs(y) - s2 / t;
    if (bernoulli(Math.exp(-(d * d) / (2 * s2)))) return y;
  }
}

/** The exact probability mass functions, for tests and for stating intervals in receipts. */
export function discreteLaplacePmf(t: number, x: number): number {
  const q = Math.exp(-1 / t);
  return ((1 - q) / (1 + q)) * Math.pow(q, Math.abs(x));
}

export function discreteGaussianPmf(sigma: number, x: number): number {
  // normaliser Σ exp(−k²/2σ²), summed until terms vanish
  let z = 1;
  for (let k = 1; ; k++) {
    const term = Math.exp(-(k * k) / (2 * sigma * sigma));
    z += 2 * term;
    if (term < 1e-18) break;
  }
  return Math.exp(-(x * x) / (2 * sigma * sigma)) / z;
}

/** Half-width of the central 95% interval of discrete Laplace noise with scale t. */
export function discreteLaplaceHalfWidth95(t: number): number {
  let mass = discreteLaplacePmf(t, 0);
  let w = 0;
  while (mass < 0.95) {
    w++;
    mass += 2 * discreteLaplacePmf(t, w);
  }
  return w;
}

/** A mechanism as a value: what noise it adds and what privacy it costs (OpenDP's "measurement"). */
export interface Mechanism {
  name: 'discrete-laplace' | 'discrete-gaussian';
  /** Noise parameter in integer (fixed-point) units: t for Laplace, σ for Gaussian. */
  scale: number;
  epsilon: number;
  delta: number;
  sample(): number;
}

/** ε-DP discrete Laplace for an integer query of L1 sensitivity Δ (integer units). */
export function discreteLaplaceMechanism(sensitivity: number, epsilon: number): Mechanism {
  checkEps(epsilon);
  const t = Math.max(sensitivity, 1e-9) / epsilon;
  return { name: 'discrete-laplace', scale: t, epsilon, delta: 0, sample: () => sampleDiscreteLaplace(t) };
}

/**
 * (ε, δ)-DP discrete Gaussian for an integer query of L2 sensitivity Δ: σ = Δ·√(2 ln(1.25/δ))/ε
 * (Dwork & Roth Thm A.1; CKS Thm 7 shows the discrete Gaussian is at least as private as the continuous one
 * at the same σ). The classic calibration needs ε ≤ 1, so larger ε are refused rather than mis-stated.
 */
export function discreteGaussianMechanism(sensitivity: number, epsilon: number, delta: number): Mechanism {
  checkEps(epsilon);
  if (!(delta > 0 && delta < 1)) throw new DomainError('privacy-invalid-parameter', `delta must be in (0, 1), got ${delta}`);
  if (epsilon > 1) throw new DomainError('privacy-invalid-parameter', `the Gaussian calibration used needs epsilon ≤ 1 per measurement, got ${epsilon}`);
  const sigma = (Math.max(sensitivity, 1e-9) * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
  return { name: 'discrete-gaussian', scale: sigma, epsilon, delta, sample: () => sampleDiscreteGaussian(sigma) };
}

function checkEps(epsilon: number): void {
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new DomainError('privacy-invalid-parameter', `epsilon must be > 0, got ${epsilon}`);
}
