import NodeSqlParser from 'node-sql-parser';
import { sm3Hex } from '../crypto/index.js';
import { DomainError } from '../contracts/errors.js';
import { MAX_DP_DOMAIN } from '../contracts/privacy/calibration.js';
import { scaleOf, type Column, type DatasetSchema } from '../contracts/dataset/schema.js';
import { leadingKeyword, parenthesisDepth, scanQueryText, unreadableCharacter } from './lexer.js';
import { DATASET_TABLE, ROW_COLUMN } from './names.js';
import { andOf, type DimPredicate } from './predicates.js';

/**
 * Restricted, aggregate-only SQL, checked on node-sql-parser's parse tree (sqlite dialect), in the spirit of
 * SecretFlow SCQL's column control list. Everything is allow-listed: a node type, operator or function the
 * checker does not know is refused. The identifier column is never allowed anywhere. Two languages:
 *
 * - **exact** (releases without noise): rows are selected only by dimensions compared with their declared
 *   values (`=`, `!=`, `IN`, `NOT IN`, AND/OR/NOT), in WHERE and in `CASE WHEN … THEN m|1 END`; aggregates
 *   take bare columns (`COUNT(*)`, `SUM(m)`, `AVG(m)`, `COUNT(m)`); no arithmetic, function or CAST at row
 *   level; MIN/MAX and COUNT(DISTINCT …) are refused. So every aggregate's rows are a union of dimension
 *   cells, and its value a sum of a fixed per-row function over them — what the differencing defence
 *   (enclave/privacy/differencing.ts) needs: membership is a function of the cell, never of a value.
 * - **dp** (noised releases): conditions on measures (numeric ranges) and attributes (`=`, `!=`, `IN`),
 *   value expressions, MIN/MAX, COUNT(DISTINCT …). Each aggregate's argument is clamped to its per-row bounds
 *   in the executed query, so the sensitivity the noise is scaled to holds whatever CAST, integer division or
 *   ROUND do.
 *
 * In both languages the executed form cannot raise an SQLite error (cannotRaise): an error after the rows are
 * opened would be a yes/no answer about them.
 *
 * The query executed is the parser's re-serialisation of the checked tree (plus hidden columns); the SM3
 * hash of that normalised text is what is approved.
 */

const { Parser } = NodeSqlParser;
const parser = new Parser();
const DIALECT = { database: 'sqlite' };

export { DATASET_TABLE, ROW_COLUMN };

export type AggregateKind = 'count' | 'sum' | 'mean' | 'min' | 'max';
export type SqlMode = 'exact' | 'dp';

export interface ValidateOptions {
  /** the offer's kind of release: exact (ε = 0) or differentially private */
  mode: SqlMode;
  /** DP: narrower per-row bounds for measures, inside the schema's (`clamp-outside-schema` otherwise) */
  clamp?: Record<string, [number, number]>;
}

export interface SqlOutput {
  name: string;
  kind: 'dimension' | 'aggregate' | 'derived';
  /** dimension outputs: the column; aggregates: the column aggregated when it is a plain column */
  column?: string;
  aggregate?: AggregateKind;
  /**
   * per-row contribution bounds: exact mode from the schema (null when not a bare measure); DP mode the
   * bounds the executed query clamps the aggregate's argument to (never null for a DP aggregate)
   */
  bounds: [number, number] | null;
  /** decimal places the value naturally has */
  scale: number;
  /** DP means: the hidden executed columns holding the clamped sum and the count of the same rows */
  parts?: { sum: string; count: string };
}

export interface SqlRefusal {
  clause: string;
  rule: string;
  message: string;
}

/** What the sandbox runs, derived deterministically from the normalised query. */
export interface SqlPlan {
  /**
   * normalised query + hidden columns: `__g<i>` group values, `__rows`, `__subjects` when there is an
   * identifier (exact mode), and in DP mode `__s<j>`/`__c<j>` (a mean's clamped sum and count); in DP mode every
   * aggregate's argument is clamped to its bounds here
   */
  executed: string;
  /**
   * `executed` without its `__subjects` column (present only when the schema has an identifier): the
   * sandbox runs this first and counts distinct identifiers only when a bound cannot decide k (sandbox.ts)
   */
  executedWithoutSubjects?: string;
  groupBy: string[];
  /** number of aggregate calls */
  aggregates: number;
  /**
   * Exact mode: the rows each aggregate reads, as dimension predicates for the differencing guard — WHERE
   * and, per aggregate call, its CASE condition (null: none). A released group's sets follow with
   * exactReleaseSets.
   */
  selection?: { where: DimPredicate | null; conditions: (DimPredicate | null)[] };
  /** names of executed value columns that are inputs only (a mean's parts), never released */
  hidden: string[];
  /** the same query split over row slices (absent: it does not decompose, and runs in one database) */
  partition?: PartitionPlan;
}

/** How a partial aggregate of one slice merges with the others' (per group). */
export type AtomMerge = 'count' | 'sum' | 'total' | 'min' | 'max';

/**
 * `executed` as aggregate atoms per row slice, merged exactly, then the outputs over the merged atoms. Each
 * slice runs `partial` (group values `__k<i>`, atoms `__a<j>`; a SUM/MIN/MAX atom also its SQLite type as
 * `__a<j>_t`, so an integer stays an integer). `final` runs over one row per merged group in a table named
 * like the dataset, holding the GROUP BY columns by name, the atoms and `__subjects`: the arithmetic on
 * aggregate outputs happens there, after the merge, with SQLite's own semantics. AVG is TOTAL / COUNT.
 * `subjects` (exact mode with an identifier): per slice, the distinct (group, identifier `__id`) pairs;
 * `identifiedRows` names the atom counting rows with an identifier, the people of a group when every person
 * has at most one row loaded (a row cap of one).
 */
export interface PartitionPlan {
  /** the GROUP BY columns (`__k<i>` in `partial`, by name in `final`'s table) */
  keys: string[];
  partial: string;
  atoms: { name: string; merge: AtomMerge }[];
  final: string;
  subjects?: string;
  identifiedRows?: string;
}

export type SqlValidation =
  | { ok: true; mode: SqlMode; normalized: string; hash: string; columnsUsed: string[]; outputs: SqlOutput[]; plan: SqlPlan }
  | { ok: false; errors: SqlRefusal[] };

/* The parser's AST is loosely typed; every access below is checked against an allow-list before use. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any;

const AGGREGATES = new Set(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'TOTAL']);
const VALUE_FUNCTIONS = new Set(['ABS', 'ROUND', 'COALESCE', 'IFNULL']);
/** How many arguments SQLite compiles each function with: any other count fails on every dataset alike. */
const ARITY: Record<string, [number, number]> = { ABS: [1, 1], ROUND: [1, 2], COALESCE: [2, Infinity], IFNULL: [2, 2] };
/**
 * Nesting of the checked tree's nodes at most: SQLite refuses an expression nested past 1,000 levels (and the
 * parser's recursion runs out somewhere before that); a tree node is at most two of SQLite's levels, and the
 * executed form adds a few, so the limit is far inside SQLite's on every path.
 */
