import type { Computation } from '../../contracts/computation.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';

/** The SQL language an offer admits: exact releases (ε per query 0) or differentially private ones. */
export type SqlMode = 'exact' | 'dp';

/** exact when the offer releases without noise (epsilonPerQuery === 0), DP otherwise. */
export const sqlModeOfOffer = (offer: { terms: { epsilonPerQuery: number } }): SqlMode => (offer.terms.epsilonPerQuery === 0 ? 'exact' : 'dp');

/**
 * For `sql` computations the negative list and the offer's allowed columns need the columns the query
 * touches: they come from the enclave's own validator, in the offer's language (exact or DP), so a query
 * refused there is refused here with the same clause and rule, before any money is held. The validator (and
 * its SQL parser, ~0.8 s to load) is loaded on the first SQL computation, not at every server start.
 */
export async function columnsUsedFor(computation: Computation, schema: DatasetSchema, mode: SqlMode): Promise<string[] | undefined> {
  if (computation.kind !== 'sql') return undefined;
  const { validateSql } = await import('../../query/validate.js');
  const v = validateSql(computation.query, schema, { mode, ...(computation.clamp ? { clamp: computation.clamp } : {}) });
  if (!v.ok) {
    throw new DomainError('sql-refused', v.errors.map((e) => `${e.clause}: ${e.message} (rule ${e.rule})`).join('; '), { errors: v.errors });
  }
  return v.columnsUsed;
}
