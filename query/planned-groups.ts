import type { DimPredicate } from './predicates.js';
import { declaredBlocks, type DeclaredDimension } from './declared-blocks.js';

/**
 * The groups an exact query can hold, from the query alone: every combination of the grouped dimensions'
 * declared values whose set (the query's selection ∧ the key) contains some declared combination of values.
 * An exact release lists all of them or is refused (gate.ts `wholeRelease`), so whether a planned group is
 * empty, below k or released is never a silent difference in the result: the k threshold is a recorded decision.
 *
 * Throws `privacy-history-too-complex` (from the query alone) when the grouped and selected dimensions split
 * into more declared classes than the differencing guard accepts.
 */
export function plannedGroupKeys(selection: DimPredicate | null, groupBy: string[], dimensions: DeclaredDimension[]): string[][] {
  const where: DimPredicate = selection ?? { all: true };
  // the guard's own classes: grouped dimensions split into every declared value, the selection's atoms
  const b = declaredBlocks([], dimensions, { split: groupBy, predicates: [where], nodes: 1 });
  const valueOfClass = b.dims.map((d) => {
    const first = new Int32Array(d.classes).fill(-1);
    d.classOf.forEach((c, v) => {
      if (first[c] === -1) first[c] = v;
    });
    return first;
  });
  const slot = new Map(b.dims.map((d, i) => [d.name, i]));
  const dimByName = new Map(dimensions.map((d) => [d.name, d]));
  const keys = new Map<string, string[]>();
  const codes = new Int32Array(b.dims.length);
  for (let cell = 0; cell < b.cells; cell++) {
    b.dims.forEach((d, i) => {
      codes[i] = valueOfClass[i]![Math.floor(cell / d.stride) % d.classes]!;
    });
    // one representative value per class decides the whole class: every atom holds a class whole
    if (!holds(where, (dim) => dimByName.get(dim)!.values[codes[slot.get(dim)!]!]!)) continue;
    const key = groupBy.map((g) => dimByName.get(g)!.values[codes[slot.get(g)!]!]!);
    keys.set(JSON.stringify(key), key);
  }
  return [...keys.values()];
}

/** Whether a predicate holds for one combination of values (`valueOf` gives each mentioned dimension's). */
function holds(p: DimPredicate, valueOf: (dim: string) => string): boolean {
  if ('all' in p) return true;
  if ('dim' in p) return p.in.includes(valueOf(p.dim));
  if ('and' in p) return p.and.every((q) => holds(q, valueOf));
  if ('or' in p) return p.or.some((q) => holds(q, valueOf));
  return !holds(p.not, valueOf);
}