const MAX_NESTING = 200;
const EQUALITY = new Set(['=', '==', '!=', '<>']);
const RANGE = new Set(['<', '>', '<=', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
const CAST_TYPES = new Set(['INTEGER', 'INT', 'REAL', 'NUMERIC', 'DECIMAL', 'FLOAT', 'DOUBLE']);
const MAX_GROUP_BY = 3;
const MAX_AGGREGATES = 24;
/** a DP release answers every key of its public domain: the product of the grouped dimensions' values */
export { MAX_DP_DOMAIN };

const DP_ONLY = 'run only under differential privacy (an offer with ε > 0)';

interface AggInfo {
  kind: AggregateKind;
  bounds: [number, number] | null;
  scale: number;
  column?: string;
  /** the argument node (null for COUNT(*)) */
  arg: Node | null;
  /** the CASE condition selecting the aggregate's rows, when its argument is a CASE */
  cond: Node | null;
  /** COUNT(…): its argument is counted, never clamped */
  counted: boolean;
}

class Checker {
  readonly errors: SqlRefusal[] = [];
  readonly used = new Set<string>();
  private readonly byName: Map<string, Column>;
  tableAlias: string | null = null;

  constructor(
    readonly schema: DatasetSchema,
    readonly mode: SqlMode,
    /** DP: per-measure bounds narrowed by the buyer (already checked inside the schema's) */
    readonly clamp: Record<string, [number, number]>,
  ) {
    this.byName = new Map(schema.columns.map((c) => [c.name, c]));
  }

  refuse(clause: string, rule: string, message: string): void {
    if (!this.errors.some((e) => e.clause === clause && e.rule === rule && e.message === message)) this.errors.push({ clause, rule, message });
  }

  /** Per-row bounds of a measure: the buyer's narrower clamp (DP) or the schema's. */
  measureBounds(col: Column): [number, number] | null {
    const c = this.mode === 'dp' ? this.clamp[col.name] : undefined;
    if (c) return [c[0], c[1]];
    return col.bounds ? [col.bounds[0], col.bounds[1]] : null;
  }

  /** Whether `name` takes `count` arguments in SQLite (refused otherwise: it would not compile). */
  arity(name: string, count: number, clause: string): boolean {
    const [lo, hi] = ARITY[name] ?? [0, Infinity];
    if (count >= lo && count <= hi) return true;
    const wanted = lo === hi ? `${lo}` : hi === Infinity ? `at least ${lo}` : `${lo} or ${hi}`;
    this.refuse(clause, 'function-arity', `${name}() takes ${wanted} argument${lo === 1 && hi === 1 ? '' : 's'}, not ${count}`);
    return false;
  }

  /** Resolve a column_ref (normalising its name to lower case in place); undefined when refused. */
  column(node: Node, clause: string): Column | undefined {
    let name: unknown = node.column;
    if (name && typeof name === 'object') name = (name as Node).expr?.value;
    if (typeof name !== 'string') {
      this.refuse(clause, 'expression-allow-list', 'unrecognised column reference');
      return undefined;
    }
    if (name === '*') {
      this.refuse(clause, 'no-star', '`*` outputs rows; name aggregates instead (COUNT(*) is allowed)');
      return undefined;
    }
    if (node.collate) {
      this.refuse(clause, 'expression-allow-list', 'COLLATE is not allowed');
      return undefined;
    }
    if (node.table !== null && node.table !== undefined) {
      const t = String(node.table).toLowerCase();
      if (t !== DATASET_TABLE && t !== this.tableAlias) {
        this.refuse(clause, 'single-table', `column qualifier "${node.table}" is not the dataset table`);
        return undefined;
      }
    }
    const lower = name.toLowerCase();
    const col = this.byName.get(lower);
    if (!col) {
      this.refuse(clause, 'unknown-column', `column "${name}" is not in the dataset's schema`);
      return undefined;
    }
    if (col.role === 'identifier') {
      this.refuse(clause, 'identifier-column', `"${col.name}" is the identifier column: it may never be output or used in SQL (only by verify)`);
      return undefined;
    }
    node.column = lower; // normalised name; the parser re-quotes it
    this.used.add(lower);
    return col;
  }

  /** Literal nodes allowed anywhere; returns true when the node is one (refusing the kinds that are not allowed). */
  literal(node: Node, clause: string): boolean {
    switch (node?.type) {
      case 'number':
      case 'single_quote_string':
      case 'null':
      case 'bool':
        return true;
      case 'bigint':
        if (!Number.isFinite(Number(node.value))) this.refuse(clause, 'literal-allow-list', `number literal ${node.value} is not finite`);
        return true;
      case 'double_quote_string':
        this.refuse(clause, 'double-quoted-literal', `"${node.value}" is ambiguous in SQLite (a column name or a string); use single quotes for strings and bare column names`);
        return true;
      case 'hex_string':
      case 'full_hex_string':
      case 'bit_string':
      case 'natural_string':
      case 'datetime':
      case 'date':
      case 'time':
      case 'timestamp':
        this.refuse(clause, 'literal-allow-list', `${node.type} literals are not allowed`);
        return true;
      case 'origin':
      case 'param':
      case 'var':
        this.refuse(clause, 'no-parameters', 'query parameters and variables are not allowed: write the values in the query');
        return true;
      default:
        return false;
    }
  }

  isSubquery(node: Node): boolean {
    return !!node && typeof node === 'object' && (node.ast !== undefined || node.type === 'select');
  }

  /** A numeric literal (optionally negated); its value, or undefined. */
  numberOf(node: Node): number | undefined {
    if (node?.type === 'number' || node?.type === 'bigint') {
      const n = Number(node.value);
      return Number.isFinite(n) ? n : undefined;
    }
    if (node?.type === 'unary_expr' && node.operator === '-' && !node.parentheses) {
      const n = this.numberOf(node.expr);
      return n === undefined ? undefined : -n;
    }
    return undefined;
  }

  /** A literal compared with a dimension: one of its declared values, single-quoted. */
  dimensionValue(col: Column, node: Node, clause: string): void {
    if (node?.type === 'single_quote_string' && typeof node.value === 'string') {
      // the parser keeps the literal as written: '' is one quote (backslashes never reach here)
      const value = node.value.replaceAll("''", "'");
      if (!(col.values ?? []).includes(value)) this.refuse(clause, 'undeclared-value', `'${value.slice(0, 40)}' is not one of the declared values of "${col.name}"`);
      return;
    }
    if (this.literal(node, clause)) {
      this.refuse(clause, 'undeclared-value', `dimension "${col.name}" is compared only with its declared values, as single-quoted strings`);
      return;
    }
    this.refuse(clause, this.mode === 'exact' ? 'exact-condition-form' : 'dp-comparison-form', `dimension "${col.name}" is compared only with its declared values, not with ${describe(node)}`);
  }

  /**
   * A condition (WHERE, or CASE WHEN inside an aggregate): AND/OR/NOT over comparisons of ONE column with
   * literals. Exact mode: dimensions only, with their declared values, no ranges. DP mode: WHERE takes
   * dimensions only; inside an aggregate also measures (=, !=, ranges with numbers) and attributes (=, !=, IN).
   */
  condition(node: Node, clause: string, insideAggregate: boolean): void {
    if (!node || typeof node !== 'object') return this.refuse(clause, 'expression-allow-list', 'empty condition');
    if (this.isSubquery(node)) return this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
    if (node.type === 'binary_expr') {
      const op = String(node.operator).toUpperCase();
      if (op === 'AND' || op === 'OR') {
        this.condition(node.left, clause, insideAggregate);
        this.condition(node.right, clause, insideAggregate);
        return;
      }
      if (EQUALITY.has(op) || RANGE.has(op)) {
        const [colNode, lit] = node.left?.type === 'column_ref' ? [node.left, node.right] : [node.right, node.left];
        if (colNode?.type !== 'column_ref' || lit?.type === 'column_ref') return this.comparisonForm(node, clause, insideAggregate, op);
        const col = this.conditionColumn(colNode, clause, insideAggregate);
        if (!col) return;
        if (RANGE.has(op)) return this.rangeOn(col, [lit], clause, op);
        return this.equalityOn(col, [lit], clause, op);
      }
      if (op === 'IN' || op === 'NOT IN' || op === 'BETWEEN' || op === 'NOT BETWEEN') {
        if (node.left?.type !== 'column_ref') return this.comparisonForm(node, clause, insideAggregate, op);
        const list = node.right;
        if (list?.type !== 'expr_list' || !Array.isArray(list.value) || list.value.some((v: Node) => this.isSubquery(v))) {
          return this.refuse(clause, 'no-subquery', `${op} takes a list of literals`);
        }
        const col = this.conditionColumn(node.left, clause, insideAggregate);
        if (!col) return;
        if (op.endsWith('BETWEEN')) return this.rangeOn(col, list.value, clause, op);
        return this.equalityOn(col, list.value, clause, op);
      }
      if (op === 'IS' || op === 'IS NOT') {
        if (this.mode === 'exact') return this.refuse(clause, 'exact-condition-form', `${op} NULL is not allowed in exact releases: select rows by dimension values (=, !=, IN, NOT IN); NULL tests ${DP_ONLY}`);
        if (node.left?.type !== 'column_ref' || node.right?.type !== 'null') return this.refuse(clause, 'operator-allow-list', `${op} is allowed only as <column> ${op} NULL`);
        this.conditionColumn(node.left, clause, insideAggregate);
        return;
      }
      return this.refuse(clause, 'operator-allow-list', `operator ${op} is not allowed in conditions (LIKE, GLOB, REGEXP, MATCH and || are string operations)`);
    }
    if (node.type === 'function' && functionName(node) === 'NOT') {
      const args: Node[] = node.args?.value ?? [];
      // NOT(a, b) is a row value to SQLite, not two conditions
      if (args.length !== 1) return this.refuse(clause, 'function-arity', `NOT takes one condition, not ${args.length}`);
      return this.condition(args[0], clause, insideAggregate);
    }
    if (node.type === 'unary_expr' && String(node.operator).toUpperCase() === 'NOT') return this.condition(node.expr, clause, insideAggregate);
    if (node.type === 'function' && functionName(node) === 'EXISTS') return this.refuse(clause, 'no-subquery', 'EXISTS subqueries are not allowed');
    if (node.type === 'column_ref') {
      const col = this.conditionColumn(node, clause, insideAggregate);
      if (col) this.refuse(clause, this.mode === 'exact' ? 'exact-condition-form' : 'dp-comparison-form', `a bare column is not a condition: compare "${col.name}" with a literal`);
      return;
    }
    if (this.literal(node, clause)) return this.refuse(clause, this.mode === 'exact' ? 'exact-condition-form' : 'dp-comparison-form', 'a literal alone is not a condition');
    this.refuse(clause, this.mode === 'exact' ? 'exact-condition-form' : 'expression-allow-list', `${describe(node)} is not allowed in a condition: compare one column with literals`);
  }

  /** The column of a comparison: its role decides where it may be compared. */
  conditionColumn(node: Node, clause: string, insideAggregate: boolean): Column | undefined {
    const col = this.column(node, clause);
    if (!col || col.role === 'dimension') return col;
    if (this.mode === 'exact') {
      this.refuse(clause, 'exact-condition-column', `conditions on ${col.role} "${col.name}" ${DP_ONLY}; exact releases select rows by dimension values only`);
      return undefined;
    }
    if (!insideAggregate) {
      this.refuse(clause, 'aggregate-only-column', `${col.role} column "${col.name}" may be compared only inside an aggregate (e.g. SUM(CASE WHEN ${col.name} … THEN … END))`);
      return undefined;
    }
    return col;
  }

  /** A comparison that is not "one column against literals": refused with the most useful rule. */
  comparisonForm(node: Node, clause: string, insideAggregate: boolean, op: string): void {
    // resolve columns anyway so that identifier/measure use is named
    const cols: Column[] = [];
    const visit = (n: Node): void => {
      if (!n || typeof n !== 'object') return;
      if (n.type === 'column_ref') {
        const c = this.column(n, clause);
        if (c) cols.push(c);
        return;
      }
      if (this.isSubquery(n)) return this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
      for (const v of Object.values(n)) if (v && typeof v === 'object') visit(v);
    };
    visit(node);
    if (this.mode === 'exact' && cols.some((c) => c.role !== 'dimension')) {
      const c = cols.find((x) => x.role !== 'dimension')!;
      return this.refuse(clause, 'exact-condition-column', `conditions on ${c.role} "${c.name}" ${DP_ONLY}; exact releases select rows by dimension values only`);
    }
    if (!insideAggregate && cols.some((c) => c.role !== 'dimension')) {
      const c = cols.find((x) => x.role !== 'dimension')!;
      return this.refuse(clause, 'aggregate-only-column', `${c.role} column "${c.name}" may be compared only inside an aggregate`);
    }
    const fn = (n: Node): boolean => !!n && typeof n === 'object' && (n.type === 'function' || n.type === 'aggr_func' || Object.values(n).some((v) => v && typeof v === 'object' && fn(v)));
    if (fn(node)) return this.refuse(clause, 'function-allow-list', `functions are not allowed in a condition: compare one column with literals`);
    this.refuse(
      clause,
      this.mode === 'exact' ? 'exact-condition-form' : 'dp-comparison-form',
      `${op} compares one column with literals only (no arithmetic, no column against column)${this.mode === 'exact' ? `; row-level expressions ${DP_ONLY}` : ''}`,
    );
  }

  /** `col = lit`, `col != lit`, `col IN (lits)`, `col NOT IN (lits)`. */
  equalityOn(col: Column, lits: Node[], clause: string, op: string): void {
    for (const lit of lits) {
      if (col.role === 'dimension') {
        this.dimensionValue(col, lit, clause);
        continue;
      }
      // DP only from here (conditionColumn refused the rest)
      if (col.role === 'measure') {
        if (this.numberOf(lit) === undefined) {
          if (!this.literal(lit, clause) || lit?.type === 'single_quote_string' || lit?.type === 'null' || lit?.type === 'bool') {
            this.refuse(clause, 'dp-comparison-form', `measure "${col.name}" ${op} takes number literals only`);
          }
        }
      } else if (lit?.type !== 'single_quote_string' && this.numberOf(lit) === undefined) {
        if (!this.literal(lit, clause) || lit?.type === 'null' || lit?.type === 'bool') this.refuse(clause, 'dp-comparison-form', `attribute "${col.name}" ${op} takes string or number literals only`);
      }
    }
  }

  /** `<, <=, >, >=, BETWEEN`: numeric measures with number literals, DP only. */
  rangeOn(col: Column, lits: Node[], clause: string, op: string): void {
    if (this.mode === 'exact') {
      // col is a dimension here (conditionColumn refused the others)
      this.refuse(clause, 'exact-range-condition', `${op} on dimension "${col.name}" is not allowed in exact releases: list the values with IN (…)`);
      return;
    }
    if (col.role !== 'measure') {
      this.refuse(clause, 'dp-text-range', `${op} is allowed on measures only; "${col.name}" is a ${col.role}: use =, != or IN (…)`);
      return;
    }
    if (lits.some((l) => this.numberOf(l) === undefined)) this.refuse(clause, 'dp-comparison-form', `${op} on measure "${col.name}" takes number literals only`);
  }

  /** DP: a value expression inside an aggregate; returns per-row bounds (null = unbounded) and scale. */
  value(node: Node, clause: string, agg: string): { bounds: [number, number] | null; scale: number; plain?: string } {
    const none = { bounds: null, scale: 0 };
    if (this.isSubquery(node)) {
      this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
      return none;
    }
    switch (node?.type) {
      case 'column_ref': {
        const col = this.column(node, clause);
        if (!col) return none;
        if (col.role === 'attribute' && agg !== 'COUNT') {
          this.refuse(clause, 'attribute-aggregate', `attribute "${col.name}" may only be counted or compared, not ${agg}()`);
          return none;
        }
        if (col.role === 'dimension' && agg !== 'COUNT') {
          this.refuse(clause, 'aggregate-needs-measure', `${agg}() needs a measure; "${col.name}" is a dimension`);
          return none;
        }
        return { bounds: col.role === 'measure' ? this.measureBounds(col) : null, scale: scaleOf(col.type), plain: col.name };
      }
      case 'number':
      case 'bigint':
        this.literal(node, clause);
        return { bounds: [Number(node.value), Number(node.value)], scale: decimals(String(node.value)) };
      case 'unary_expr': {
        if (node.operator !== '-' && node.operator !== '+') break;
        const v = this.value(node.expr, clause, agg);
        return { bounds: v.bounds && node.operator === '-' ? [-v.bounds[1], -v.bounds[0]] : v.bounds, scale: v.scale };
      }
      case 'binary_expr': {
        const op = String(node.operator);
        if (!ARITHMETIC.has(op)) {
          this.refuse(clause, 'operator-allow-list', `operator ${op} is not allowed inside an aggregate's value (conditions go in CASE WHEN … THEN … END)`);
          return none;
        }
        const l = this.value(node.left, clause, agg);
        const r = this.value(node.right, clause, agg);
        return { bounds: intervalOp(op, l.bounds, r.bounds), scale: Math.max(l.scale, r.scale, op === '/' || op === '*' ? 4 : 0) };
      }
      case 'cast': {
        const target = String(node.target?.[0]?.dataType ?? node.target?.dataType ?? '').toUpperCase();
        if (!CAST_TYPES.has(target)) {
          this.refuse(clause, 'function-allow-list', `CAST to ${target || 'that type'} is not allowed (numeric types only)`);
          return none;
        }
        const v = this.value(node.expr, clause, agg);
        // an integer CAST truncates toward zero (monotone): the bounds truncate with it
        const int = target === 'INTEGER' || target === 'INT';
        return { bounds: v.bounds && int ? [Math.trunc(v.bounds[0]), Math.trunc(v.bounds[1])] : v.bounds, scale: int ? 0 : v.scale };
      }
      case 'function': {
        const name = functionName(node);
        if (!VALUE_FUNCTIONS.has(name)) {
          this.refuse(clause, 'function-allow-list', `function ${name}() is not allowed (allowed inside aggregates: ${[...VALUE_FUNCTIONS].join(', ')})`);
          return none;
        }
        const args: Node[] = node.args?.value ?? [];
        if (!this.arity(name, args.length, clause)) return none;
        const vs = args.map((a) => this.value(a, clause, agg));
        if (name === 'ABS') {
          const b = vs[0]?.bounds;
          return { bounds: b ? [b[0] <= 0 && b[1] >= 0 ? 0 : Math.min(Math.abs(b[0]), Math.abs(b[1])), Math.max(Math.abs(b[0]), Math.abs(b[1]))] : null, scale: vs[0]?.scale ?? 0 };
        }
        if (name === 'ROUND') {
          const b = vs[0]?.bounds;
          return { bounds: b ? [Math.floor(b[0]), Math.ceil(b[1])] : null, scale: vs[0]?.scale ?? 0 };
        }
        return { bounds: vs.reduce<[number, number] | null>((acc, v, i) => (i === 0 ? v.bounds : hull(acc, v.bounds)), null), scale: Math.max(0, ...vs.map((v) => v.scale)) };
      }
      case 'aggr_func':
        this.refuse(clause, 'nested-aggregate', 'aggregates cannot be nested');
        return none;
      case 'case':
        this.refuse(clause, 'case-form', 'CASE is allowed only as the whole argument of an aggregate: AGG(CASE WHEN <condition> THEN <value> END)');
        return none;
      default:
        if (this.literal(node, clause)) {
          if (node.type === 'null') return { bounds: [0, 0], scale: 0 };
          this.refuse(clause, 'aggregate-needs-measure', `${agg}() over a ${node.type} literal is not a statistic`);
          return none;
        }
    }
    this.refuse(clause, 'expression-allow-list', `${describe(node)} is not allowed inside an aggregate`);
    return none;
  }

  /** An aggregate call: its kind, per-row bounds and scale, argument and CASE condition. */
  aggregate(node: Node, clause: string): AggInfo {
    const name = functionName(node);
    const fail: AggInfo = { kind: 'count', bounds: null, scale: 0, arg: null, cond: null, counted: true };
    if (!AGGREGATES.has(name)) {
      this.refuse(clause, 'function-allow-list', `aggregate ${name}() is not allowed (allowed: ${[...AGGREGATES].join(', ')})`);
      return fail;
    }
    if (node.over) {
      this.refuse(clause, 'no-window', 'window functions are not allowed');
      return fail;
    }
    if (node.args?.orderby) {
      this.refuse(clause, 'expression-allow-list', 'ORDER BY inside an aggregate is not allowed');
      return fail;
    }
    // aggr_func keeps its argument in args.expr; TOTAL() arrives as a plain function with an expr_list
    const arg: Node = node.type === 'aggr_func' ? node.args?.expr : (node.args?.value ?? [])[0];
    if (node.type !== 'aggr_func' && (node.args?.value ?? []).length !== 1) {
      this.refuse(clause, 'expression-allow-list', `${name}() takes one argument`);
      return fail;
    }
    const kind: AggregateKind = name === 'COUNT' ? 'count' : name === 'AVG' ? 'mean' : name === 'MIN' ? 'min' : name === 'MAX' ? 'max' : 'sum';
    if (this.mode === 'exact' && (kind === 'min' || kind === 'max')) {
      this.mentions(arg, clause);
      this.refuse(clause, 'privacy-order-statistic-needs-dp', `${name}() releases one person's exact value; order statistics ${DP_ONLY}`);
      return fail;
    }
    if (arg?.type === 'star') {
      if (name !== 'COUNT') this.refuse(clause, 'no-star', `${name}(*) is not an aggregate`);
      return { kind, bounds: [0, 1], scale: 0, arg: null, cond: null, counted: true };
    }
    if (node.args?.distinct) {
      if (name !== 'COUNT' || arg?.type !== 'column_ref') {
        this.refuse(clause, 'aggregate-form', `DISTINCT is allowed only as COUNT(DISTINCT <column>)`);
        return fail;
      }
      const col = this.column(arg, clause);
      // the distinct count of a group changes with which values occur in it, not with which cells it covers:
      // the differencing guard cannot bound that (one person's value shows as one more distinct value)
      if (this.mode === 'exact') {
        this.refuse(clause, 'exact-aggregate-form', `COUNT(DISTINCT …): distinct counts reveal which values occur in a group; they ${DP_ONLY}`);
        return fail;
      }
      return { kind, bounds: [0, 1], scale: 0, ...(col ? { column: col.name } : {}), arg, cond: null, counted: true };
    }
    return this.mode === 'exact' ? this.exactAggregate(name, kind, arg, clause) : this.dpAggregate(name, kind, arg, clause);
  }

  /** Resolve every column and literal under a node (so that identifier use and bad literals are named). */
  mentions(n: Node, clause: string): void {
    if (!n || typeof n !== 'object') return;
    if (n.type === 'column_ref') this.column(n, clause);
    else if (!this.literal(n, clause)) for (const v of Object.values(n)) if (v && typeof v === 'object') this.mentions(v, clause);
  }

  /** Exact: SUM/AVG/TOTAL/COUNT(m), or SUM/AVG(CASE WHEN <dimcond> THEN m END), COUNT(CASE WHEN <dimcond> THEN 1 END). */
  exactAggregate(name: string, kind: AggregateKind, arg: Node, clause: string): AggInfo {
    const fail: AggInfo = { kind, bounds: null, scale: 0, arg: null, cond: null, counted: kind === 'count' };
    let cond: Node | null = null;
    let value: Node = arg;
    if (arg?.type === 'case') {
      const branches: Node[] = arg.args ?? [];
      if (arg.expr || branches.length !== 1 || branches[0]?.type !== 'when') {
        this.refuse(clause, 'case-form', 'inside an aggregate CASE has exactly one WHEN and no ELSE: AGG(CASE WHEN <condition> THEN <column> END)');
        return fail;
      }
      cond = branches[0].cond;
      this.condition(cond, clause, true);
      value = branches[0].result;
      if (kind === 'count') {
        if (this.numberOf(value) !== 1 || value?.type !== 'number') {
          this.refuse(clause, 'exact-aggregate-form', 'COUNT(CASE WHEN <condition> THEN 1 END) counts with the literal 1 only');
          return fail;
        }
        return { kind, bounds: [0, 1], scale: 0, arg, cond, counted: true };
      }
    }
    if (value?.type === 'column_ref') {
      const col = this.column(value, clause);
      if (!col) return fail;
      if (col.role !== 'measure') {
        this.refuse(
          clause,
          col.role === 'dimension' && kind !== 'count' ? 'aggregate-needs-measure' : col.role === 'attribute' && kind !== 'count' ? 'attribute-aggregate' : 'exact-aggregate-form',
          `${name}() takes a measure in exact releases; "${col.name}" is a ${col.role} (count rows with COUNT(*))`,
        );
        return fail;
      }
      const b = this.measureBounds(col);
      if (kind === 'count') return { kind, bounds: [0, 1], scale: 0, column: col.name, arg, cond, counted: true };
      return { kind, bounds: b, scale: kind === 'mean' ? Math.max(scaleOf(col.type), 4) : scaleOf(col.type), column: col.name, arg, cond, counted: false };
    }
    if (value?.type === 'case') {
      this.refuse(clause, 'case-form', 'CASE is allowed only as the whole argument of an aggregate');
      return fail;
    }
    if (value?.type === 'aggr_func') {
      this.refuse(clause, 'nested-aggregate', 'aggregates cannot be nested');
      return fail;
    }
    if (this.isSubquery(value)) {
      this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
      return fail;
    }
    // name the columns and literals involved (identifier use is refused as such) before refusing the form
    this.mentions(value, clause);
    if (value?.type === 'function' && !VALUE_FUNCTIONS.has(functionName(value))) {
      this.refuse(clause, 'function-allow-list', `function ${functionName(value)}() is not allowed`);
    }
    this.refuse(clause, 'exact-row-expression', `${name}() takes a bare measure column in exact releases, not ${describe(value)}: arithmetic, functions, CAST and literals at row level ${DP_ONLY}`);
    return fail;
  }

  /** DP: a value expression, or CASE WHEN <condition> THEN <value> END (ELSE NULL at most), with bounds. */
  dpAggregate(name: string, kind: AggregateKind, arg: Node, clause: string): AggInfo {
    const fail: AggInfo = { kind, bounds: null, scale: 0, arg: null, cond: null, counted: kind === 'count' };
    let v: { bounds: [number, number] | null; scale: number; plain?: string };
    let cond: Node | null = null;
    if (arg?.type === 'case') {
      const branches: Node[] = arg.args ?? [];
      const whens = branches.filter((b) => b.type === 'when');
      const elses = branches.filter((b) => b.type === 'else');
      if (arg.expr || whens.length !== 1 || elses.some((e) => e.result?.type !== 'null')) {
        this.refuse(clause, 'case-form', 'inside an aggregate CASE must have one WHEN and no ELSE: AGG(CASE WHEN <condition> THEN <value> END)');
        return fail;
      }
      cond = whens[0].cond;
      this.condition(cond, clause, true);
      v = this.value(whens[0].result, clause, name);
    } else {
      v = this.value(arg, clause, name);
    }
    if (kind === 'count') return { kind, bounds: [0, 1], scale: 0, ...(v.plain ? { column: v.plain } : {}), arg, cond, counted: true };
    return { kind, bounds: v.bounds, scale: kind === 'mean' ? Math.max(v.scale, 4) : v.scale, ...(v.plain ? { column: v.plain } : {}), arg, cond, counted: false };
  }

  /** An output expression outside aggregates: aggregates, grouped dimensions, and (exact) arithmetic over aggregates. */
  output(node: Node, clause: string, grouped: Set<string>, calls: Node[], aggs: AggInfo[]): { kind: 'dimension' | 'aggregate' | 'derived'; agg?: AggInfo; column?: string; hasAggregate: boolean } {
    if (this.isSubquery(node)) {
      this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
      return { kind: 'derived', hasAggregate: true };
    }
    if (node?.type === 'aggr_func' || (node?.type === 'function' && AGGREGATES.has(functionName(node)))) {
      const agg = this.aggregate(node, clause);
      calls.push(node);
      aggs.push(agg);
      return { kind: 'aggregate', agg, hasAggregate: true };
    }
    if (node?.type === 'column_ref') {
      const col = this.column(node, clause);
      if (col && col.role !== 'dimension') {
        this.refuse(clause, 'aggregate-only-column', `${col.role} column "${col.name}" may be output only through an aggregate`);
      } else if (col && !grouped.has(col.name)) {
        this.refuse(clause, 'output-not-grouped', `dimension "${col.name}" is output but not in GROUP BY`);
      }
      return { kind: 'dimension', ...(col ? { column: col.name } : {}), hasAggregate: false };
    }
    if (this.literal(node, clause)) return { kind: 'derived', hasAggregate: false };
    if (node?.type === 'binary_expr' && ARITHMETIC.has(String(node.operator))) {
      const l = this.output(node.left, clause, grouped, calls, aggs);
      const r = this.output(node.right, clause, grouped, calls, aggs);
      if (l.kind === 'dimension' || r.kind === 'dimension') this.refuse(clause, 'output-must-aggregate', 'arithmetic on a dimension is not an aggregate');
      return { kind: 'derived', hasAggregate: l.hasAggregate || r.hasAggregate };
    }
    if (node?.type === 'unary_expr' && node.operator === '-') {
      const e = this.output(node.expr, clause, grouped, calls, aggs);
      if (e.kind === 'dimension') this.refuse(clause, 'output-must-aggregate', 'arithmetic on a dimension is not an aggregate');
      return { kind: 'derived', hasAggregate: e.hasAggregate };
    }
    if (node?.type === 'function' && (functionName(node) === 'ROUND' || functionName(node) === 'ABS')) {
      this.arity(functionName(node), (node.args?.value ?? []).length, clause);
      const parts = (node.args?.value ?? []).map((a: Node) => this.output(a, clause, grouped, calls, aggs));
      if (parts.some((p: { kind: string }) => p.kind === 'dimension')) this.refuse(clause, 'output-must-aggregate', 'functions over a dimension are not aggregates');
      return { kind: 'derived', hasAggregate: parts.some((p: { hasAggregate: boolean }) => p.hasAggregate) };
    }
    if (node?.type === 'function') {
      this.refuse(clause, 'function-allow-list', `function ${functionName(node)}() is not allowed in the output (allowed over aggregates: ROUND, ABS)`);
      return { kind: 'derived', hasAggregate: true };
    }
    if (node?.type === 'case') {
      this.refuse(clause, 'case-form', 'CASE is allowed only as the whole argument of an aggregate: AGG(CASE WHEN <condition> THEN <value> END)');
      return { kind: 'derived', hasAggregate: true };
    }
    if (node?.type === 'binary_expr') {
      this.refuse(clause, 'operator-allow-list', `operator ${node.operator} is not allowed in the output`);
      return { kind: 'derived', hasAggregate: true };
    }
    if (node?.type === 'cast' && this.mode === 'exact') {
      this.refuse(clause, 'exact-row-expression', `CAST is not allowed in exact releases`);
      return { kind: 'derived', hasAggregate: true };
    }
    this.refuse(clause, 'expression-allow-list', `${describe(node)} is not allowed in the output`);
    return { kind: 'derived', hasAggregate: true };
  }
}

function functionName(node: Node): string {
  const n = node?.name;
  if (typeof n === 'string') return n.toUpperCase();
  const parts = n?.name;
  if (Array.isArray(parts)) return parts.map((p: Node) => String(p?.value ?? '')).join('.').toUpperCase();
  return String(n ?? '?').toUpperCase();
}

function describe(node: Node): string {
  if (!node || typeof node !== 'object') return 'an empty expression';
  if (node.type === 'binary_expr') return `operator ${node.operator}`;
  if (node.type === 'unary_expr') return `unary ${node.operator}`;
  if (node.type === 'function' || node.type === 'aggr_func') return `function ${functionName(node)}()`;
  if (node.type === 'cast') return 'CAST';
  return `a ${String(node.type ?? 'unknown')} expression`;
}

function decimals(s: string): number {
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : Math.min(6, s.length - dot - 1);
}

function hull(a: [number, number] | null, b: [number, number] | null): [number, number] | null {
  return a && b ? [Math.min(a[0], b[0]), Math.max(a[1], b[1])] : null;
}

function intervalOp(op: string, a: [number, number] | null, b: [number, number] | null): [number, number] | null {
  if (!a || !b) return null;
  switch (op) {
    case '+':
      return [a[0] + b[0], a[1] + b[1]];
    case '-':
      return [a[0] - b[1], a[1] - b[0]];
    case '*': {
      const p = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]];
      return [Math.min(...p), Math.max(...p)];
    }
    case '/': {
      if (b[0] <= 0 && b[1] >= 0) return null;
      const p = [a[0] / b[0], a[0] / b[1], a[1] / b[0], a[1] / b[1]];
      const lo = Math.min(...p);
      const hi = Math.max(...p);
      // SQLite divides integers by truncating toward zero (monotone): include the truncated ends
      return [Math.min(lo, Math.trunc(lo)), Math.max(hi, Math.trunc(hi))];
    }
    default:
      return null;
  }
}

