import { z } from 'zod';
import { DomainError } from '../../contracts/errors.js';
import { PrivacyBudgetLedger } from './ledger.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism, type Mechanism } from './mechanisms.js';

/**
 * The output gate shared by the HE release and the SQL sandbox, composed the OpenDP way:
 *   clamp (bounds from the schema) → aggregate (done by the caller) → k-suppression → mechanism,
 * each step declaring its privacy cost in `privacy.steps`. Groups are disjoint, so one release costs the
 * policy's ε once (parallel composition over groups); inside a group the ε is split evenly across the
 * released values (sequential composition). See docs/privacy.md.
 */

export interface GroupResult {
  /** group key: the grouped dimension values, [] for an ungrouped result */
  key: string[];
  /** rows in the group */
  rows: number;
  /** distinct identifiers in the group, when the schema has an identifier column */
  subjects?: number;
  values: Record<string, number>;
}

export interface OutputPolicy {
  /** minimum group size k, counted on distinct identifiers when known, rows otherwise */
  minGroupSize: number;
  /** δ absent or 0: discrete Laplace (pure ε-DP); δ > 0: discrete Gaussian */
  dp?: { epsilon: number; delta?: number };
  /** 'exact-for-tests' skips noise and charging (tests compare with SQLite); never set from buyer input */
  mode?: 'enforce' | 'exact-for-tests';
}

export type OutputKind = 'count' | 'sum' | 'mean' | 'variance' | 'stddev' | 'min' | 'max' | 'median';

export interface OutputSpec {
  /** default 'sum' (a count is a sum of [0, 1] contributions) */
  kind?: OutputKind;
  /** decimal places of the released value's fixed-point grid; default 0 for count/sum, 4 otherwise */
  scale?: number;
}

export interface GateBudget {
  ledger: PrivacyBudgetLedger;
  buyerOrgId: string;
  datasetId: string;
  /** what the budget is kept on: the dataset's content commitment (defaults to datasetId) */
  datasetKey?: string;
  limitEpsilon: number;
  limitDelta?: number;
  /** the dataset-wide budget across all buyers, charged in the same transaction */
  datasetLimitEpsilon?: number;
  datasetLimitDelta?: number;
  /** idempotency key of the release (e.g. the trade id): a retried job does not pay twice */
  chargeKey: string;
}

export interface GateContext {
  /** per output value: inclusive bounds of ONE row's contribution (clamping and sensitivity) */
  bounds: Record<string, [number, number]>;
  /** per output value: what aggregate it is (defaults: kind 'sum') */
  outputs?: Record<string, OutputSpec>;
  budget?: GateBudget;
  /**
   * Runs just before the release is committed, inside the budget transaction when there is one
   * (the SQL path records differencing state here); throwing refuses the release and charges nothing.
   */
  beforeRelease?: (released: GroupResult[], suppressed: string[][]) => void;
}

export interface PrivacyStep {
  step: 'clamp' | 'k-suppression' | 'mechanism';
  detail: string;
  epsilon: number;
  delta: number;
}

export interface PrivacyApplied {
  minGroupSize: number;
  /** what k was counted on */
  basis: 'subjects' | 'rows';
  suppressedGroups: number;
  mechanism: string;
  epsilonSpent: number;
  epsilonRemaining: number | null;
  delta?: number;
  steps: PrivacyStep[];
}

export interface GateOutcome {
  groups: GroupResult[];
  suppressed: string[][];
  privacy: PrivacyApplied;
}

const PolicySchema = z
  .object({
    minGroupSize: z.number().int().min(1).max(1_000_000),
    dp: z
      .object({ epsilon: z.number().positive().max(100), delta: z.number().min(0).lt(1).optional() })
      .strict()
      .optional(),
    mode: z.enum(['enforce', 'exact-for-tests']).optional(),
  })
  .strict();

