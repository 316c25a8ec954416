import { DomainError } from '../contracts/errors.js';
import type { DimPredicate } from './predicates.js';

/**
 * The declared blocks of a list of released sets over the schema's declared dimension values: a function of
 * the queries alone, shared by the enclave's differencing guard and the quote's planned-groups check.
 */

/** A dimension of the schema with its declared values (codes are indexes into `values`). */
export interface DeclaredDimension {
  name: string;
  values: readonly string[];
}

/** Class-cells beyond this are refused before any row is read (a decision from the queries alone). */
export const MAX_CLASS_CELLS = 100_000;
/** Class-cells × predicate nodes evaluated, beyond which the history is too complex (queries alone, too). */
export const MAX_CELL_WORK = 200_000_000;

/** The declared blocks of a list of sets (see the module comment); a function of the queries only. */
export interface DeclaredBlocks {
  /** the mentioned dimensions, in `dimensions` order: class of each declared value, and stride in cell numbers */
  dims: { name: string; classOf: Int32Array; classes: number; stride: number }[];
  /** number of class-cells (product of the class counts) */
  cells: number;
  /** block of each class-cell */
  blockOfCell: Int32Array;
  blocks: number;
}

const tooComplex = (message: string, params: Record<string, unknown>): DomainError => new DomainError('privacy-history-too-complex', message, params);

/**
 * The queries behind `sets`, for the caps: dimensions split into every declared value, further predicates whose
 * atoms refine the classes (a refinement of the sets' own classes leaves the blocks as they are), and the
 * predicate nodes the caps charge instead of the sets' own. With it, the caps depend on the queries alone.
 */
export interface PlannedPartition {
  split: string[];
  predicates: DimPredicate[];
  nodes: number;
}