const SAFE_ALIAS = (s: string): boolean => {
  if (s.length < 1 || s.length > 63 || s.startsWith('__')) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || c === 95 || (i > 0 && c >= 48 && c <= 57);
    if (!ok) return false;
  }
  return true;
};

function parse(query: string): { ast?: Node; error?: SqlRefusal } {
  try {
    return { ast: parser.astify(query, DIALECT) };
  } catch (e) {
    return { error: { clause: 'statement', rule: 'syntax', message: `not valid SQL for the restricted grammar: ${String((e as Error).message).slice(0, 200)}` } };
  }
}

/**
 * Check a buyer's query against the dataset schema in the offer's mode; on success return the normalised
 * query and its plan. Refusals name the clause and the rule (`SqlRefusal`); callers raise them as
 * `sql-refused` with `errors`.
 */
export function validateSql(query: string, schema: DatasetSchema, opts: ValidateOptions): SqlValidation {
  const first = checkOnce(query, schema, opts);
  if (!first.ok) return first;
  // The normalised text must be a fixpoint: re-parsing it must pass the same checks and print the same text,
  // so what SQLite executes is exactly the tree that was checked.
  const second = checkOnce(first.normalized, schema, opts);
  if (!second.ok || second.normalized !== first.normalized) {
    return { ok: false, errors: [{ clause: 'statement', rule: 'normalisation-unstable', message: 'the query does not re-serialise to itself; rewrite it more plainly' }] };
  }
  return first;
}

