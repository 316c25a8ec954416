/**
 * Sets of rows named by dimension values only: what an exact query's selections are (query/validate.ts)
 * and what the enclave's differencing guard reasons about (enclave/privacy/differencing.ts).
 */

/** A set of rows as a predicate over dimension values (JSON; `in` lists declared values). */
export type DimPredicate = { all: true } | { dim: string; in: string[] } | { and: DimPredicate[] } | { or: DimPredicate[] } | { not: DimPredicate };

/** The conjunction of predicates, flattened; `{ all: true }` when empty. */
export function andOf(parts: (DimPredicate | null | undefined)[]): DimPredicate {
  const flat: DimPredicate[] = [];
  for (const p of parts) {
    if (!p || 'all' in p) continue;
    if ('and' in p) flat.push(...p.and);
    else flat.push(p);
  }
  return flat.length === 0 ? { all: true } : flat.length === 1 ? flat[0]! : { and: flat };
}
