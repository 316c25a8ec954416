import { z } from 'zod';
import type { Computation } from '../computation.js';
import { columnByName, scaleOf, type DatasetSchema } from '../dataset/schema.js';
import { DomainError } from '../errors.js';
import type { Offer } from '../offer/offer.js';
import { calibrate, meanHalfWidth95, planMeasurements, type OutputKind, type PlannedOutput } from '../privacy/calibration.js';
import { dpDomainSize, metricName, type SqlFacts } from './feasibility.js';

/**
 * Accuracy before purchase: for a differentially private offer the quote states, per released output, the
 * noise the enclave will add — mechanism, scale and 95 % half-width — computed with the same calibration
 * (contracts/privacy/calibration.ts) the enclave's output gate draws from, so quote and receipt agree.
 */

const Num = z.number().finite();

export const OutputAccuracy = z
  .object({
    output: z.string(),
    kind: z.enum(['count', 'sum', 'mean', 'variance', 'stddev', 'min', 'max', 'median']),
    mechanism: z.enum(['discrete-laplace', 'discrete-gaussian']),
    /** the clamp range of one row's value (the buyer's clamp, else the schema's bounds); absent for a count */
    bounds: z.tuple([Num, Num]).optional(),
    /** ε (and δ) of the one measurement this value (or each of its parts) gets */
    epsilon: Num,
    delta: Num,
    /** per-person sensitivity and noise scale (t or σ) in the output's units; a mean's: of its sum part */
    sensitivity: Num,
    noiseScale: Num,
    /** 95 % half-width of the noise; null when it depends on the group's size (see formula) */
    halfWidth95: Num.nullable(),
    sumHalfWidth: Num.optional(),
    countHalfWidth: Num.optional(),
    sumSquaresHalfWidth: Num.optional(),
    formula: z.string().optional(),
  })
  .strict();
export type OutputAccuracy = z.infer<typeof OutputAccuracy>;

export const Accuracy = z
  .object({
    epsilon: Num,
    delta: Num,
    maxRowsPerPerson: z.number().int().min(1),
    /** measurements the release's ε is split over (sequential composition) */
    measurements: z.number().int().min(1),
    /** group keys the release covers (each is released, noised, even when empty) */
    groups: z.number().int().min(0),
    outputs: z.array(OutputAccuracy),
  })
  .strict();
export type Accuracy = z.infer<typeof Accuracy>;

export const QuoteWarning = z
  .object({
    code: z.literal('noise-exceeds-range'),
    output: z.string(),
    message: z.string(),
    /** width of the 95 % interval (null: unbounded at that group size) and of the range it is compared with, at `groupRows` rows per group */
    intervalWidth: Num.nullable(),
    rangeWidth: Num,
    groupRows: Num.optional(),
    /** means: the group size from which the interval fits inside the range */
    groupRowsNeeded: z.number().int().optional(),
  })
  .strict();
export type QuoteWarning = z.infer<typeof QuoteWarning>;

interface Planned extends PlannedOutput {
  bounds: [number, number];
  scale: number;
  partScales?: { sum: number; count: number; sumSquares?: number };
}

const MEANLIKE = new Set<OutputKind>(['mean', 'variance', 'stddev']);

/**
 * The released values of an aggregate computation, with their bounds, grid and — for a mean, variance or
 * stddev — the noisy parts it is computed from, named as the enclave's release names them: the released count
 * and sum(m) when the computation asks for them, else hidden ones, shared by every output that needs them.
 */
function aggregateOutputs(c: Extract<Computation, { kind: 'aggregate' }>, schema: DatasetSchema): Planned[] {
  const names = c.metrics.map(metricName);
  const count = names.includes('count') ? 'count' : '_count';
  return c.metrics.map((m): Planned => {
    if (m.op === 'count') return { name: metricName(m), kind: 'count', bounds: [0, 1], scale: 0 };
    const col = columnByName(schema, m.measure!)!;
    const scale = scaleOf(col.type);
    const bounds = col.bounds!;
    if (m.op === 'sum') return { name: metricName(m), kind: 'sum', bounds, scale };
    const sum = names.includes(`sum(${m.measure})`) ? `sum(${m.measure})` : `_sum(${m.measure})`;
    const squares = m.op === 'mean' ? {} : { sumSquares: `_sumsq(${m.measure})` };
    return {
      name: metricName(m),
      kind: m.op,
      bounds,
      scale: scale + 4,
      parts: { sum, count, ...squares },
      partScales: { sum: scale, count: 0, ...(m.op === 'mean' ? {} : { sumSquares: 2 * scale }) },
    };
  });
}

/** The released values of an SQL query as the validator found them (bounds already reflect the clamp). */
function sqlOutputs(sql: SqlFacts): Planned[] {
  return sql.outputs
    .filter((o) => o.kind === 'aggregate' && o.aggregate && o.bounds)
    .map((o) => ({ name: o.name, kind: o.aggregate!, bounds: o.bounds!, scale: o.scale, ...(o.parts ? { parts: o.parts } : {}) }));
}

const round = (x: number): number => Number(x.toPrecision(12));