/**
 * The public domain of a DP release grouped by `groupBy`: every combination of the grouped dimensions'
 * declared values, in declared order (one empty key when ungrouped). The release answers exactly these keys,
 * whatever the data or the WHERE clause, so which groups exist reveals nothing.
 */
export function dpDomain(schema: DatasetSchema, groupBy: string[]): string[][] {
  const lists = groupBy.map((g) => {
    const col = schema.columns.find((c) => c.name === g);
    if (!col || col.role !== 'dimension' || !col.values) throw new DomainError('sql-refused', `"${g}" is not a dimension with declared values`);
    return col.values;
  });
  const size = lists.reduce((n, l) => n * l.length, 1);
  if (size > MAX_DP_DOMAIN) throw new DomainError('dp-domain-too-large', `the grouped dimensions have ${size} combinations; a DP release answers at most ${MAX_DP_DOMAIN}`);
  let keys: string[][] = [[]];
  for (const l of lists) keys = keys.flatMap((k) => l.map((v) => [...k, v]));
  return keys;
}

/**
 * SQLite reads "name" as the column `name` when such a column exists and as a string otherwise; node-sql-parser
 * always reads it as a string (and its printer writes every identifier that way). Apply SQLite's rule: a
 * double-quoted name of a schema column becomes that column reference (and is checked as such); any other
 * double-quoted token stays a string and is refused as ambiguous.
 */
