import { DomainError } from '../errors.js';

/**
 * Noise calibration of a differentially private release, per PERSON (all rows of one identifier).
 *
 * One pure function shared by the price quote (accuracy before purchase), the enclave's output gate (the noise
 * it draws) and the receipt (the accuracy it states), so the three always agree. Dependency-free on purpose.
 *
 * Privacy map of one measurement. Neighbouring datasets differ in one person, who contributes at most
 * m = maxRowsPerPerson rows (the enclave drops rows beyond m, or refuses when it cannot). Each row's value is
 * clamped to [lo, hi]. A measurement is the vector of one quantity over ALL released groups; the person's m rows
 * may fall in m different groups, so its L1 sensitivity over the whole vector is
 *   count: m · 1,   sum: m · max(|lo|, |hi|),   sum of squares: m · max(lo², hi²),
 *   min / max / median: m · (hi − lo) (one row moves one group's order statistic by at most the range),
 * and its L2 sensitivity is at most the same number (all m rows in one group is the worst case). Every group of
 * the vector gets i.i.d. noise with that Δ — no parallel composition over groups is claimed.
 *   discrete Laplace, t = Δ/ε'           → ε'-DP                (pure; δ = 0)
 *   discrete Gaussian, σ = Δ·√(2 ln(1.25/δ'))/ε', ε' ≤ 1 → (ε', δ')-DP (Canonne–Kamath–Steinke 2020, Thm 7)
 * A release of M measurements gives each ε' = ε/M and δ' = δ/M: by basic sequential composition the release is
 * (ε, δ)-DP. Means, variances and standard deviations are post-processing of noisy sums, sums of squares and
 * counts of the same rows (no extra cost). Values are noised on a fixed-point grid of `scale` decimals
 * (integers × 10^scale); each group's value is rounded onto that grid before noise, which can move each of the
 * ≤ m groups a person touches by one unit more, so the grid sensitivity is ⌈Δ·10^scale⌉ + m (⌈Δ⌉ for counts).
 */

/** The largest group-key domain a DP release covers: every key of the domain is released, noised, even empty ones. */
export const MAX_DP_DOMAIN = 4096;

export type OutputKind = 'count' | 'sum' | 'mean' | 'variance' | 'stddev' | 'min' | 'max' | 'median';
/** What one noise draw measures. */
export type MeasurementKind = 'count' | 'sum' | 'sumSquares' | 'min' | 'max' | 'median';
export type MechanismName = 'discrete-laplace' | 'discrete-gaussian';

export interface CalibrationInput {
  kind: OutputKind | 'sumSquares';
  /** inclusive bounds of ONE row's value after clamping (ignored for a count) */
  bounds: [number, number];
  /** decimal places of the grid the value is noised on */
  scale: number;
  /** rows one person may contribute (the offer's cap); default 1 */
  maxRowsPerPerson?: number;
  /** ε of the whole release */
  epsilon: number;
  /** δ of the whole release; absent or 0 = pure ε-DP (discrete Laplace) */
  delta?: number;
  /** how many measurements the release's ε (and δ) are split over; see planMeasurements */
  measurements: number;
  /** scale of the count and sum-of-squares parts of a mean/variance/stddev (defaults 0 and 2 × scale) */
  partScales?: { sum?: number; count?: number; sumSquares?: number };
}

export interface Calibration {
  kind: OutputKind | 'sumSquares';
  mechanism: MechanismName;
  /** ε and δ of each measurement (the release's ε/M, δ/M) */
  epsilon: number;
  delta: number;
  /** per-person L1 (and L2) sensitivity in the output's units; for a mean/variance/stddev: of its sum part */
  sensitivity: number;
  /** t (Laplace) or σ (Gaussian) in the output's units; for a mean/variance/stddev: of its sum part */
  noiseScale: number;
  /** half-width of the central 95 % interval of the noise, output units; null for a mean/variance/stddev */
  halfWidth95: number | null;
  /** mean/variance/stddev: the 95 % half-widths of the noisy parts it is computed from */
  sumHalfWidth?: number;
  countHalfWidth?: number;
  sumSquaresHalfWidth?: number;
  /** mean/variance/stddev: how the error depends on the group's size n */
  formula?: string;
  /** noise parameter on the integer grid (what the sampler is given), for the enclave's cross-check */
  gridScale: number;
  gridSensitivity: number;
}

const refuse = (message: string, detail: Record<string, unknown> = {}): DomainError => new DomainError('privacy-invalid-parameter', message, detail);

/** ⌈x⌉ that ignores floating-point dust just above an integer (0.1·3·10 = 3.0000000000000004 → 3). */
const ceilTol = (x: number): number => Math.ceil(x - 1e-9 * Math.max(1, Math.abs(x)));