/**
 * Accuracy of a DP release of `computation` under `offer`, and warnings where an output's 95 % interval is wider
 * than the range it lives in. `undefined` for exact offers and verify (nothing is noised).
 */
export function accuracyOf(a: {
  offer: Pick<Offer, 'terms'>;
  schema: DatasetSchema;
  computation: Computation;
  rows: number;
  sql?: SqlFacts;
}): { accuracy: Accuracy; warnings: QuoteWarning[] } | undefined {
  const { offer, schema, computation: c } = a;
  if (!(offer.terms.epsilonPerQuery > 0) || c.kind === 'verify') return undefined;
  const planned = c.kind === 'aggregate' ? aggregateOutputs(c, schema) : a.sql ? sqlOutputs(a.sql) : [];
  if (planned.length === 0) return undefined;
  const measurements = planMeasurements(planned.map(({ name, kind, parts }) => ({ name, kind, ...(parts ? { parts } : {}) }))).length;
  const groups = dpDomainSize(c, schema, a.sql);
  const epsilon = offer.terms.epsilonPerQuery;
  const delta = 0; // offers state ε only: pure ε-DP (discrete Laplace)
  const m = offer.terms.maxRowsPerPerson;
  const avgRows = a.rows / groups;
  const warnings: QuoteWarning[] = [];
  const outputs = planned.map((p): OutputAccuracy => {
    const cal = calibrate({ kind: p.kind, bounds: p.bounds, scale: p.scale, maxRowsPerPerson: m, epsilon, delta, measurements, ...(p.partScales ? { partScales: p.partScales } : {}) });
    const out: OutputAccuracy = {
      output: p.name,
      kind: p.kind,
      mechanism: cal.mechanism,
      ...(p.kind === 'count' ? {} : { bounds: p.bounds }),
      epsilon: round(cal.epsilon),
      delta: cal.delta,
      sensitivity: round(cal.sensitivity),
      noiseScale: round(cal.noiseScale),
      halfWidth95: cal.halfWidth95 === null ? null : round(cal.halfWidth95),
      ...(cal.sumHalfWidth !== undefined ? { sumHalfWidth: round(cal.sumHalfWidth) } : {}),
      ...(cal.countHalfWidth !== undefined ? { countHalfWidth: round(cal.countHalfWidth) } : {}),
      ...(cal.sumSquaresHalfWidth !== undefined ? { sumSquaresHalfWidth: round(cal.sumSquaresHalfWidth) } : {}),
      ...(cal.formula ? { formula: cal.formula } : {}),
    };
    const [lo, hi] = p.bounds;
    const width = hi - lo;
    if (p.kind === 'mean') {
      const S = cal.sumHalfWidth!;
      const C = cal.countHalfWidth!;
      const B = Math.max(Math.abs(lo), Math.abs(hi));
      out.formula = `95 % half-width for a group of n rows ≈ (${round(S)} + ${B}·${round(C)}) / (n − ${round(C)}) = ${round(S + B * C)} / (n − ${round(C)}), for n > ${round(C)}`;
      const hw = meanHalfWidth95(cal, p.bounds, avgRows);
      const needed = width > 0 ? Math.ceil(C + (2 * (S + B * C)) / width) : Infinity;
      if (!(2 * hw <= width)) {
        warnings.push({
          code: 'noise-exceeds-range',
          output: p.name,
          message: `at ${round(avgRows)} rows per group (the dataset's rows over ${groups} group(s)) the mean's 95 % interval is wider than its range [${lo}, ${hi}]; it fits from about ${needed} rows per group`,
          intervalWidth: Number.isFinite(hw) ? round(2 * hw) : null,
          rangeWidth: width,
          groupRows: round(avgRows),
          ...(Number.isFinite(needed) ? { groupRowsNeeded: needed } : {}),
        });
      }
    } else if (!MEANLIKE.has(p.kind)) {
      const hw = cal.halfWidth95!;
      // min/max/median live in [lo, hi]; a count or sum in the range an average group can reach
      const range = p.kind === 'count' ? avgRows : p.kind === 'sum' ? avgRows * width : width;
      if (2 * hw > range) {
        warnings.push({
          code: 'noise-exceeds-range',
          output: p.name,
          message:
            p.kind === 'count' || p.kind === 'sum'
              ? `the 95 % interval (±${round(hw)}) is wider than the range a group of ${round(avgRows)} rows (the dataset's rows over ${groups} group(s)) can span`
              : `the 95 % interval (±${round(hw)}) is wider than the range [${lo}, ${hi}]`,
          intervalWidth: round(2 * hw),
          rangeWidth: round(range),
          ...(p.kind === 'count' || p.kind === 'sum' ? { groupRows: round(avgRows) } : {}),
        });
      }
    }
    return out;
  });
  // bounds near the largest doubles can overflow a width or a scale: refuse rather than sign a non-number
  const stated = z.object({ accuracy: Accuracy, warnings: z.array(QuoteWarning) }).safeParse({ accuracy: { epsilon, delta, maxRowsPerPerson: m, measurements, groups, outputs }, warnings });
  if (!stated.success) {
    throw new DomainError('privacy-invalid-parameter', 'the noise of this computation cannot be stated: its bounds are beyond the range of exact arithmetic');
  }
  return stated.data;
}
