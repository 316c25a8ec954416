import { z } from 'zod';
import { DomainError } from '../../contracts/errors.js';
import { calibrate, MAX_DP_DOMAIN, planMeasurements, type Calibration, type MeasurementKind, type OutputKind } from '../../contracts/privacy/calibration.js';
import { PrivacyBudgetLedger } from './ledger.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism, type Mechanism } from './mechanisms.js';
import { gridValue } from './grid-value.js';

export type { OutputKind } from '../../contracts/privacy/calibration.js';

/**
 * The output gate shared by the HE release and the SQL sandbox. Two regimes (docs/privacy.md):
 *
 * EXACT (no DP): in production (`wholeRelease`) the caller passes every group the query can hold, empty ones
 * included, and a group with fewer than k people refuses the whole release (recorded and charged): the k
 * threshold is never a free answer. Otherwise (test enclaves) such groups are withheld — simply absent, like
 * groups with no rows, so a result never names a withheld key.
 *
 * DP, (ε, δ) per PERSON: the caller keeps at most m = maxRowsPerPerson rows per person and clamps every row's
 * value to its bounds. The gate then releases exactly the keys of the public domain, in its order, every
 * value noised — a key with no rows gets its neutral value (count 0, sum 0) plus noise, a NULL is never
 * released, and no group is selected or withheld on the data (no k-suppression under DP). Each measurement
 * is the vector of one quantity over all groups, noised with its per-person sensitivity (a person's m rows may
 * fall in m groups): contracts/privacy/calibration.ts, whose numbers the quote and the receipt repeat.
 */

export interface GroupResult {
  /** group key: the grouped dimension values, [] for an ungrouped result */
  key: string[];
  /** rows in the group (0 in a DP release: the gate releases no exact size) */
  rows: number;
  /** distinct identifiers in the group, when the schema has an identifier column */
  subjects?: number;
  /** null: the aggregate of no rows (exact releases keep it; DP releases never return one) */
  values: Record<string, number | null>;
}

export interface OutputPolicy {
  /** minimum group size k of EXACT releases, counted on distinct identifiers when known, rows otherwise */
  minGroupSize: number;
  /** δ absent or 0: discrete Laplace (pure ε-DP); δ > 0: discrete Gaussian */
  dp?: { epsilon: number; delta?: number };
  /** 'exact-for-tests' skips noise and charging (tests compare with SQLite); never set from buyer input */
  mode?: 'enforce' | 'exact-for-tests';
  /** DP: rows one person contributes at most (the caller has dropped the rest); default 1 */
  maxRowsPerPerson?: number;
}

export interface OutputSpec {
  /** default 'sum' (a count is a sum of [0, 1] contributions) */
  kind?: OutputKind;
  /** decimal places of the released value's fixed-point grid; default 0 for count/sum, 4 otherwise */
  scale?: number;
  /**
   * DP mean/variance/stddev: the names of the values (in the same GroupResult.values, usually listed in
   * `hidden`) holding the SUM, COUNT (and sum of squares) of exactly the rows the output aggregates.
   * Their grids default to: count 0, sum the output's scale, sum of squares twice the sum's; a part may
   * have its own entry in `outputs` (scale) and `bounds` (per-row bounds).
   */
  parts?: { sum: string; count: string; sumSquares?: string };
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
  /** the approved trade the key is bound to: a charge under the key for another trade is refused */
  tradeId?: string;
}

/** The gate's budget for a release: the approved budget terms, kept on what was sealed (its commitment). */
export function releaseBudget(
  ledger: PrivacyBudgetLedger,
  trade: { buyerOrgId: string; datasetId: string; tradeId?: string },
  commitment: string,
  terms: { limitEpsilon: number; chargeKey: string; datasetLimitEpsilon?: number | undefined; datasetLimitDelta?: number | undefined },
): GateBudget {
  return {
    ledger,
    buyerOrgId: trade.buyerOrgId,
    datasetId: trade.datasetId,
    datasetKey: commitment,
    limitEpsilon: terms.limitEpsilon,
    chargeKey: terms.chargeKey,
    ...(trade.tradeId !== undefined ? { tradeId: trade.tradeId } : {}),
    ...(terms.datasetLimitEpsilon !== undefined ? { datasetLimitEpsilon: terms.datasetLimitEpsilon } : {}),
    ...(terms.datasetLimitDelta !== undefined ? { datasetLimitDelta: terms.datasetLimitDelta } : {}),
  };
}