/** Classes, class-cells and blocks of `sets` over the declared domain; throws privacy-history-too-complex. */
export function declaredBlocks(sets: DimPredicate[], dimensions: DeclaredDimension[], planned?: PlannedPartition): DeclaredBlocks {
  const dimIndex = new Map(dimensions.map((d, i) => [d.name, i]));
  const codeOf = dimensions.map((d) => new Map(d.values.map((v, i) => [v, i])));
  // atoms as code sets, collected per dimension
  const atomsOf = new Map<number, Uint8Array[]>();
  const split = new Set<number>();
  let nodes = 0;
  type Compiled = { all: true } | { dim: number; member: Uint8Array } | { and: Compiled[] } | { or: Compiled[] } | { not: Compiled };
  const compile = (p: DimPredicate, depth: number): Compiled => {
    nodes++;
    // a planned predicate sits one level below its set's conjunction: 63 for it is 64 for the set
    if (depth > 64) throw tooComplex('a released set is nested too deeply', {});
    if (typeof p !== 'object' || p === null) throw new DomainError('privacy-differencing-state', 'a recorded set is not a predicate');
    if ('all' in p) return { all: true };
    if ('dim' in p) {
      const d = dimIndex.get(p.dim);
      if (d === undefined) throw new DomainError('privacy-differencing-state', `a released set names "${p.dim}", which is not a dimension of the dataset`);
      const member = new Uint8Array(dimensions[d]!.values.length);
      // a value that is not declared selects no row (the row map admits declared values only)
      for (const v of p.in) {
        const c = codeOf[d]!.get(v);
        if (c !== undefined) member[c] = 1;
      }
      const list = atomsOf.get(d) ?? [];
      list.push(member);
      atomsOf.set(d, list);
      return { dim: d, member };
    }
    if ('and' in p) return { and: p.and.map((q) => compile(q, depth + 1)) };
    if ('or' in p) return { or: p.or.map((q) => compile(q, depth + 1)) };
    if ('not' in p) return { not: compile(p.not, depth + 1) };
    throw new DomainError('privacy-differencing-state', 'a recorded set is not a predicate');
  };
  if (planned) {
    for (const name of planned.split) {
      const d = dimIndex.get(name);
      if (d === undefined) throw new DomainError('privacy-differencing-state', `a planned grouping names "${name}", which is not a dimension of the dataset`);
      split.add(d);
      if (!atomsOf.has(d)) atomsOf.set(d, []);
    }
    // compiled for their atoms (and depth) only: they are not sets, and the caps count planned.nodes instead
    for (const p of planned.predicates) compile(p, 1);
  }
  const plannedWork = planned ? planned.nodes : 0;
  nodes = 0;
  const compiled = sets.map((s) => compile(s, 0));
  if (planned) nodes = plannedWork;

  // 1. classes per mentioned dimension: v ~ w iff every atom on the dimension holds both or neither
  const mentioned = [...atomsOf.keys()].sort((a, b) => a - b);
  const dims: DeclaredBlocks['dims'] = [];
  let cells = 1;
  for (const d of mentioned) {
    const n = dimensions[d]!.values.length;
    // a grouped dimension of a planned query: every declared value is a group, so its own class
    let classOf = split.has(d) ? Int32Array.from({ length: n }, (_, v) => v) : new Int32Array(n);
    let classes = split.has(d) ? n : 1;
    for (const member of atomsOf.get(d)!) ({ ids: classOf, count: classes } = refine(classOf, classes, member));
    dims.push({ name: dimensions[d]!.name, classOf, classes, stride: 0 });
    cells *= classes;
    if (cells > MAX_CLASS_CELLS) {
      throw tooComplex(`the exact releases on this dataset, with this one, split its declared values into more than ${MAX_CLASS_CELLS} class-cells; ask fewer, coarser questions or buy a differentially private release`, { limit: MAX_CLASS_CELLS });
    }
  }
  if (cells * nodes > MAX_CELL_WORK) {
    throw tooComplex('the exact releases on this dataset, with this one, are too many to check together; buy a differentially private release', { limit: MAX_CELL_WORK });
  }
  let stride = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    dims[i]!.stride = stride;
    stride *= dims[i]!.classes;
  }
  const slot = new Map(mentioned.map((d, i) => [d, i]));

  // 2. each class-cell's membership of each set, evaluated on whole arrays of class-cells
  const evaluate = (c: Compiled): Uint8Array => {
    if ('all' in c) return new Uint8Array(cells).fill(1);
    if ('dim' in c) {
      const info = dims[slot.get(c.dim)!]!;
      // the atom's value on each class (an atom holds a class whole, by construction)
      const onClass = new Uint8Array(info.classes);
      for (let v = 0; v < c.member.length; v++) if (c.member[v]) onClass[info.classOf[v]!] = 1;
      const out = new Uint8Array(cells);
      const { stride: s, classes: n } = info;
      for (let cell = 0; cell < cells; cell++) out[cell] = onClass[Math.floor(cell / s) % n]!;
      return out;
    }
    if ('not' in c) {
      const a = evaluate(c.not);
      for (let i = 0; i < cells; i++) a[i] = a[i]! ^ 1;
      return a;
    }
    const parts = 'and' in c ? c.and : c.or;
    if (parts.length === 0) return new Uint8Array(cells).fill('and' in c ? 1 : 0);
    const acc = evaluate(parts[0]!);
    for (let j = 1; j < parts.length; j++) {
      const b = evaluate(parts[j]!);
      if ('and' in c) for (let i = 0; i < cells; i++) acc[i] = acc[i]! & b[i]!;
      else for (let i = 0; i < cells; i++) acc[i] = acc[i]! | b[i]!;
    }
    return acc;
  };
  // 3. signature refinement: a class-cell's block is the id of the sets that contain it ("none" included)
  let sig = new Int32Array(cells);
  let ids = 1;
  for (const c of compiled) ({ ids: sig, count: ids } = refine(sig, ids, evaluate(c)));
  return { dims, cells, blockOfCell: sig, blocks: ids };
}

/**
 * Split a partition (ids 0..count−1 per element) by one bit per element: elements stay together only when they
 * shared an id and have the same bit. New ids are dense, in order of first appearance.
 */
function refine(ids: Int32Array, count: number, bits: Uint8Array): { ids: Int32Array<ArrayBuffer>; count: number } {
  const pair = new Int32Array(count * 2).fill(-1);
  const next = new Int32Array(ids.length);
  let n = 0;
  for (let i = 0; i < ids.length; i++) {
    const key = ids[i]! * 2 + bits[i]!;
    if (pair[key] === -1) pair[key] = n++;
    next[i] = pair[key]!;
  }
  return { ids: next, count: n };
}