function resolveQuotedNames(node: Node, columns: Set<string>): void {
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (v && typeof v === 'object') {
      const n = v as Node;
      if (n.type === 'double_quote_string' && typeof n.value === 'string' && columns.has(n.value.toLowerCase())) {
        (node as Node)[k] = { type: 'column_ref', table: null, column: n.value };
      } else resolveQuotedNames(v, columns);
    }
  }
}

/**
 * Drop the parentheses around every bare column reference: `(amount)` is `amount` to SQLite (its grammar keeps
 * no trace of them), but the parser prints them as `("amount")`, which re-parses as a quoted name that
 * resolveQuotedNames turns into a plain column, so the normalised text was not a fixpoint. Nothing else changes.
 */
function unwrapColumns(node: Node): void {
  if (!node || typeof node !== 'object') return;
  if (node.type === 'column_ref' && node.parentheses) delete node.parentheses;
  for (const v of Object.values(node)) if (v && typeof v === 'object') unwrapColumns(v);
}

/** How deep the tree's typed nodes nest (an operator chain without parentheses nests too). */
function nesting(node: unknown): number {
  if (!node || typeof node !== 'object') return 0;
  let most = 0;
  for (const v of Object.values(node)) if (v && typeof v === 'object') most = Math.max(most, nesting(v));
  return most + (typeof (node as Node).type === 'string' ? 1 : 0);
}

/**
 * The first decoration in the tree that the checker does not read but the parser's printer prints, so that the
 * checked query and the text SQLite runs would differ: COLLATE, a literal's suffix or prefix (`BINARY 'x'`, which
 * SQLite reads as a column followed by a stray string), a qualified function name (`main.SUM(x)`, which SQLite
 * has not), and an aggregate's FILTER, WITHIN GROUP or separator. Null when there is none.
 */
function decoration(node: Node): string | null {
  if (!node || typeof node !== 'object') return null;
  if (node.collate) return 'COLLATE';
  const typed = typeof node.type === 'string';
  if (node.suffix && typed && node.type !== 'cast' && !(Array.isArray(node.suffix) && node.suffix.length === 0)) return 'a literal suffix';
  if (node.prefix && typed) return `a literal prefix (${String(node.prefix).toUpperCase()})`;
  if ((node.type === 'function' || node.type === 'aggr_func') && node.name && typeof node.name === 'object') {
    if (node.name.schema || node.name.prefix || !Array.isArray(node.name.name) || node.name.name.length !== 1) return 'a qualified function name';
  }
  if (node.type === 'aggr_func' && (node.filter || node.within_group_orderby || node.args?.separator)) return 'FILTER, WITHIN GROUP or a separator on an aggregate';
  for (const v of Object.values(node)) {
    const found = v && typeof v === 'object' ? decoration(v) : null;
    if (found) return found;
  }
  return null;
}

/** The buyer's clamp: measures only, each inside the schema's bounds. */
function checkClamp(schema: DatasetSchema, opts: ValidateOptions): SqlRefusal[] {
  const out: SqlRefusal[] = [];
  for (const [name, b] of Object.entries(opts.clamp ?? {})) {
    const col = schema.columns.find((c) => c.name === name);
    if (opts.mode !== 'dp') {
      out.push({ clause: 'clamp', rule: 'clamp-needs-dp', message: 'clamping bounds apply to differentially private releases only' });
      break;
    }
    if (!col || col.role !== 'measure' || !col.bounds) {
      out.push({ clause: 'clamp', rule: 'clamp-outside-schema', message: `"${name}" is not a measure of the dataset` });
      continue;
    }
    const ok = Array.isArray(b) && b.length === 2 && Number.isFinite(b[0]) && Number.isFinite(b[1]) && b[0] <= b[1] && b[0] >= col.bounds[0] && b[1] <= col.bounds[1];
    if (!ok) out.push({ clause: 'clamp', rule: 'clamp-outside-schema', message: `bounds for "${name}" must lie inside the schema's [${col.bounds[0]}, ${col.bounds[1]}] with lower ≤ upper` });
  }
  return out;
}