export interface GateContext {
  /** per output value: inclusive bounds of ONE row's contribution (clamping and sensitivity) */
  bounds: Record<string, [number, number]>;
  /** per output value: what aggregate it is (defaults: kind 'sum') */
  outputs?: Record<string, OutputSpec>;
  /** value names that are inputs only (parts of a mean): never released */
  hidden?: string[];
  /**
   * DP: every group key of the public domain (the cross product of the grouped dimensions' declared values),
   * in release order. Required for a grouped DP result; an ungrouped one defaults to [[]].
   */
  domain?: string[][];
  budget?: GateBudget;
  /**
   * Runs just before the release is committed, inside the budget transaction when there is one (the
   * differencing guard records here); throwing refuses the release and charges nothing. `withheld` are the
   * keys below k of an exact release — for the guard only, they are never released.
   */
  beforeRelease?: (released: GroupResult[], withheld: string[][]) => unknown;
  /**
   * Exact: `groups` are every group the query can hold (planned-groups.ts, empty ones with no rows), and the
   * release lists all of them or is refused with `privacy-min-group-refused` — recorded and charged by the
   * caller. Without it a group below k is silently left out, a free answer to "does it hold k people?".
   */
  wholeRelease?: boolean;
}

export interface PrivacyStep {
  step: 'clamp' | 'k-suppression' | 'domain' | 'mechanism' | 'post-processing';
  detail: string;
  epsilon: number;
  delta: number;
}

/** Accuracy of one released DP value (calibration.ts), in the value's own units. */
export type OutputAccuracy = Omit<Calibration, 'gridScale' | 'gridSensitivity'>;

export interface PrivacyApplied {
  /** k of exact releases (not applied under DP) */
  minGroupSize: number;
  /** what k was counted on; 'none' under DP */
  basis: 'subjects' | 'rows' | 'none';
  /** exact: a key not in the result had no rows or was withheld (never said which); DP: every domain key is released */
  absentGroups: 'empty-or-withheld' | 'none';
  mechanism: string;
  epsilonSpent: number;
  epsilonRemaining: number | null;
  delta?: number;
  /** DP: the per-person row cap the sensitivities assume */
  maxRowsPerPerson?: number;
  /** DP: how many noisy measurements the ε was split over */
  measurements?: number;
  /** DP: per released output, its mechanism, noise scale and 95 % half-width */
  accuracy?: Record<string, OutputAccuracy>;
  steps: PrivacyStep[];
}

export interface GateOutcome {
  groups: GroupResult[];
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
    maxRowsPerPerson: z.number().int().min(1).max(1_000).optional(),
  })
  .strict();

