/**
 * DP noise samplers (exact CKS algorithms): CPU ms per 10⁴ draws, the most one release draws.
 *   dp.laplace.t=…    — discrete Laplace with integer scale t (t ≤ 2⁵³ stays in JS integers, larger in bigint)
 *   dp.gaussian.σ=…   — discrete Gaussian, σ² rounded up onto its rational grid
 *   dp.*.mechanism    — build the mechanism from (Δ, ε[, δ]) and draw once, as the output gate does per value
 * Target: well under 100 ms per 10⁴ for t ≤ 10⁶. No baseline (no native sampler to compare with).
 */
import {
  discreteGaussianMechanism,
  discreteGaussianSampler,
  discreteLaplaceMechanism,
  discreteLaplaceSampler,
  gaussianVariance,
} from '../enclave/privacy/mechanisms.js';
import { cpuMs, emit } from './lib.js';

function msPer10k(draw: () => number): number {
  for (let i = 0; i < 2_000; i++) draw(); // warm-up
  let rounds = 0;
  const start = cpuMs();
  let now = start;
  while (now - start < 500) {
    for (let i = 0; i < 10_000; i++) draw();
    rounds++;
    now = cpuMs();
  }
  return (now - start) / rounds;
}

export default async function (): Promise<void> {
  for (const t of [1n, 1_000n, 1_000_000n, 1_000_000_000n, 10n ** 20n]) {
    emit({ name: `dp.laplace.t=${t}`, value: msPer10k(discreteLaplaceSampler({ num: t, den: 1n })), unit: 'ms/1e4' });
  }
  for (const sigma of [10, 1e6, 1e9]) {
    emit({ name: `dp.gaussian.σ=${sigma}`, value: msPer10k(discreteGaussianSampler(gaussianVariance(sigma * sigma))), unit: 'ms/1e4' });
  }
  emit({ name: 'dp.laplace.mechanism', value: msPer10k(() => discreteLaplaceMechanism(9e8, 0.1 / 3).sample()), unit: 'ms/1e4' });
  emit({ name: 'dp.gaussian.mechanism', value: msPer10k(() => discreteGaussianMechanism(3, 0.1, 1e-6).sample()), unit: 'ms/1e4' });
}
