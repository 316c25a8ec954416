/** Statistics shared by the DP sampler tests (floats are fine here: they judge the samplers, never feed them). */

/** Upper quantile of χ²(df) at a normal quantile z (Wilson–Hilferty). */
export function chiSquaredCritical(df: number, z: number): number {
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

/** z = 3.719: upper 10⁻⁴ quantile of N(0,1); a correct sampler fails a test once in 10,000 runs. */
export const Z_1E4 = 3.719;

/**
 * Pearson χ² of observed counts against expected probabilities over bins that cover the whole line
 * (probabilities must sum to 1 up to float error). Bins with expected count < minExpected are merged
 * with their neighbour so the χ² approximation holds.
 */
export function chiSquaredBins(counts: number[], probs: number[], minExpected = 20): { stat: number; df: number; critical: number } {
  const n = counts.reduce((a, b) => a + b, 0);
  const c: number[] = [];
  const p: number[] = [];
  let accC = 0;
  let accP = 0;
  for (let i = 0; i < counts.length; i++) {
    accC += counts[i]!;
    accP += probs[i]!;
    if (n * accP >= minExpected) {
      c.push(accC);
      p.push(accP);
      accC = 0;
      accP = 0;
    }
  }
  if (accP > 0 || accC > 0) {
    c[c.length - 1]! += accC;
    p[p.length - 1]! += accP;
  }
  let stat = 0;
  for (let i = 0; i < c.length; i++) stat += (c[i]! - n * p[i]!) ** 2 / (n * p[i]!);
  const df = c.length - 1;
  return { stat, df, critical: chiSquaredCritical(df, Z_1E4) };
}

/**
 * Bins integer samples by the boundaries b₀ < b₁ < … (bin 0: x < b₀; bin i: b_{i−1} ≤ x < b_i; last: x ≥ b_last)
 * and returns counts with the probabilities from an exact cdf F(x) = P(X ≤ x).
 */
export function binByCdf(samples: ArrayLike<number>, bounds: number[], cdf: (x: number) => number): { counts: number[]; probs: number[] } {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i]!;
    let lo = 0;
    let hi = bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x < bounds[mid]!) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]!++;
  }
  const probs: number[] = [];
  let prev = 0;
  for (const b of bounds) {
    const F = cdf(b - 1);
    probs.push(F - prev);
    prev = F;
  }
  probs.push(1 - prev);
  return { counts, probs };
}

/** Wilson score interval for a binomial proportion. */
export function wilson(k: number, n: number, z: number): { lo: number; hi: number } {
  const p = k / n;
  const den = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / den;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/** Complementary error function, |relative error| < 1.2e−7 (Numerical Recipes' erfcc). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(X ≤ x) for the discrete Laplace with scale t: q^(−x)/(1+q) below 0, 1 − q^(x+1)/(1+q) from 0. */
export function discreteLaplaceCdf(t: number, x: number): number {
  const q = Math.exp(-1 / t);
  return x < 0 ? Math.exp(x / t) / (1 + q) : 1 - Math.exp(-(x + 1) / t) / (1 + q);
}

/** P(X ≤ x) for a discrete Gaussian of large σ (≥ 50): the normal cdf at x + ½, error far below the tests' noise. */
export function discreteGaussianCdfLarge(sigma: number, x: number): number {
  return 0.5 * erfc(-(x + 0.5) / (sigma * Math.SQRT2));
}

export function draw(n: number, f: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f();
  return out;
}