/** The query's first word as written (leadingKeyword gives it upper-cased). */
const leadingWord = (q: string): string => /[A-Za-z_]+/.exec(q)?.[0] ?? '';

/** SQLite's statement keywords other than SELECT: refused as statements of another kind (SQLite's lang.html). */
const STATEMENT_KEYWORDS: ReadonlySet<string> = new Set([
  'ALTER', 'ANALYZE', 'ATTACH', 'BEGIN', 'COMMIT', 'CREATE', 'DELETE', 'DETACH', 'DROP', 'END', 'EXPLAIN', 'INSERT',
  'PRAGMA', 'REINDEX', 'RELEASE', 'REPLACE', 'ROLLBACK', 'SAVEPOINT', 'UPDATE', 'UPSERT', 'VACUUM', 'VALUES', 'WITH',
]);

function checkOnce(query: string, schema: DatasetSchema, opts: ValidateOptions): SqlValidation {
  const errors: SqlRefusal[] = [];
  const mode: SqlMode = opts.mode === 'dp' ? 'dp' : 'exact';
  const bad = unreadableCharacter(query);
  if (bad) {
    return { ok: false, errors: [{ clause: 'query text', rule: 'query-text-character', message: `${bad.what} at offset ${bad.offset}: queries are printable text without backslashes or control characters, so that the checker and SQLite read the same tokens` }] };
  }
  const keyword = leadingKeyword(query);
  if (keyword !== 'SELECT' && !STATEMENT_KEYWORDS.has(keyword)) {
    // a typo such as SELEC is a syntax error, not a statement of another kind
    const close = keyword.length >= 3 && 'SELECT'.startsWith(keyword.slice(0, 3));
    const message = keyword ? `"${leadingWord(query)}" does not start a SQL statement${close ? ' (did you mean SELECT?)' : ''}` : 'a query starts with SELECT';
    return { ok: false, errors: [{ clause: 'statement', rule: 'syntax', message }] };
  }
  if (keyword !== 'SELECT') {
    return { ok: false, errors: [{ clause: 'statement', rule: 'select-only', message: `only a single SELECT is allowed; ${keyword} statements are refused (no PRAGMA, ATTACH, WITH, writes)` }] };
  }
  const text = scanQueryText(query);
  if (text.some((f) => f.kind === 'comment')) {
    errors.push({ clause: 'query text', rule: 'no-comments', message: 'comments are not allowed (what is approved must be exactly what runs)' });
  }
  const seps = text.filter((f) => f.kind === 'separator');
  if (seps.length > 0) {
    errors.push({ clause: 'statement', rule: 'single-statement', message: 'exactly one statement, without `;`' });
  }
  errors.push(...checkClamp(schema, opts));
  // SQLite would refuse to compile a deeper query on every dataset, after the rows are opened: refuse it here
  const tooDeep: SqlRefusal = { clause: 'query text', rule: 'expression-too-deep', message: `expressions nest at most ${MAX_NESTING / 2} parentheses (${MAX_NESTING} levels) deep` };
  if (parenthesisDepth(query) > MAX_NESTING / 2) return { ok: false, errors: [...errors, tooDeep] };
  const parsed = parse(query);
  if (parsed.error) return { ok: false, errors: [...errors, parsed.error] };
  let ast = parsed.ast;
  if (nesting(ast) > MAX_NESTING) return { ok: false, errors: [...errors, tooDeep] };
  resolveQuotedNames(ast, new Set(schema.columns.map((col) => col.name)));
  unwrapColumns(ast);
  if (Array.isArray(ast)) {
    if (ast.length !== 1) errors.push({ clause: 'statement', rule: 'single-statement', message: `${ast.length} statements found; exactly one is allowed` });
    ast = ast[0];
  }
  if (ast?.type !== 'select') {
    errors.push({ clause: 'statement', rule: 'select-only', message: `${String(ast?.type ?? 'this').toUpperCase()} statements are refused; only SELECT` });
    return { ok: false, errors };
  }
  const decorated = decoration(ast);
  if (decorated) errors.push({ clause: 'statement', rule: 'expression-allow-list', message: `${decorated} is not allowed: COLLATE, literal prefixes and suffixes and qualified function names are read differently by SQLite; compare with the declared values as they are` });
  const clamp = mode === 'dp' && errors.length === 0 ? (opts.clamp ?? {}) : {};
  const c = new Checker(schema, mode, clamp);
  c.errors.push(...errors);

  if (ast.with) c.refuse('WITH', 'no-cte', 'common table expressions are not allowed');
  if (ast._next || ast.set_op) c.refuse(String(ast.set_op ?? 'UNION').toUpperCase(), 'no-set-operation', 'UNION / INTERSECT / EXCEPT are not allowed');
  if (ast.distinct) c.refuse('SELECT', 'no-select-distinct', 'SELECT DISTINCT lists values instead of aggregating them');
  if (ast.limit && (ast.limit.value?.length ?? 0) > 0) c.refuse('LIMIT', 'no-limit', 'LIMIT/OFFSET are not allowed (they select rows by position)');
  if (ast.having) c.refuse('HAVING', 'no-having', 'HAVING filters on exact aggregate values before noise, which would leak them');
  if (ast.into?.expr || ast.into?.type) c.refuse('INTO', 'select-only', 'SELECT … INTO writes');
  if (ast.options) c.refuse('SELECT', 'expression-allow-list', 'select options are not allowed');
  if (ast.window) c.refuse('WINDOW', 'no-window', 'window functions are not allowed');

  // FROM: exactly the dataset table
  const from: Node[] = Array.isArray(ast.from) ? ast.from : [];
  if (from.length !== 1) c.refuse('FROM', 'single-table', `exactly one table, "${DATASET_TABLE}" (no joins)`);
  for (const f of from) {
    if (f.expr || f.ast) c.refuse('FROM', 'no-subquery', 'subqueries are not allowed');
    else if (f.join) c.refuse('FROM', 'single-table', 'joins are not allowed');
    else if (String(f.table).toLowerCase() !== DATASET_TABLE || (f.db && String(f.db).toLowerCase() !== 'main')) {
      c.refuse('FROM', 'single-table', `the only table is "${DATASET_TABLE}"`);
    } else {
      f.table = DATASET_TABLE;
      f.db = null;
      if (f.as) {
        if (!SAFE_ALIAS(String(f.as))) c.refuse('FROM', 'alias', `table alias "${f.as}" is not a plain name`);
        c.tableAlias = String(f.as).toLowerCase();
      }
    }
  }

  // GROUP BY: dimension columns only
  const groupNodes: Node[] = ast.groupby?.columns ?? (Array.isArray(ast.groupby) ? ast.groupby : []);
  const grouped = new Set<string>();
  for (const g of groupNodes) {
    if (g?.type !== 'column_ref') {
      c.refuse('GROUP BY', 'group-by-dimension', `GROUP BY takes dimension column names only, not ${describe(g)}`);
      continue;
    }
    const col = c.column(g, 'GROUP BY');
    if (!col) continue;
    if (col.role !== 'dimension') c.refuse('GROUP BY', 'group-by-dimension', `"${col.name}" is a ${col.role}; only dimensions may be grouped`);
    else grouped.add(col.name);
  }
  if (grouped.size > MAX_GROUP_BY) c.refuse('GROUP BY', 'group-by-dimension', `at most ${MAX_GROUP_BY} grouping columns`);
  if (mode === 'dp') {
    const size = [...grouped].reduce((n, g) => n * (schema.columns.find((x) => x.name === g)?.values?.length ?? 1), 1);
    if (size > MAX_DP_DOMAIN) c.refuse('GROUP BY', 'dp-domain-too-large', `the grouped dimensions have ${size} combinations; a DP release answers every one of them, at most ${MAX_DP_DOMAIN}: group by fewer dimensions`);
  }

  // WHERE: dimension conditions
  if (ast.where) c.condition(ast.where, 'WHERE', false);

  // SELECT list
  const outputs: SqlOutput[] = [];
  const calls: Node[] = [];
  const aggs: AggInfo[] = [];
  const cols: Node[] = Array.isArray(ast.columns) ? ast.columns : [];
  if (cols.length === 0 || ast.columns === '*') c.refuse('SELECT', 'no-star', '`*` outputs rows; name aggregates instead');
  const names = new Set<string>();
  cols.forEach((col: Node, i: number) => {
    const first = calls.length;
    const o = c.output(col.expr, 'SELECT', grouped, calls, aggs);
    if (o.kind !== 'dimension' && !o.hasAggregate) c.refuse('SELECT', 'output-must-aggregate', `output ${i + 1} is neither an aggregate nor a grouped dimension`);
    let name: string;
    if (col.as !== null && col.as !== undefined) {
      name = String(typeof col.as === 'object' ? col.as.value : col.as);
      if (!SAFE_ALIAS(name)) c.refuse('SELECT', 'alias', `output name "${name}" must be lower-case letters, digits and _ (not starting with __)`);
    } else if (o.kind === 'dimension' && o.column) name = o.column;
    else if (o.kind === 'aggregate' && o.agg) name = `${o.agg.kind}_${o.agg.column ?? 'all'}`;
    else name = `expr_${i + 1}`;
    let unique = name;
    for (let n = 2; names.has(unique); n++) unique = `${name}_${n}`;
    if (col.as && unique !== name) c.refuse('SELECT', 'duplicate-output', `output name "${name}" is used twice`);
    names.add(unique);
    col.as = unique;
    if (mode === 'dp' && o.kind === 'derived' && o.hasAggregate) {
      c.refuse('SELECT', 'privacy-unsupported-output', `output "${unique}" is arithmetic on aggregates; a DP release outputs single aggregates (combine the noised values afterwards)`);
    }
    // bounds past the doubles (literals like 1e308 multiplied) cannot be written in the executed clamp
    if (mode === 'dp' && o.kind === 'aggregate' && o.agg && (!o.agg.bounds || !o.agg.bounds.every(Number.isFinite)) && !c.errors.length) {
      c.refuse('SELECT', 'privacy-unsupported-output', `output "${unique}" has no finite per-row bounds (e.g. division by a range containing 0, or %), so its noise cannot be scaled`);
    }
    const j = first;
    outputs.push(
      o.kind === 'dimension'
        ? { name: unique, kind: 'dimension', ...(o.column ? { column: o.column } : {}), bounds: null, scale: 0 }
        : o.kind === 'aggregate' && o.agg
          ? {
              name: unique,
              kind: 'aggregate',
              aggregate: o.agg.kind,
              ...(o.agg.column ? { column: o.agg.column } : {}),
              bounds: o.agg.bounds,
              scale: o.agg.scale,
              ...(mode === 'dp' && o.agg.kind === 'mean' ? { parts: { sum: `__s${j}`, count: `__c${j}` } } : {}),
            }
          : { name: unique, kind: 'derived', bounds: null, scale: 4 },
    );
  });

  // ORDER BY: grouped dimensions only (ordering by exact aggregates would leak them before noise)
  for (const o of (ast.orderby ?? []) as Node[]) {
    const e = o.expr;
    const aliasName = e?.type === 'column_ref' && typeof e.column === 'string' ? e.column.toLowerCase() : null;
    if (aliasName && names.has(aliasName) && !outputs.some((out) => out.name === aliasName && out.kind === 'dimension')) {
      c.refuse('ORDER BY', 'order-by', `ORDER BY takes grouped dimensions only; "${aliasName}" is an aggregate output (ordering by exact values leaks them)`);
    } else if (e?.type === 'column_ref') {
      const col = c.column(e, 'ORDER BY');
      if (col && (col.role !== 'dimension' || !grouped.has(col.name))) c.refuse('ORDER BY', 'order-by', `ORDER BY takes grouped dimensions only; "${col.name}" is not one`);
    } else {
      c.refuse('ORDER BY', 'order-by', `ORDER BY takes grouped dimension names only, not ${describe(e)}`);
    }
  }

  if (calls.length > MAX_AGGREGATES) c.refuse('SELECT', 'too-many-aggregates', `at most ${MAX_AGGREGATES} aggregate calls per query`);
  if (c.errors.length > 0) return { ok: false, errors: c.errors };

  const normalized = parser.sqlify(ast, DIALECT);
  const groupBy = [...grouped];
  return {
    ok: true,
    mode,
    normalized,
    hash: sm3Hex(normalized),
    columnsUsed: [...c.used].sort(),
    outputs,
    plan: buildPlan(ast, schema, groupBy, calls, aggs, mode, clamp),
  };
}