/**
 * Smallest integer w with P(|X| ≤ w) ≥ 0.95 for discrete Laplace P(x) ∝ exp(−|x|/t):
 * P(|X| > w) = 2q^{w+1}/(1+q), q = e^{−1/t}, solved in closed form and checked against the exact tail.
 */
export function discreteLaplaceHalfWidth95(t: number): number {
  if (!(t > 0) || !Number.isFinite(t)) throw refuse(`discrete Laplace scale must be > 0, got ${t}`);
  // past 2^52 a double cannot step w by one: the search below would never end
  if (t > 2 ** 52) throw refuse(`the noise scale ${t} is too large: narrow the per-row bounds (clamp) or the literals in the query`);
  const q = Math.exp(-1 / t);
  const tail = (w: number): number => (2 * Math.exp(-(w + 1) / t)) / (1 + q);
  let w = Math.max(0, Math.ceil(-t * Math.log(0.025 * (1 + q))) - 1);
  while (w > 0 && tail(w - 1) <= 0.05) w--;
  while (tail(w) > 0.05) w++;
  return w;
}

/** ⌈1.96 σ⌉ on the grid: the continuous Gaussian's 95 % half-width, rounded up to the grid. */
export function discreteGaussianHalfWidth95(sigma: number): number {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw refuse(`discrete Gaussian sigma must be > 0, got ${sigma}`);
  return Math.ceil(1.96 * sigma);
}

/** Per-person sensitivity, in the output's units, of one measurement. */
export function personSensitivity(kind: MeasurementKind, [lo, hi]: [number, number], m: number): number {
  switch (kind) {
    case 'count':
      return m;
    case 'sum':
      return m * Math.max(Math.abs(lo), Math.abs(hi));
    case 'sumSquares':
      return m * Math.max(lo * lo, hi * hi);
    default:
      return m * (hi - lo);
  }
}

function checkInput(c: CalibrationInput): { m: number; eps: number; delta: number } {
  const m = c.maxRowsPerPerson ?? 1;
  if (!Number.isInteger(m) || m < 1) throw refuse(`maxRowsPerPerson must be an integer ≥ 1, got ${m}`);
  if (!(c.epsilon > 0) || !Number.isFinite(c.epsilon)) throw refuse(`epsilon must be > 0, got ${c.epsilon}`);
  if (!Number.isInteger(c.measurements) || c.measurements < 1) throw refuse(`measurements must be an integer ≥ 1, got ${c.measurements}`);
  const delta = c.delta ?? 0;
  if (!(delta >= 0 && delta < 1)) throw refuse(`delta must be in [0, 1), got ${delta}`);
  if (!Number.isInteger(c.scale) || c.scale < 0 || c.scale > 12) throw refuse(`scale must be an integer in [0, 12], got ${c.scale}`);
  const [lo, hi] = c.bounds;
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) throw refuse(`bounds must be finite with lo ≤ hi, got [${lo}, ${hi}]`);
  const eps = c.epsilon / c.measurements;
  if (delta > 0 && eps > 1) {
    throw refuse(`the Gaussian calibration used needs epsilon ≤ 1 per measurement, got ${eps}`, { epsilon: c.epsilon, measurements: c.measurements });
  }
  return { m, eps, delta: delta / c.measurements };
}

function measurement(kind: MeasurementKind, bounds: [number, number], scale: number, m: number, eps: number, delta: number): Calibration {
  const unit = 10 ** scale;
  const sensitivity = personSensitivity(kind, bounds, m);
  // A released value is rounded onto the grid once per group, and a row's value (an expression under DP) need not
  // lie on the grid: rounding can move each of the ≤ m groups a person touches by one more unit. Counts are
  // integers already. A zero range still gets one grid unit of noise: nothing is released exactly.
  const roundingSlack = kind === 'count' ? 0 : m;
  const gridSensitivity = Math.max(1, ceilTol(sensitivity * unit) + roundingSlack);
  const gaussian = delta > 0;
  const gridScale = gaussian ? (gridSensitivity * Math.sqrt(2 * Math.log(1.25 / delta))) / eps : gridSensitivity / eps;
  const half = gaussian ? discreteGaussianHalfWidth95(gridScale) : discreteLaplaceHalfWidth95(gridScale);
  return {
    kind,
    mechanism: gaussian ? 'discrete-gaussian' : 'discrete-laplace',
    epsilon: eps,
    delta,
    sensitivity: gridSensitivity / unit,
    noiseScale: gridScale / unit,
    halfWidth95: half / unit,
    gridScale,
    gridSensitivity,
  };
}

/**
 * Calibrate one released output. count/sum/min/max/median (and a sum of squares) are one measurement each;
 * a mean is noisy sum / noisy count, a variance or standard deviation comes from noisy sum, sum of squares and
 * count — their half-widths depend on the group's size n, so they are given per part with a formula.
 */
