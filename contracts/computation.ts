import { z } from 'zod';
import { canonicalJson, sm3Hex } from '../crypto/index.js';
import { ColumnName } from './dataset/schema.js';

/**
 * A computation is a typed request, never free code. Three kinds:
 * - `aggregate`: count/sum/mean/variance/stddev of measures, grouped by up to two dimensions,
 *   filtered by equality/IN on dimensions — runs homomorphically;
 * - `sql`: restricted aggregate-only SQL over the dataset's table — runs in the enclave's sql.js sandbox;
 * - `verify`: query-verification (核验) — does a record with these values exist — yes/no.
 * The canonical JSON of a parsed computation (crypto canonicalJson) and its SM3 hash are what
 * a reviewer approves and a receipt names.
 */

/**
 * DP SQL only: clamp bounds a buyer chose per measure, inside the schema's declared bounds. Narrower bounds mean
 * less noise (the sensitivity shrinks) and values outside them are clamped, so they change what runs and are
 * part of the computation's hash. Absent: the schema's bounds. (`aggregate` computations sum sealed rows
 * homomorphically, so no row can be clamped narrower than the bounds it was sealed under: they take none.)
 */
export const ClampBounds = z
  .record(ColumnName, z.tuple([z.number().finite(), z.number().finite()]))
  .refine((c) => Object.keys(c).length >= 1 && Object.keys(c).length <= 64, 'clamp names 1 to 64 measures')
  .refine((c) => Object.values(c).every(([lo, hi]) => lo <= hi), 'clamp bounds need lo ≤ hi');
export type ClampBounds = z.infer<typeof ClampBounds>;

export const AggregateOp = z.enum(['count', 'sum', 'mean', 'variance', 'stddev']);
export type AggregateOp = z.infer<typeof AggregateOp>;

export const DimensionFilter = z
  .object({ column: ColumnName, in: z.array(z.string().min(1)).min(1).max(4096) })
  .strict();

export const AggregateComputation = z
  .object({
    kind: z.literal('aggregate'),
    /** `count` takes no measure; every other op names one. */
    metrics: z
      .array(z.object({ op: AggregateOp, measure: ColumnName.optional() }).strict())
      .min(1)
      .max(16),
    groupBy: z.array(ColumnName).max(2).default([]),
    filters: z.array(DimensionFilter).max(8).default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const m of c.metrics) {
      if (m.op === 'count' && m.measure) ctx.addIssue({ code: 'custom', message: 'count takes no measure' });
      if (m.op !== 'count' && !m.measure) ctx.addIssue({ code: 'custom', message: `${m.op} needs a measure` });
    }
    if (new Set(c.groupBy).size !== c.groupBy.length) ctx.addIssue({ code: 'custom', message: 'groupBy names a column twice' });
  });
export type AggregateComputation = z.infer<typeof AggregateComputation>;

export const SqlComputation = z
  .object({ kind: z.literal('sql'), query: z.string().min(1).max(10_000), clamp: ClampBounds.optional() })
  .strict();
export type SqlComputation = z.infer<typeof SqlComputation>;

export const VerifyComputation = z
  .object({
    kind: z.literal('verify'),
    /** Values to look up: the identifier and/or attributes, by column name. */
    match: z.record(ColumnName, z.string().max(200)),
    /** Answer a per-attribute match flag as well as the overall yes/no. */
    perAttribute: z.boolean().default(false),
  })
  .strict();
export type VerifyComputation = z.infer<typeof VerifyComputation>;

export const Computation = z.discriminatedUnion('kind', [AggregateComputation, SqlComputation, VerifyComputation]);
export type Computation = z.infer<typeof Computation>;
export type ComputationKind = Computation['kind'];

/** sm3 hex of the computation's canonical JSON: the identity of "what runs". */
export const computationHash = (computation: Computation): string => sm3Hex(canonicalJson(computation));