function colRef(name: string): Node {
  return { type: 'column_ref', table: null, column: name };
}

const num = (x: number): Node => (x < 0 ? { type: 'unary_expr', operator: '-', expr: { type: 'number', value: -x } } : { type: 'number', value: x });
const fn = (name: string, args: Node[]): Node => ({ type: 'function', name: { name: [{ type: 'default', value: name }] }, args: { type: 'expr_list', value: args }, over: null });
/** SQLite's scalar MIN/MAX: NULL when the value is NULL, so a clamped CASE still skips its rows. */
const clampNode = (e: Node, [lo, hi]: [number, number]): Node => fn('MAX', [fn('MIN', [e, num(hi)]), num(lo)]);

/** Every reference to a measure the buyer narrowed, clamped to those bounds (DP value expressions). */
function narrowMeasures(node: Node, clamp: Record<string, [number, number]>): Node {
  if (!node || typeof node !== 'object') return node;
  if (node.type === 'column_ref' && typeof node.column === 'string' && clamp[node.column]) return clampNode(node, clamp[node.column]!);
  if (Array.isArray(node)) return node.map((n) => narrowMeasures(n, clamp));
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, narrowMeasures(v, clamp)]));
}

/** DP: the aggregate's argument as executed: narrowed measures, the whole clamped to the output's bounds. */
function clampedArgument(agg: AggInfo, clamp: Record<string, [number, number]>): Node {
  const arg = structuredClone(agg.arg);
  if (arg.type === 'case') {
    arg.args = arg.args.map((b: Node) => (b.type === 'when' ? { ...b, result: narrowMeasures(b.result, clamp) } : b));
    return clampNode(arg, agg.bounds!);
  }
  return clampNode(narrowMeasures(arg, clamp), agg.bounds!);
}

/** An aggregate call node of `name` over `arg`, printed like the parser's own. */
function call(name: string, arg: Node): Node {
  return name === 'TOTAL' ? fn('TOTAL', [arg]) : { type: 'aggr_func', name, args: { expr: arg }, over: null };
}

const castReal = (e: Node): Node => ({ type: 'cast', keyword: 'cast', expr: e, symbol: 'as', target: [{ dataType: 'REAL', suffix: [] }] });

/**
 * The executed form of an output, rewritten so that SQLite cannot raise on any data. Among what the languages
 * allow only two constructs raise: ABS of the most negative integer and SUM's integer overflow (+, -, * fall
 * back to REAL on overflow, / and % by zero are NULL, CAST saturates, TOTAL and AVG sum in floating point).
 * So every ABS reads its argument as REAL, and in DP mode every sum runs as TOTAL (of no rows 0.0, the
 * gate's neutral sum, where SUM gives NULL, which the gate also reads as the neutral value). An exact SUM
 * over a bare bounded measure is kept (an empty group's NULL is part of the exact result); its overflow
 * would need |bounds| × rows beyond 2^63, and any error is a recorded, charged refusal (run.ts).
 */
function cannotRaise(node: Node, mode: SqlMode): Node {
  if (!node || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map((n) => cannotRaise(n, mode));
  if (node.type === 'function' && functionName(node) === 'ABS' && Array.isArray(node.args?.value)) {
    return { ...node, args: { ...node.args, value: node.args.value.map((a: Node) => castReal(cannotRaise(a, mode))) } };
  }
  if (mode === 'dp' && node.type === 'aggr_func' && String(node.name).toUpperCase() === 'SUM') {
    return { ...fn('TOTAL', [cannotRaise(node.args?.expr, mode)]), ...(node.parentheses ? { parentheses: true } : {}) };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, cannotRaise(v, mode)]));
}

/** Build the executed query and the exact selection predicates from the checked tree (deterministic, no user text). */
function buildPlan(ast: Node, schema: DatasetSchema, groupBy: string[], calls: Node[], aggs: AggInfo[], mode: SqlMode, clamp: Record<string, [number, number]>): SqlPlan {
  const identifier = schema.columns.find((col) => col.role === 'identifier');
  const hiddenNames: string[] = [];
  let columns: Node[] = ast.columns;
  if (mode === 'dp') {
    // every aggregate's argument clamped to its bounds: the sensitivity holds by construction
    const parts: Node[] = [];
    columns = ast.columns.map((col: Node) => {
      const j = calls.indexOf(col.expr);
      const agg = aggs[j];
      if (j < 0 || !agg || agg.counted || !agg.arg) return col;
      const arg = clampedArgument(agg, clamp);
      const name = functionName(col.expr);
      if (agg.kind === 'mean') {
        parts.push({ expr: call('TOTAL', structuredClone(arg)), as: `__s${j}` }, { expr: call('COUNT', structuredClone(arg)), as: `__c${j}` });
        hiddenNames.push(`__s${j}`, `__c${j}`);
      }
      return { ...col, expr: call(name, arg) };
    });
    columns = [...columns, ...parts];
  }
  columns = columns.map((col: Node) => ({ ...col, expr: cannotRaise(col.expr, mode) }));
  const hidden: Node[] = [
    ...groupBy.map((g, i) => ({ expr: colRef(g), as: `__g${i}` })),
    { expr: { type: 'aggr_func', name: 'COUNT', args: { expr: { type: 'star', value: '*' } }, over: null }, as: '__rows' },
  ];
  // k counts people in exact releases only; a DP release has no k (and skips the distinct count's cost)
  if (identifier && mode === 'exact') {
    hidden.push({
      expr: { type: 'aggr_func', name: 'COUNT', args: { distinct: 'DISTINCT', expr: colRef(identifier.name), orderby: null }, over: null },
      as: '__subjects',
    });
  }
  const executedWithoutSubjects = identifier && mode === 'exact' ? parser.sqlify({ ...ast, columns: [...columns, ...hidden.slice(0, -1)] }, DIALECT) : undefined;
  const executed = parser.sqlify({ ...ast, columns: [...columns, ...hidden] }, DIALECT);

  // The rows an aggregate covers: WHERE and its CASE condition, functions of the row's dimension values in
  // exact mode — never "argument IS NOT NULL". The sealer refuses empty measures; were one NULL, it would add
  // nothing to SUM/AVG/COUNT(m), a fixed per-row contribution like 0, so each released number stays a
  // symmetric function of each block's rows. DP releases are not partition-tracked.
  const selection =
    mode === 'exact' ? { where: ast.where ? conditionPredicate(ast.where, schema) : null, conditions: aggs.map((agg) => (agg.cond ? conditionPredicate(agg.cond, schema) : null)) } : undefined;
  const partition = partitionPlan(ast, [...columns, ...hidden], groupBy, identifier && mode === 'exact' ? identifier.name : null);
  return {
    executed,
    ...(executedWithoutSubjects ? { executedWithoutSubjects } : {}),
    groupBy,
    aggregates: calls.length,
    hidden: hiddenNames,
    ...(selection ? { selection } : {}),
    ...(partition ? { partition } : {}),
  };
}