export function calibrate(c: CalibrationInput): Calibration {
  const { m, eps, delta } = checkInput(c);
  const kind = c.kind;
  if (kind !== 'mean' && kind !== 'variance' && kind !== 'stddev') return measurement(kind, c.bounds, c.scale, m, eps, delta);
  const sum = measurement('sum', c.bounds, c.partScales?.sum ?? c.scale, m, eps, delta);
  const count = measurement('count', [0, 1], c.partScales?.count ?? 0, m, eps, delta);
  const B = Math.max(Math.abs(c.bounds[0]), Math.abs(c.bounds[1]));
  const base = {
    kind,
    mechanism: sum.mechanism,
    epsilon: eps,
    delta,
    sensitivity: sum.sensitivity,
    noiseScale: sum.noiseScale,
    halfWidth95: null,
    sumHalfWidth: sum.halfWidth95!,
    countHalfWidth: count.halfWidth95!,
    gridScale: sum.gridScale,
    gridSensitivity: sum.gridSensitivity,
  };
  if (kind === 'mean') {
    return {
      ...base,
      formula: `for a group of n rows: |error| ≤ (sumHalfWidth + ${B}·countHalfWidth) / (n − countHalfWidth) when both noises lie in their 95 % intervals (probability ≥ 0.9025); ≈ sumHalfWidth / n for large n`,
    };
  }
  const sq = measurement('sumSquares', c.bounds, c.partScales?.sumSquares ?? 2 * (c.partScales?.sum ?? c.scale), m, eps, delta);
  return {
    ...base,
    sumSquaresHalfWidth: sq.halfWidth95!,
    formula:
      kind === 'variance'
        ? 'for a group of n rows with mean μ and variance v: |error| ≈ (sumSquaresHalfWidth + 2|μ|·sumHalfWidth + |μ² − v|·countHalfWidth) / (n − 1) (first order, 95 % per part)'
        : 'for a group of n rows with mean μ and standard deviation s: |error| ≈ (sumSquaresHalfWidth + 2|μ|·sumHalfWidth + |μ² − s²|·countHalfWidth) / (2 s (n − 1)) (first order, 95 % per part)',
  };
}

/** The mean's 95 % half-width bound for a group of n rows (Infinity while n ≤ countHalfWidth). */
export function meanHalfWidth95(c: Calibration, bounds: [number, number], n: number): number {
  if (c.sumHalfWidth === undefined || c.countHalfWidth === undefined) throw refuse('not a mean calibration');
  const B = Math.max(Math.abs(bounds[0]), Math.abs(bounds[1]));
  if (n <= c.countHalfWidth) return Infinity;
  return (c.sumHalfWidth + B * c.countHalfWidth) / (n - c.countHalfWidth);
}

export interface PlannedOutput {
  name: string;
  kind: OutputKind;
  /** names of the hidden (or released) values a mean/variance/stddev is computed from */
  parts?: { sum: string; count: string; sumSquares?: string };
}

export interface PlannedMeasurement {
  name: string;
  kind: MeasurementKind;
  /** the released output whose bounds and scale the measurement takes */
  of: string;
}

/**
 * The measurements a release makes: one per count/sum/min/max/median output, plus the parts of each
 * mean/variance/stddev — a part shared by several outputs (or equal to a released count or sum) is measured
 * once. ε is split evenly over exactly these. Without parts, a mean/variance/stddev counts as 2/3 measurements
 * of its own (the quote's view of an HE metric, whose parts the enclave names itself).
 */
export function planMeasurements(outputs: PlannedOutput[]): PlannedMeasurement[] {
  const out = new Map<string, PlannedMeasurement>();
  const add = (name: string, kind: MeasurementKind, of: string): void => {
    const prior = out.get(name);
    if (prior && prior.kind !== kind) throw new DomainError('privacy-unsupported-output', `value "${name}" is used both as a ${prior.kind} and as a ${kind}`, { output: name });
    if (!prior) out.set(name, { name, kind, of });
  };
  for (const o of outputs) {
    if (o.kind === 'mean' || o.kind === 'variance' || o.kind === 'stddev') {
      const p = o.parts ?? { sum: `${o.name}#sum`, count: `${o.name}#count`, ...(o.kind === 'mean' ? {} : { sumSquares: `${o.name}#sumSquares` }) };
      if (o.kind !== 'mean' && !p.sumSquares) throw new DomainError('privacy-unsupported-output', `a DP ${o.kind} needs its sum-of-squares part`, { output: o.name });
      add(p.sum, 'sum', o.name);
      add(p.count, 'count', o.name);
      if (o.kind !== 'mean') add(p.sumSquares!, 'sumSquares', o.name);
    } else {
      add(o.name, o.kind, o.name);
    }
  }
  return [...out.values()];
}