/** Apply the output gate: the budget charge and the differencing record are one transaction of the enclave's state store. */
export async function applyOutputGate(groups: GroupResult[], policy: OutputPolicy, ctx: GateContext): Promise<GateOutcome> {
  const parsed = PolicySchema.safeParse(policy);
  if (!parsed.success) throw new DomainError('privacy-invalid-policy', `output policy: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  if (!policy.dp || policy.mode === 'exact-for-tests') return exactRelease(groups, policy, ctx);
  return dpRelease(groups, policy as OutputPolicy & { dp: { epsilon: number; delta?: number } }, ctx);
}

// ─── exact releases ────────────────────────────────────────────────────────────────────────────────────

async function exactRelease(groups: GroupResult[], policy: OutputPolicy, ctx: GateContext): Promise<GateOutcome> {
  const k = policy.minGroupSize;
  const hidden = new Set(ctx.hidden ?? []);
  // k-suppression (cost 0: it only withholds); a withheld group is absent, exactly like an empty one
  const basis: 'subjects' | 'rows' = groups.length > 0 && groups.every((g) => g.subjects !== undefined) ? 'subjects' : 'rows';
  const kept: GroupResult[] = [];
  const withheld: string[][] = [];
  for (const g of groups) {
    const size = basis === 'subjects' ? (g.subjects as number) : g.rows;
    if (size < k) withheld.push([...g.key]);
    else kept.push(g);
  }
  if (ctx.wholeRelease && withheld.length > 0) {
    // the k threshold read the rows: the same recorded refusal whether a group is empty or holds 1..k−1 people
    throw new DomainError('privacy-min-group-refused', `refused: some group this query can hold has fewer than ${k} people, possibly none (coarsen the query, or buy a differentially private release)`, { k });
  }
  // clamp (cost 0: post-processing into the range the schema bounds allow); hidden inputs dropped
  const released = kept.map((g) => ({
    key: [...g.key],
    rows: g.rows,
    ...(g.subjects !== undefined ? { subjects: g.subjects } : {}),
    values: Object.fromEntries(
      Object.entries(g.values)
        .filter(([n]) => !hidden.has(n))
        .map(([n, v]) => [n, v === null || !ctx.bounds[n] ? v : clampExact(v, g.rows, ctx.bounds[n], specOf(ctx, n).kind)]),
    ),
  }));
  const steps: PrivacyStep[] = [
    { step: 'clamp', detail: 'values clamped to the range the schema bounds allow', epsilon: 0, delta: 0 },
    {
      step: 'k-suppression',
      detail: `groups with fewer than ${k} ${basis === 'subjects' ? 'distinct identifiers' : 'rows'} withheld; a withheld group is absent, like an empty one`,
      epsilon: 0,
      delta: 0,
    },
  ];
  await ctx.beforeRelease?.(released, withheld);
  return {
    groups: released,
    privacy: {
      minGroupSize: k,
      basis,
      absentGroups: 'empty-or-withheld',
      mechanism: policy.mode === 'exact-for-tests' ? 'none (exact-for-tests)' : 'none',
      epsilonSpent: 0,
      epsilonRemaining: null,
      steps,
    },
  };
}

function clampExact(v: number, rows: number, [lo, hi]: [number, number], kind: OutputKind): number {
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

function specOf(ctx: GateContext, name: string): { kind: OutputKind; scale: number; parts?: OutputSpec['parts'] } {
  const s = ctx.outputs?.[name];
  const kind = s?.kind ?? 'sum';
  const scale = s?.scale ?? (kind === 'count' || kind === 'sum' ? 0 : 4);
  return { kind, scale, ...(s?.parts ? { parts: s.parts } : {}) };
}

// ─── DP releases ───────────────────────────────────────────────────────────────────────────────────────

/** One noise draw per group of a DP release: what it measures, its per-row bounds, grid and calibration. */
export interface MeasurementSpec {
  name: string;
  kind: MeasurementKind;
  bounds: [number, number];
  scale: number;
  cal: Calibration;
}

interface Measured extends MeasurementSpec {
  mech: Mechanism;
}

const isDerived = (kind: OutputKind): boolean => kind === 'mean' || kind === 'variance' || kind === 'stddev';

/**
 * The released outputs of a DP release and the measurements it noises — each with the per-person Δ it is
 * calibrated to. Fixed by the computation (its specs and bounds), not by which groups have rows.
 */
export function dpMeasurements(
  groups: GroupResult[],
  policy: OutputPolicy & { dp: { epsilon: number; delta?: number } },
  ctx: GateContext,
): { outputs: { name: string; kind: OutputKind; scale: number; parts?: OutputSpec['parts'] }[]; measurements: MeasurementSpec[] } {
  const m = policy.maxRowsPerPerson ?? 1;
  const epsilon = policy.dp.epsilon;
  const delta = policy.dp.delta ? policy.dp.delta : undefined; // δ = 0 is pure ε-DP
  const hidden = new Set(ctx.hidden ?? []);

  const names = [...new Set([...Object.keys(ctx.outputs ?? {}), ...Object.keys(ctx.bounds), ...groups.flatMap((g) => Object.keys(g.values))])]
    .filter((n) => !hidden.has(n))
    .sort();
  const outputs = names.map((name) => ({ name, ...specOf(ctx, name) }));
  for (const o of outputs) {
    if (o.kind !== 'count' && !ctx.bounds[o.name]) {
      throw new DomainError('privacy-missing-bounds', `output "${o.name}" has no declared bounds, so its sensitivity is unknown`, { output: o.name });
    }
    if (isDerived(o.kind) && !o.parts) {
      throw new DomainError('privacy-unsupported-output', `a DP ${o.kind} is computed from the noisy sum and count of its rows; output "${o.name}" names no parts`, { output: o.name });
    }
  }

  // Measurements (calibration.ts): each released count/sum/order statistic, plus each part of a derived output.
  const plan = planMeasurements(outputs.map((o) => ({ name: o.name, kind: o.kind, ...(o.parts ? { parts: o.parts } : {}) })));
  const M = plan.length;
  const specByName = new Map(outputs.map((o) => [o.name, o]));
  const measurements: MeasurementSpec[] = [];
  const scaleOfPart = (name: string, fallback: number): number => ctx.outputs?.[name]?.scale ?? fallback;
  for (const p of plan) {
    const parent = specByName.get(p.of)!;
    let bounds: [number, number];
    let scale: number;
    if (p.kind === 'count') {
      bounds = [0, 1];
      scale = p.name === parent.name ? parent.scale : scaleOfPart(p.name, 0);
    } else if (p.kind === 'sumSquares') {
      bounds = ctx.bounds[p.name] ?? ctx.bounds[parent.name]!;
      scale = scaleOfPart(p.name, 2 * scaleOfPart(parent.parts!.sum, parent.scale));
    } else {
      bounds = ctx.bounds[p.name] ?? ctx.bounds[parent.name]!;
      scale = p.name === parent.name ? parent.scale : scaleOfPart(p.name, parent.scale);
    }
    const cal = calibrate({ kind: p.kind, bounds, scale, maxRowsPerPerson: m, epsilon, ...(delta !== undefined ? { delta } : {}), measurements: M });
    measurements.push({ name: p.name, kind: p.kind, bounds, scale, cal });
  }

  return { outputs, measurements };
}

async function dpRelease(groups: GroupResult[], policy: OutputPolicy & { dp: { epsilon: number; delta?: number } }, ctx: GateContext): Promise<GateOutcome> {
  const m = policy.maxRowsPerPerson ?? 1;
  const epsilon = policy.dp.epsilon;
  const delta = policy.dp.delta ? policy.dp.delta : undefined; // δ = 0 is pure ε-DP

  // The public domain: released in full, in its order, whatever the data holds.
  const domain = ctx.domain ?? [[]];
  if (domain.length > MAX_DP_DOMAIN) {
    throw new DomainError('dp-domain-too-large', `a DP release noises every group of its public domain; ${domain.length} groups exceed ${MAX_DP_DOMAIN}`, { groups: domain.length });
  }
  const domainKeys = new Set(domain.map((k) => JSON.stringify(k)));
  if (domainKeys.size !== domain.length) throw new DomainError('privacy-invalid-domain', 'the DP domain lists a group key twice');
  const byKey = new Map<string, GroupResult>();
  for (const g of groups) {
    const id = JSON.stringify(g.key);
    if (!domainKeys.has(id)) {
      // Refusing here would tell the buyer something about the rows; the caller must pass the whole domain.
      if (ctx.domain) continue;
      throw new DomainError('privacy-invalid-domain', 'a grouped DP result needs its public domain of group keys');
    }
    byKey.set(id, g);
  }

  const { outputs, measurements } = dpMeasurements(groups, policy, ctx);
  const M = measurements.length;
  const measured = new Map<string, Measured>();
  for (const x of measurements) {
    const { cal } = x;
    const mech = delta !== undefined ? discreteGaussianMechanism(cal.gridSensitivity, cal.epsilon, cal.delta) : discreteLaplaceMechanism(cal.gridSensitivity, cal.epsilon);
    // the sampler may round its parameter up onto its exact grid (more noise, never less) — not further
    if (!(mech.scale >= cal.gridScale * (1 - 1e-12) && mech.scale <= cal.gridScale * (1 + 1e-6))) {
      throw new DomainError('privacy-internal', `the mechanism's noise scale ${mech.scale} differs from the calibration's ${cal.gridScale}`);
    }
    measured.set(x.name, { ...x, mech });
  }

  // Accuracy per released output, from the same calibration function the quote uses.
  const accuracy: Record<string, OutputAccuracy> = {};
  for (const o of outputs) {
    const scales = o.parts
      ? { sum: measured.get(o.parts.sum)!.scale, count: measured.get(o.parts.count)!.scale, ...(o.parts.sumSquares ? { sumSquares: measured.get(o.parts.sumSquares)!.scale } : {}) }
      : undefined;
    const cal = calibrate({
      kind: o.kind,
      bounds: o.kind === 'count' ? [0, 1] : ctx.bounds[o.name]!,
      scale: o.scale,
      maxRowsPerPerson: m,
      epsilon,
      ...(delta !== undefined ? { delta } : {}),
      measurements: M,
      ...(scales ? { partScales: scales } : {}),
    });
    const { gridScale: _g, gridSensitivity: _s, ...acc } = cal;
    accuracy[o.name] = acc;
  }

  const mechanismName = delta !== undefined ? 'discrete-gaussian' : 'discrete-laplace';
  const steps: PrivacyStep[] = [
    {
      step: 'clamp',
      detail: `at most ${m} row(s) per person kept and each row's value clamped to its bounds before aggregation`,
      epsilon: 0,
      delta: 0,
    },
    {
      step: 'domain',
      detail: `all ${domain.length} group(s) of the public domain released, empty ones as their neutral value plus noise; no group selected or withheld on the data (no k-suppression under DP)`,
      epsilon: 0,
      delta: 0,
    },
    // The privacy map of each measurement: a person's ≤ m rows change the whole vector over groups by at most Δ.
    ...[...measured.values()].map((x) => ({
      step: 'mechanism' as const,
      detail: `${x.name}: ${x.cal.mechanism}, ${x.kind} of ≤ ${m} row(s) per person over all groups, Δ ${x.cal.sensitivity}, ${x.cal.mechanism === 'discrete-gaussian' ? 'σ' : 't'} ${x.cal.noiseScale}`,
      epsilon: x.cal.epsilon,
      delta: x.cal.delta,
    })),
  ];
  if (outputs.some((o) => isDerived(o.kind))) {
    steps.push({ step: 'post-processing', detail: 'means, variances and standard deviations computed from the noisy sums, sums of squares and counts', epsilon: 0, delta: 0 });
  }

  const produce = async (): Promise<{ groups: GroupResult[] }> => {
    const released = domain.map((key) => {
      const g = byKey.get(JSON.stringify(key));
      const noisy = new Map<string, number>();
      for (const x of measured.values()) {
        noisy.set(x.name, (gridValue(x.kind, g?.values[x.name], x.bounds, x.scale) + x.mech.sample()) / 10 ** x.scale);
      }
      const values: Record<string, number> = {};
      for (const o of outputs) values[o.name] = roundTo(finish(o, noisy, ctx.bounds[o.name] ?? [0, 1]), o.scale);
      return { key: [...key], rows: 0, values };
    });
    await ctx.beforeRelease?.(released, []);
    return { groups: released };
  };

  let released: { groups: GroupResult[] };
  let remaining: number | null = null;
  if (ctx.budget) {
    const b = ctx.budget;
    const out = await b.ledger.charge(
      {
        chargeKey: b.chargeKey,
        ...(b.tradeId !== undefined ? { tradeId: b.tradeId } : {}),
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
    released = await produce();
  }
  return {
    groups: released.groups,
    privacy: {
      minGroupSize: policy.minGroupSize,
      basis: 'none',
      absentGroups: 'none',
      mechanism: mechanismName,
      epsilonSpent: epsilon,
      epsilonRemaining: remaining,
      ...(delta !== undefined ? { delta } : {}),
      maxRowsPerPerson: m,
      measurements: M,
      accuracy,
      steps,
    },
  };
}

/** The released value of one output from the group's noisy measurements (post-processing, ε 0). */
function finish(o: { name: string; kind: OutputKind; parts?: OutputSpec['parts'] }, noisy: Map<string, number>, [lo, hi]: [number, number]): number {
  switch (o.kind) {
    case 'count':
      return Math.max(0, noisy.get(o.name)!);
    case 'sum':
      return noisy.get(o.name)!;
    case 'mean': {
      const s = noisy.get(o.parts!.sum)!;
      const c = Math.max(noisy.get(o.parts!.count)!, 1);
      return Math.min(Math.max(s / c, lo), hi);
    }
    case 'variance':
    case 'stddev': {
      const s = noisy.get(o.parts!.sum)!;
      const q = noisy.get(o.parts!.sumSquares!)!;
      const c = Math.max(noisy.get(o.parts!.count)!, 2);
      const v = Math.min(Math.max((q - (s * s) / c) / (c - 1), 0), ((hi - lo) * (hi - lo)) / 4);
      return o.kind === 'variance' ? v : Math.sqrt(v);
    }
    default:
      return Math.min(Math.max(noisy.get(o.name)!, lo), hi);
  }
}

const roundTo = (x: number, scale: number): number => Number(x.toFixed(scale));
