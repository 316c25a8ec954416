import type { Database } from 'sql.js';
import { DATASET_TABLE } from '../../query/names.js';
import type { AtomMerge, PartitionPlan } from '../../query/validate.js';

type Value = string | number | null;
type SqlType = 'integer' | 'real' | 'text' | 'null';
interface Merged {
  keys: Value[];
  atoms: Value[];
  types: SqlType[];
}

/**
 * The merged partials of a share of a run's person passes (protocol.ts SandboxJob.passList): per group its
 * keys, atoms with their SQLite types, and the people counted — the people of one share are in no other, so
 * shares merge like passes.
 */
export interface PartialState {
  groups: Merged[];
  counted: [string, number][];
  slices: number;
}

const typeOf = (v: Value, declared: unknown): SqlType => {
  if (v === null) return 'null';
  if (typeof v === 'string') return 'text';
  return declared === 'integer' || declared === 'real' ? declared : Number.isInteger(v) ? 'integer' : 'real';
};

/** SQLite's order of values for MIN/MAX: NULL is skipped, numbers before text. */
function before(a: Value, b: Value): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a < b;
  if (typeof a === 'number') return true;
  if (typeof b === 'number') return false;
  return (a as string) < (b as string);
}

function mergeAtom(kind: AtomMerge, a: Value, at: SqlType, b: Value, bt: SqlType): [Value, SqlType] {
  if (kind === 'count') return [Number(a) + Number(b), 'integer'];
  if (kind === 'total') return [Number(a) + Number(b), 'real'];
  if (b === null) return [a, at];
  if (a === null) return [b, bt];
  // SUM: an integer while every part is one (SQLite's integer sum), else a floating sum
  if (kind === 'sum') return [(a as number) + (b as number), at === 'real' || bt === 'real' ? 'real' : 'integer'];
  const bWins = kind === 'min' ? before(b, a) : before(a, b);
  return bWins ? [b, bt] : [a, at];
}

/**
 * The partial results of the slices of one query, merged per group as they come (PartitionPlan), and the
 * final outputs computed over the merged atoms in a small database of their own. Holds aggregates per group
 * and, for k on people, each group's distinct identifiers (at most one entry per row read).
 */
export class PartialMerge {
  private readonly groups = new Map<string, Merged>();
  private readonly subjects = new Map<string, Set<Value>>();
  /** people counted per group in the passes before this one (a run split by person: no one is in two) */
  private readonly counted = new Map<string, number>();
  slices = 0;

  private readonly groupBy: string[];

  constructor(private readonly plan: PartitionPlan) {
    this.groupBy = plan.keys;
  }

  /** One slice's `partial` result (and its `subjects` pairs) folded in. */
  add(partial: { columns: string[]; values: unknown[][] } | undefined, pairs: { columns: string[]; values: unknown[][] } | undefined): void {
    this.slices++;
    if (partial) {
      const col = (name: string): number => partial.columns.indexOf(name);
      const keyCols = this.groupBy.map((_, i) => col(`__k${i}`));
      const atomCols = this.plan.atoms.map((a) => col(a.name));
      const typeCols = this.plan.atoms.map((a) => col(`${a.name}_t`));
      for (const r of partial.values as Value[][]) {
        const keys = keyCols.map((c) => r[c]!);
        const id = JSON.stringify(keys);
        const atoms = atomCols.map((c) => r[c]!);
        const types = atoms.map((v, j) => typeOf(v, typeCols[j]! >= 0 ? r[typeCols[j]!] : this.plan.atoms[j]!.merge === 'total' ? 'real' : 'integer'));
        const m = this.groups.get(id);
        if (!m) {
          this.groups.set(id, { keys, atoms, types });
          continue;
        }
        this.plan.atoms.forEach((a, j) => {
          [m.atoms[j], m.types[j]] = mergeAtom(a.merge, m.atoms[j]!, m.types[j]!, atoms[j]!, types[j]!);
        });
      }
    }
    if (pairs) {
      const idCol = pairs.columns.indexOf('__id');
      const keyCols = this.groupBy.map((_, i) => pairs.columns.indexOf(`__k${i}`));
      for (const r of pairs.values as Value[][]) {
        const v = r[idCol]!;
        if (v === null) continue; // COUNT(DISTINCT …) skips NULL
        const id = JSON.stringify(keyCols.map((c) => r[c]!));
        let set = this.subjects.get(id);
        if (!set) this.subjects.set(id, (set = new Set()));
        set.add(v);
      }
    }
  }

  /**
   * The end of a pass of a run split by person (SandboxJob.personPasses): its people are in no other pass,
   * so each group's identifier set is kept as its size and forgotten.
   */
  endPass(): void {
    for (const [id, set] of this.subjects) this.counted.set(id, (this.counted.get(id) ?? 0) + set.size);
    this.subjects.clear();
  }

  /** The state after the last pass (endPass called): what another enclave's share sends to be merged. */
  snapshot(): PartialState {
    if (this.subjects.size > 0) throw new Error('a share is taken after its last pass');
    return { groups: [...this.groups.values()], counted: [...this.counted], slices: this.slices };
  }

  /** Another share's state folded in (its people are in no pass of this merge). */
  absorb(state: PartialState): void {
    this.slices += state.slices;
    for (const g of state.groups) {
      const id = JSON.stringify(g.keys);
      const m = this.groups.get(id);
      if (!m) {
        this.groups.set(id, { keys: [...g.keys], atoms: [...g.atoms], types: [...g.types] });
        continue;
      }
      this.plan.atoms.forEach((a, j) => {
        [m.atoms[j], m.types[j]] = mergeAtom(a.merge, m.atoms[j]!, m.types[j]!, g.atoms[j]!, g.types[j]!);
      });
    }
    for (const [id, n] of state.counted) this.counted.set(id, (this.counted.get(id) ?? 0) + n);
  }

  /**
   * The outputs: `final` over one row per merged group, in `db` (a fresh database, left empty). `onePerPerson`:
   * every identifier value has at most one row loaded, so a group's people are its rows with an identifier
   * (PartitionPlan.identifiedRows); otherwise the sizes of the merged identifier sets.
   */
  finish(db: Database, onePerPerson = false): { columns: string[]; values: unknown[][] } | undefined {
    const identified = onePerPerson && this.plan.identifiedRows ? this.plan.atoms.findIndex((a) => a.name === this.plan.identifiedRows) : -1;
    const q = (n: string): string => `"${n}"`;
    const names = [...this.groupBy, ...this.plan.atoms.map((a) => a.name), '__subjects'];
    db.exec(`CREATE TEMP TABLE ${DATASET_TABLE} (${names.map(q).join(', ')})`);
    try {
      for (const [id, m] of this.groups) {
        // each cell bound with its SQLite type: a JS number alone does not say integer or real
        const cell = (t: SqlType): string => (t === 'integer' ? 'CAST(? AS INTEGER)' : t === 'real' ? 'CAST(? AS REAL)' : '?');
        const sql = `INSERT INTO ${DATASET_TABLE} VALUES (${[...m.keys.map(() => '?'), ...m.types.map(cell), '?'].join(', ')})`;
        db.run(sql, [...m.keys, ...m.atoms, identified >= 0 ? m.atoms[identified]! : (this.counted.get(id) ?? 0) + (this.subjects.get(id)?.size ?? 0)]);
      }
      return db.exec(this.plan.final)[0];
    } finally {
      db.exec(`DROP TABLE ${DATASET_TABLE}`);
      this.groups.clear();
      this.subjects.clear();
      this.counted.clear();
    }
  }
}
