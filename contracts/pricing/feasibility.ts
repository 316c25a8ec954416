import { z } from 'zod';
import type { AggregateComputation, ClampBounds, Computation, VerifyComputation } from '../computation.js';
import { columnByName, type DatasetSchema } from '../dataset/schema.js';
import { DomainError } from '../errors.js';
import type { Offer } from '../offer/offer.js';

/**
 * What can never run, refused when the buyer asks for a quote rather than after money is held and a
 * reviewer has spent time on it. Only what the offer, the schema and the computation decide; the
 * problem types are the ones the enclave gives for the same computation, so a buyer sees one answer.
 */

import { MAX_DP_DOMAIN } from '../privacy/calibration.js';

export { MAX_DP_DOMAIN };

/** One output of an SQL query as the enclave's validator describes it (the server passes these in). */
export const SqlOutputFact = z
  .object({
    name: z.string(),
    kind: z.enum(['dimension', 'aggregate', 'derived']),
    column: z.string().optional(),
    aggregate: z.enum(['count', 'sum', 'mean', 'min', 'max']).optional(),
    bounds: z.tuple([z.number(), z.number()]).nullable(),
    scale: z.number().int().min(0).max(64),
    /** DP mean: the hidden sum and count it is computed from, when the validator names them */
    parts: z.object({ sum: z.string(), count: z.string(), sumSquares: z.string().optional() }).strict().optional(),
  })
  .strip();
export type SqlOutputFact = z.infer<typeof SqlOutputFact>;

/** The SQL validator's findings for one query in the offer's mode. */
export const SqlFacts = z
  .object({
    columnsUsed: z.array(z.string()).max(64),
    outputs: z.array(SqlOutputFact).max(64),
    groupBy: z.array(z.string()).max(8),
  })
  .strict();
export type SqlFacts = z.infer<typeof SqlFacts>;

export const isDp = (offer: Pick<Offer, 'terms'>): boolean => offer.terms.epsilonPerQuery > 0;

/** Aggregate output names, as the enclave's release names them. */
export const metricName = (m: { op: string; measure?: string | undefined }): string => (m.op === 'count' ? 'count' : `${m.op}(${m.measure})`);

const invalid = (message: string, detail: Record<string, unknown> = {}) => new DomainError('computation-invalid', message, detail);

/** The enclave's aggregate planner refuses these shapes with `computation-invalid`. */
function checkAggregate(c: AggregateComputation, schema: DatasetSchema): void {
  for (const m of c.metrics) {
    if (!m.measure) continue;
    const col = columnByName(schema, m.measure);
    if (!col) throw invalid(`"${m.measure}" is not a column of this dataset`, { column: m.measure });
    if (col.role !== 'measure') throw invalid(`"${m.measure}" is not a measure (role ${col.role})`, { column: m.measure });
  }
  const dimension = (name: string, what: string) => {
    const col = columnByName(schema, name);
    if (!col) throw invalid(`${what} "${name}" is not a column of this dataset`, { column: name });
    if (col.role !== 'dimension') throw invalid(`${what} "${name}" is not a dimension (role ${col.role})`, { column: name });
    return col;
  };
  for (const g of c.groupBy) dimension(g, 'group-by column');
  for (const f of c.filters) {
    const values = dimension(f.column, 'filter column').values ?? [];
    for (const v of f.in) {
      if (!values.includes(v)) throw invalid(`filter value "${v}" is not a declared value of "${f.column}"`, { column: f.column, value: v });
    }
  }
}

/**
 * The verify refusals (`verify-refused`), one implementation for the quote and the enclave
 * (enclave/verify/verify.ts calls this). A verification checks claims about ONE record the buyer can
 * already name: every match names the identifier column, and a schema without one cannot be verified at
 * all — a match on dimensions or attributes alone would answer "is this cell empty?" with no k. Never
 * measures (an equality oracle on amounts invites guessing games).
 */
export function checkVerifyShape(c: VerifyComputation, schema: DatasetSchema): { identifier: string; others: string[] } {
  const names = Object.keys(c.match);
  if (names.length === 0) throw new DomainError('verify-refused', 'name at least one column to match');
  if (names.length > 16) throw new DomainError('verify-refused', 'at most 16 columns per verification');
  let identifier: string | undefined;
  const others: string[] = [];
  for (const n of names) {
    const col = columnByName(schema, n);
    if (!col) throw new DomainError('verify-refused', `column "${n}" is not in the dataset's schema`, { column: n });
    if (col.role === 'measure') throw new DomainError('verify-refused', `measure "${n}" cannot be verified (identifier, attribute and dimension columns only)`, { column: n });
    if (col.role === 'identifier') identifier = n;
    else others.push(n);
  }
  const id = schema.columns.find((col) => col.role === 'identifier');
  if (!id) throw new DomainError('verify-refused', 'this dataset has no identifier column, so it cannot be verified: a verification checks claims about one record the buyer names by its identifier');
  if (!identifier) {
    throw new DomainError('verify-refused', `a verification must name the identifier "${id.name}": it checks claims about one record the buyer can already name`, { identifier: id.name });
  }
  if (c.perAttribute && others.length === 0) throw new DomainError('verify-refused', 'per-attribute flags need at least one attribute to compare');
  return { identifier, others };
}