/**
 * The executed columns split into per-slice atoms and a final expression over them (PartitionPlan); undefined
 * when some part does not decompose (a COUNT(DISTINCT …) output, a column read outside an aggregate that is
 * not grouped). Changes nothing of what is accepted: it only re-prints the checked tree.
 */
function partitionPlan(ast: Node, columns: Node[], groupBy: string[], identifier: string | null): PartitionPlan | undefined {
  const atoms: { name: string; merge: AtomMerge }[] = [];
  const partialCols: Node[] = groupBy.map((g, i) => ({ expr: colRef(g), as: `__k${i}` }));
  let splittable = true;
  const atom = (expr: Node, merge: AtomMerge): Node => {
    const name = `__a${atoms.length}`;
    atoms.push({ name, merge });
    partialCols.push({ expr: structuredClone(expr), as: name });
    if (merge === 'sum' || merge === 'min' || merge === 'max') partialCols.push({ expr: fn('TYPEOF', [structuredClone(expr)]), as: `${name}_t` });
    return colRef(name);
  };
  const split = (node: Node, as: string): Node => {
    if (!node || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map((n) => split(n, as));
    const total = node.type === 'function' && functionName(node) === 'TOTAL';
    if (node.type === 'aggr_func' || total) {
      const name = total ? 'TOTAL' : String(node.name).toUpperCase();
      const wrap = (e: Node): Node => (node.parentheses ? { ...e, parentheses: true } : e);
      if (node.args?.distinct) {
        if (as === '__subjects' && identifier) return colRef('__subjects');
        splittable = false;
        return node;
      }
      if (name === 'COUNT') return wrap(atom(node, 'count'));
      if (name === 'SUM') return wrap(atom(node, 'sum'));
      if (name === 'TOTAL') return wrap(atom(node, 'total'));
      if (name === 'MIN') return wrap(atom(node, 'min'));
      if (name === 'MAX') return wrap(atom(node, 'max'));
      if (name === 'AVG') {
        // SQLite's AVG: the floating sum over the count of non-NULL values, NULL for none
        const s = atom(call('TOTAL', node.args.expr), 'total');
        const c = atom(call('COUNT', node.args.expr), 'count');
        return { type: 'binary_expr', operator: '/', left: s, right: fn('NULLIF', [c, num(0)]), parentheses: true };
      }
      splittable = false;
      return node;
    }
    if (node.type === 'column_ref' && !groupBy.includes(String(node.column).toLowerCase())) splittable = false;
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, split(v, as)]));
  };
  const finalCols = columns.map((col: Node) => ({ ...col, expr: split(col.expr, col.as) }));
  if (!splittable) return undefined;
  const final = parser.sqlify({ ...ast, columns: finalCols, where: null, groupby: null }, DIALECT);
  let subjects: string | undefined;
  let identifiedRows: string | undefined;
  if (identifier && columns.some((c: Node) => c.as === '__subjects')) {
    identifiedRows = (atom({ type: 'aggr_func', name: 'COUNT', args: { expr: colRef(identifier) }, over: null }, 'count') as { column: string }).column;
    const keys = [...groupBy, identifier].map(colRef);
    subjects = parser.sqlify(
      { ...ast, columns: [...groupBy.map((g, i) => ({ expr: colRef(g), as: `__k${i}` })), { expr: colRef(identifier), as: '__id' }], groupby: { columns: keys, modifiers: [] }, orderby: null },
      DIALECT,
    );
  }
  const partial = parser.sqlify({ ...ast, columns: partialCols, orderby: null }, DIALECT);
  return { keys: [...groupBy], partial, atoms, final, ...(subjects ? { subjects, identifiedRows } : {}) };
}

/**
 * An exact-mode condition (checked: AND/OR/NOT over `dim = | != | IN | NOT IN` declared values) as a
 * dimension predicate for the differencing guard. Dimension values are never NULL in admitted data (the row
 * map refuses a value that is not declared), so SQL's three-valued logic is two-valued here and `!=` is NOT `=`.
 */
export function conditionPredicate(node: Node, schema: DatasetSchema): DimPredicate {
  const byName = new Map(schema.columns.map((col) => [col.name.toLowerCase(), col]));
  const dimOf = (ref: Node): string => {
    let name: unknown = ref?.column;
    if (name && typeof name === 'object') name = (name as Node).expr?.value;
    const col = typeof name === 'string' ? byName.get(name.toLowerCase()) : undefined;
    if (ref?.type !== 'column_ref' || !col || col.role !== 'dimension') throw new DomainError('sql-refused', 'an exact condition compares dimensions only');
    return col.name;
  };
  const valueOf = (lit: Node): string => {
    if (lit?.type !== 'single_quote_string' || typeof lit.value !== 'string') throw new DomainError('sql-refused', 'an exact condition compares with declared values only');
    return lit.value.replaceAll("''", "'");
  };
  const atom = (n: Node): DimPredicate => {
    const op = String(n.operator).toUpperCase();
    if (EQUALITY.has(op)) {
      const [ref, lit] = n.left?.type === 'column_ref' ? [n.left, n.right] : [n.right, n.left];
      const a: DimPredicate = { dim: dimOf(ref), in: [valueOf(lit)] };
      return op === '=' || op === '==' ? a : { not: a };
    }
    if (op === 'IN' || op === 'NOT IN') {
      const a: DimPredicate = { dim: dimOf(n.left), in: (n.right?.value ?? []).map(valueOf) };
      return op === 'IN' ? a : { not: a };
    }
    throw new DomainError('sql-refused', `${describe(n)} is not an exact condition`);
  };
  // node-sql-parser does not always apply AND-before-OR precedence to its tree, and prints it flat (with
  // parentheses only where they were written): SQLite reads that printed text. So the tree is read back as
  // the printed token sequence and parsed again with SQLite's precedence (NOT, then AND, then OR).
  type Token = 'AND' | 'OR' | 'NOT' | { pred: () => DimPredicate };
  const isChain = (n: Node): boolean => n?.type === 'binary_expr' && ['AND', 'OR'].includes(String(n.operator).toUpperCase());
  const tokens = (n: Node, outer: boolean): Token[] => {
    if (n?.parentheses && !outer) return [{ pred: () => chain({ ...n, parentheses: false }) }];
    if (isChain(n)) return [...tokens(n.left, false), String(n.operator).toUpperCase() as 'AND' | 'OR', ...tokens(n.right, false)];
    if (n?.type === 'unary_expr' && String(n.operator).toUpperCase() === 'NOT') return ['NOT', ...tokens(n.expr, false)];
    if (n?.type === 'function' && functionName(n) === 'NOT') {
      // printed NOT(<arg>): its argument is parenthesised
      const args: Node[] = n.args?.value ?? [];
      if (args.length !== 1) throw new DomainError('sql-refused', 'NOT takes one condition');
      return ['NOT', { pred: () => chain({ ...args[0], parentheses: false }) }];
    }
    if (n?.type === 'binary_expr') return [{ pred: () => atom(n) }];
    throw new DomainError('sql-refused', `${describe(n)} is not an exact condition`);
  };
  const chain = (n: Node): DimPredicate => {
    const ts = tokens(n, true);
    let i = 0;
    const operand = (): DimPredicate => {
      const t = ts[i++];
      if (t === 'NOT') return { not: operand() };
      if (t === undefined || typeof t === 'string') throw new DomainError('sql-refused', 'a condition is malformed');
      return t.pred();
    };
    const conj = (): DimPredicate => {
      const parts = [operand()];
      while (ts[i] === 'AND') {
        i++;
        parts.push(operand());
      }
      return parts.length === 1 ? parts[0]! : { and: parts };
    };
    const parts = [conj()];
    while (ts[i] === 'OR') {
      i++;
      parts.push(conj());
    }
    if (i !== ts.length) throw new DomainError('sql-refused', 'a condition is malformed');
    return parts.length === 1 ? parts[0]! : { or: parts };
  };
  const walk = (n: Node): DimPredicate => chain({ ...n, parentheses: false });
  return walk(node);
}

/**
 * The sets of rows one released group of an exact query covers, one per aggregate call: WHERE ∧ equality on
 * every grouped dimension (the group's key) ∧ the call's CASE condition.
 */
export function exactReleaseSets(plan: SqlPlan, key: string[]): DimPredicate[] {
  if (!plan.selection) throw new DomainError('sql-refused', 'only an exact plan has release sets');
  const group = plan.groupBy.map((dim, i): DimPredicate => ({ dim, in: [key[i]!] }));
  const conditions = plan.selection.conditions.length > 0 ? plan.selection.conditions : [null];
  return conditions.map((cond) => andOf([plan.selection!.where, ...group, cond]));
}
