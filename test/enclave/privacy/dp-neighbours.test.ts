import { expect } from 'chai';
import { discreteGaussianMechanism, discreteLaplaceMechanism, type Mechanism } from '../../../enclave/privacy/mechanisms.js';
import { wilson } from './dp-stats.js';

/**
 * (ε, δ)-DP per person, checked empirically on neighbouring datasets: D and D′ differ by every row of one
 * person (three rows). For each output bucket o with enough draws, P[M(D) ∈ o] ≤ e^ε·P[M(D′) ∈ o] + δ must
 * hold in both directions. The test flags a bucket only when the Wilson lower bound of one side still exceeds
 * e^ε times the Wilson upper bound of the other (+δ), at z = 5 per side: with a hundred-odd buckets a correct
 * mechanism is flagged by chance less than once in 10,000 runs. A mechanism calibrated for one row instead of
 * the person's three must be flagged (negative controls), so the check can fail.
 */

interface Row {
  person: string;
  value: number;
}

const MAX_ROWS_PER_PERSON = 3;
const BOUNDS: [number, number] = [0, 50];

/** 40 people; "p-7" has three rows, the rest one or two. */
function dataset(): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < 40; i++) {
    const n = i === 7 ? 3 : 1 + (i % 2);
    for (let j = 0; j < n; j++) rows.push({ person: `p-${i}`, value: (i * 13 + j * 29) % 61 });
  }
  rows.push({ person: 'p-7', value: 44 }); // a fourth row: the per-person cap must drop it
  return rows;
}

/** Contribution bounding as the enclave does it: at most m rows per person, values clamped to the bounds. */
function bounded(rows: Row[]): Row[] {
  const seen = new Map<string, number>();
  const out: Row[] = [];
  for (const r of rows) {
    const k = seen.get(r.person) ?? 0;
    if (k >= MAX_ROWS_PER_PERSON) continue;
    seen.set(r.person, k + 1);
    out.push({ person: r.person, value: Math.min(Math.max(r.value, BOUNDS[0]), BOUNDS[1]) });
  }
  return out;
}

const count = (rows: Row[]): number => bounded(rows).length;
const sum = (rows: Row[]): number => bounded(rows).reduce((a, r) => a + r.value, 0);

function histogram(xs: Float64Array, width: number): Map<number, number> {
  const h = new Map<number, number>();
  for (const x of xs) {
    const b = Math.floor(x / width);
    h.set(b, (h.get(b) ?? 0) + 1);
  }
  return h;
}

interface Violation {
  bucket: number;
  countA: number;
  countB: number;
  lowerA: number;
  bound: number;
}

/** Buckets where the evidence says P[A ∈ o] > e^ε·P[B ∈ o] + δ (A, B: outputs on D and D′ or the reverse). */
function violations(a: Float64Array, b: Float64Array, epsilon: number, delta: number, width: number, z = 5, minCount = 100): Violation[] {
  const ha = histogram(a, width);
  const hb = histogram(b, width);
  const out: Violation[] = [];
  for (const [bucket, ca] of ha) {
    if (ca < minCount) continue;
    const cb = hb.get(bucket) ?? 0;
    const lowerA = wilson(ca, a.length, z).lo;
    const bound = Math.exp(epsilon) * wilson(cb, b.length, z).hi + delta;
    if (lowerA > bound) out.push({ bucket, countA: ca, countB: cb, lowerA, bound });
  }
  return out;
}

function release(truth: number, mech: Mechanism, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = truth + mech.sample();
  return out;
}

/** Both directions: D against D′ and D′ against D. */
function checkNeighbours(truthD: number, truthD2: number, mech: Mechanism, width: number, n = 200_000): Violation[] {
  const a = release(truthD, mech, n);
  const b = release(truthD2, mech, n);
  return [...violations(a, b, mech.epsilon, mech.delta, width), ...violations(b, a, mech.epsilon, mech.delta, width)];
}

describe('DP per person on neighbouring datasets (one person, three rows)', function () {
  this.timeout(20_000);
  const D = dataset();
  const D2 = D.filter((r) => r.person !== 'p-7');
  const cD = count(D);
  const cD2 = count(D2);
  const sD = sum(D);
  const sD2 = sum(D2);

  it('the neighbours differ by the person’s capped contribution', () => {
    expect(cD - cD2).to.equal(3);
    expect(sD - sD2).to.be.greaterThan(50); // more than one row's bound: a per-row Δ would be wrong
    expect(sD - sD2).to.be.at.most(MAX_ROWS_PER_PERSON * BOUNDS[1]);
  });

  it('count, discrete Laplace with Δ = 3 (rows per person), ε = 1: no bucket breaks e^ε', () => {
    const v = checkNeighbours(cD, cD2, discreteLaplaceMechanism(MAX_ROWS_PER_PERSON, 1), 1);
    expect(v, JSON.stringify(v.slice(0, 3))).to.deep.equal([]);
  });

  it('NEGATIVE CONTROL: the same count with Δ mis-set to 1 is flagged', () => {
    const v = checkNeighbours(cD, cD2, discreteLaplaceMechanism(1, 1), 1);
    expect(v.length).to.be.greaterThan(0);
  });

  it('sum, discrete Laplace with Δ = 3·50, ε = 0.5: no bucket breaks e^ε', () => {
    const v = checkNeighbours(sD, sD2, discreteLaplaceMechanism(MAX_ROWS_PER_PERSON * BOUNDS[1], 0.5), 25);
    expect(v, JSON.stringify(v.slice(0, 3))).to.deep.equal([]);
  });

  it('NEGATIVE CONTROL: the sum with Δ mis-set to one row’s bound (50) is flagged', () => {
    const v = checkNeighbours(sD, sD2, discreteLaplaceMechanism(BOUNDS[1], 0.5), 25);
    expect(v.length).to.be.greaterThan(0);
  });

  it('count, discrete Gaussian with Δ = 3, ε = 1, δ = 10⁻⁶: no bucket breaks e^ε (+δ)', () => {
    const v = checkNeighbours(cD, cD2, discreteGaussianMechanism(MAX_ROWS_PER_PERSON, 1, 1e-6), 2);
    expect(v, JSON.stringify(v.slice(0, 3))).to.deep.equal([]);
  });

  it('NEGATIVE CONTROL: the Gaussian count with Δ mis-set to 1 is flagged', () => {
    const v = checkNeighbours(cD, cD2, discreteGaussianMechanism(1, 1, 1e-6), 2);
    expect(v.length).to.be.greaterThan(0);
  });
});