/** Measures an SQL computation reads: the only columns a clamp may name. */
function measuresUsed(c: Computation, schema: DatasetSchema, sql?: SqlFacts): string[] {
  const names = c.kind === 'sql' ? (sql?.columnsUsed ?? []) : [];
  return [...new Set(names)].filter((n) => columnByName(schema, n)?.role === 'measure');
}

/** A buyer's clamp: DP offers only, measures the computation uses, inside the schema's declared bounds. */
export function checkClamp(clamp: ClampBounds | undefined, c: Computation, schema: DatasetSchema, offer: Pick<Offer, 'terms'>, sql?: SqlFacts): void {
  if (!clamp) return;
  if (!isDp(offer)) {
    throw new DomainError('invalid-clamp', 'clamp bounds apply to differentially private releases only; this offer releases exact aggregates');
  }
  const used = measuresUsed(c, schema, sql);
  for (const [name, [lo, hi]] of Object.entries(clamp)) {
    if (!used.includes(name)) throw new DomainError('invalid-clamp', `"${name}" is not a measure this computation aggregates`, { column: name, measures: used });
    const [blo, bhi] = columnByName(schema, name)!.bounds!;
    if (lo < blo || hi > bhi) {
      throw new DomainError('invalid-clamp', `clamp [${lo}, ${hi}] of "${name}" is outside the schema's bounds [${blo}, ${bhi}]`, { column: name, clamp: [lo, hi], bounds: [blo, bhi] });
    }
  }
}

/** Keys a DP release covers: the product of the grouped dimensions' declared values (narrowed by aggregate filters). */
export function dpDomainSize(c: Computation, schema: DatasetSchema, sql?: SqlFacts): number {
  const groupBy = c.kind === 'aggregate' ? c.groupBy : c.kind === 'sql' ? (sql?.groupBy ?? []) : [];
  let size = 1;
  for (const g of groupBy) {
    const filters = c.kind === 'aggregate' ? c.filters.filter((f) => f.column === g) : [];
    const values = columnByName(schema, g)?.values;
    size *= values ? values.filter((v) => filters.every((f) => f.in.includes(v))).length : Infinity;
  }
  return size;
}

/**
 * Refuses, with the enclave's own problem type, what the offer, the schema and the computation already
 * decide can never run. Kinds and columns the offer does not sell are the admission check's (trade/admission.ts).
 */
export function assertCanRun(a: { offer: Pick<Offer, 'terms'>; schema: DatasetSchema; computation: Computation; sql?: SqlFacts }): void {
  const { offer, schema, computation: c, sql } = a;
  const dp = isDp(offer);
  if (c.kind === 'aggregate') checkAggregate(c, schema);
  if (c.kind === 'verify') checkVerifyShape(c, schema);
  if (c.kind === 'sql') {
    if (!sql) throw new DomainError('invalid-request', 'an sql computation needs the SQL validator’s findings');
    if (dp) {
      const bad = sql.outputs.filter((o) => o.kind === 'derived' || (o.kind === 'aggregate' && !o.bounds));
      if (bad.length > 0) {
        throw new DomainError('privacy-unsupported-output', `a differentially private release needs each output to be one aggregate of bounded values; not: ${bad.map((o) => o.name).join(', ')}`, {
          outputs: bad.map((o) => o.name),
        });
      }
    } else {
      const order = sql.outputs.filter((o) => o.aggregate === 'min' || o.aggregate === 'max');
      if (order.length > 0) {
        throw new DomainError('privacy-order-statistic-needs-dp', `MIN/MAX release one person's exact value; they are released only with differential privacy (${order.map((o) => o.name).join(', ')})`, {
          outputs: order.map((o) => o.name),
        });
      }
    }
  }
  checkClamp(c.kind === 'sql' ? c.clamp : undefined, c, schema, offer, sql);
  if (dp && c.kind !== 'verify') {
    const size = dpDomainSize(c, schema, sql);
    if (size > MAX_DP_DOMAIN) {
      throw new DomainError('dp-domain-too-large', `a differentially private release covers every group key, and this grouping has ${size} (at most ${MAX_DP_DOMAIN})`, {
        domain: size,
        max: MAX_DP_DOMAIN,
      });
    }
  }
}

/** One refusal of the SQL validator (query/validate.ts SqlRefusal). */
export interface SqlRefusalFact {
  clause: string;
  rule: string;
  message: string;
}

/** Rules of the validator that are privacy refusals with a problem type of their own, in the order they win. */
const OWN_TYPE_RULES = ['privacy-order-statistic-needs-dp', 'dp-domain-too-large', 'privacy-unsupported-output'] as const;

/**
 * The problem for a query the validator refused: a privacy rule with its own type (e.g. MIN/MAX in an exact
 * release → `privacy-order-statistic-needs-dp`) when only such rules fired, else `sql-refused` (a query that
 * also breaks a language rule, such as naming the identifier, is refused for that first); always with every error.
 */
export function sqlRefusal(errors: SqlRefusalFact[]): DomainError {
  const text = errors.map((e) => `${e.clause}: ${e.message} (rule ${e.rule})`).join('; ');
  const onlyOwn = errors.every((e) => (OWN_TYPE_RULES as readonly string[]).includes(e.rule));
  const own = onlyOwn ? OWN_TYPE_RULES.find((r) => errors.some((e) => e.rule === r)) : undefined;
  return new DomainError(own ?? 'sql-refused', text, { errors });
}
