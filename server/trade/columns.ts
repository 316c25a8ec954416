import type { Computation } from '../../contracts/computation.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';

/**
 * For `sql` computations the negative list and the offer's allowed columns need the columns the query
 * touches: they come from the enclave's own validator (engineer D), so a query refused there is refused
 * here with the same clause and rule, before any money is held. The validator (and its SQL parser, ~0.8 s
 * to load) is loaded on the first SQL computation, not at every server start.
 */
export async function columnsUsedFor(computation: Computation, schema: DatasetSchema): Promise<string[] | undefined> {
  if (computation.kind !== 'sql') return undefined;
  const { validateSql } = await import('../../enclave/sql/validate.js');
  const v = validateSql(computation.query, schema);
  if (!v.ok) {
    throw new DomainError('sql-refused', v.errors.map((e) => `${e.clause}: ${e.message} (rule ${e.rule})`).join('; '), { errors: v.errors });
  }
  return v.columnsUsed;
}