/** Apply the output gate. Synchronous: the budget ledger is better-sqlite3. */
export function applyOutputGate(groups: GroupResult[], policy: OutputPolicy, ctx: GateContext): GateOutcome {
  const parsed = PolicySchema.safeParse(policy);
  if (!parsed.success) throw new DomainError('privacy-invalid-policy', `output policy: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const k = policy.minGroupSize;
  const exact = policy.mode === 'exact-for-tests';

  // --- k-suppression (cost 0: it only withholds) -------------------------------------------------------
  const basis: 'subjects' | 'rows' = groups.length > 0 && groups.every((g) => g.subjects !== undefined) ? 'subjects' : 'rows';
  const kept: GroupResult[] = [];
  const suppressed: string[][] = [];
  for (const g of groups) {
    const size = basis === 'subjects' ? (g.subjects as number) : g.rows;
    if (size < k) suppressed.push([...g.key]);
    else kept.push(g);
  }
  const steps: PrivacyStep[] = [
    { step: 'k-suppression', detail: `groups with fewer than ${k} ${basis === 'subjects' ? 'distinct identifiers' : 'rows'} withheld`, epsilon: 0, delta: 0 },
  ];

  // --- clamp (cost 0: post-processing into the feasible range given the schema bounds) ----------------
  const valueNames = [...new Set(kept.flatMap((g) => Object.keys(g.values)))].sort();
  for (const name of valueNames) {
    if (policy.dp && !exact && !ctx.bounds[name]) {
      throw new DomainError('privacy-missing-bounds', `output "${name}" has no declared bounds, so its sensitivity is unknown`, { output: name });
    }
  }
  const clamped = kept.map((g) => ({
    key: [...g.key],
    rows: g.rows,
    ...(g.subjects !== undefined ? { subjects: g.subjects } : {}),
    values: Object.fromEntries(Object.entries(g.values).map(([n, v]) => [n, ctx.bounds[n] ? clampValue(v, g.rows, ctx.bounds[n], specOf(ctx, n).kind) : v])),
  }));
  steps.unshift({ step: 'clamp', detail: 'values clamped to the range the schema bounds allow', epsilon: 0, delta: 0 });

  // --- mechanism ----------------------------------------------------------------------------------------
  if (!policy.dp || exact) {
    const outcome: GateOutcome = {
      groups: clamped,
      suppressed,
      privacy: {
        minGroupSize: k,
        basis,
        suppressedGroups: suppressed.length,
        mechanism: exact ? 'none (exact-for-tests)' : 'none',
        epsilonSpent: 0,
        epsilonRemaining: null,
        steps,
      },
    };
    ctx.beforeRelease?.(outcome.groups, suppressed);
    return outcome;
  }

  const epsilon = policy.dp.epsilon;
  const delta = policy.dp.delta ? policy.dp.delta : undefined; // δ = 0 is pure ε-DP
  const perValueEps = epsilon / Math.max(valueNames.length, 1);
  const perValueDelta = delta !== undefined ? delta / Math.max(valueNames.length, 1) : undefined;
  const mechanismName = delta !== undefined ? 'discrete-gaussian' : 'discrete-laplace';
  steps.push({
    step: 'mechanism',
    detail: `${mechanismName}; ε ${epsilon} split evenly over ${valueNames.length} value(s) per group; groups are disjoint (parallel composition)`,
    epsilon,
    delta: delta ?? 0,
  });

  const produce = (): { groups: GroupResult[]; suppressed: string[][] } => {
    const noisy = clamped.map((g) => ({
      ...g,
      values: Object.fromEntries(
        Object.entries(g.values).map(([n, v]) => [n, noiseValue(v, g.rows, ctx.bounds[n] as [number, number], specOf(ctx, n), k, perValueEps, perValueDelta)]),
      ),
    }));
    ctx.beforeRelease?.(noisy, suppressed);
    return { groups: noisy, suppressed };
  };

  let released: { groups: GroupResult[]; suppressed: string[][] };
  let remaining: number | null = null;
  if (ctx.budget) {
    const b = ctx.budget;
    const out = b.ledger.charge(
      {
        chargeKey: b.chargeKey,
        buyerOrgId: b.buyerOrgId,
        datasetId: b.datasetId,
        ...(b.datasetKey !== undefined ? { datasetKey: b.datasetKey } : {}),
        epsilon,
        delta,
        limitEpsilon: b.limitEpsilon,
        limitDelta: b.limitDelta,
        ...(b.datasetLimitEpsilon !== undefined ? { datasetLimitEpsilon: b.datasetLimitEpsilon } : {}),
        ...(b.datasetLimitDelta !== undefined ? { datasetLimitDelta: b.datasetLimitDelta } : {}),
      },
      produce,
    );
    released = out.result;
    remaining = out.epsilonRemaining;
  } else {
    released = produce();
  }
  return {
    groups: released.groups,
    suppressed: released.suppressed,
    privacy: {
      minGroupSize: k,
      basis,
      suppressedGroups: released.suppressed.length,
      mechanism: mechanismName,
      epsilonSpent: epsilon,
      epsilonRemaining: remaining,
      ...(delta !== undefined ? { delta } : {}),
      steps,
    },
  };
}

function specOf(ctx: GateContext, name: string): Required<OutputSpec> {
  const kind = ctx.outputs?.[name]?.kind ?? 'sum';
  const scale = ctx.outputs?.[name]?.scale ?? (kind === 'count' || kind === 'sum' ? 0 : 4);
  return { kind, scale };
}

function clampValue(v: number, rows: number, [lo, hi]: [number, number], kind: OutputKind): number {
  switch (kind) {
    case 'count':
      return Math.min(Math.max(v, 0), rows);
    case 'sum':
      return Math.min(Math.max(v, rows * lo), rows * hi);
    case 'variance':
      return Math.min(Math.max(v, 0), ((hi - lo) * (hi - lo)) / 4 + 1e-9 * Math.abs(hi - lo));
    case 'stddev':
      return Math.min(Math.max(v, 0), (hi - lo) / 2);
    default:
      return Math.min(Math.max(v, lo), hi);
  }
}

/**
 * Sensitivity (one row added or removed) on the value's fixed-point grid, and the noisy value.
 * count: 1; sum: max(|lo|,|hi|); mean: noisy sum / noisy count (two measurements, ε halved);
 * variance: (hi−lo)²/(k−1) — valid because released groups have ≥ k rows and a neighbour ≥ k−1;
 * stddev: √ of the noisy variance; min/max/median: hi−lo (the whole range; honest, hence noisy).
 */
function noiseValue(
  v: number,
  rows: number,
  [lo, hi]: [number, number],
  spec: Required<OutputSpec>,
  k: number,
  eps: number,
  delta: number | undefined,
): number {
  const unit = Math.pow(10, spec.scale);
  const mech = (sensitivity: number, e: number, d: number | undefined): Mechanism =>
    d !== undefined ? discreteGaussianMechanism(sensitivity, e, d) : discreteLaplaceMechanism(sensitivity, e);
  const noisyInt = (x: number, sensitivity: number, e: number, d: number | undefined): number =>
    Math.round(x * unit) + mech(sensitivity * unit, e, d).sample();
  const out = (n: number): number => Number((n / unit).toFixed(spec.scale));
  const range = hi - lo;
  switch (spec.kind) {
    case 'count':
      return out(Math.max(0, noisyInt(v, 1, eps, delta)));
    case 'sum':
      return out(noisyInt(v, Math.max(Math.abs(lo), Math.abs(hi)), eps, delta));
    case 'mean': {
      const half = delta !== undefined ? delta / 2 : undefined;
      const sumUnit = Math.pow(10, spec.scale);
      const noisySum = (Math.round(v * rows * sumUnit) + mech(Math.max(Math.abs(lo), Math.abs(hi)) * sumUnit, eps / 2, half).sample()) / sumUnit;
      const noisyCount = rows + mech(1, eps / 2, half).sample();
      return Number(Math.min(Math.max(noisySum / Math.max(noisyCount, 1), lo), hi).toFixed(spec.scale));
    }
    case 'variance':
    case 'stddev': {
      const variance = spec.kind === 'stddev' ? v * v : v;
      const nv = Math.max(0, noisyInt(variance, (range * range) / Math.max(k - 1, 1), eps, delta)) / unit;
      const capped = Math.min(nv, (range * range) / 4);
      return Number((spec.kind === 'stddev' ? Math.sqrt(capped) : capped).toFixed(spec.scale));
    }
    default:
      return out(Math.min(Math.max(noisyInt(v, range, eps, delta), lo * unit), hi * unit));
  }
}
