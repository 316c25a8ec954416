import NodeSqlParser from 'node-sql-parser';
import { sm3Hex } from '../crypto/index.js';
import { scaleOf, type Column, type DatasetSchema } from '../../contracts/dataset/schema.js';
import { leadingKeyword, scanQueryText } from './lexer.js';

/**
 * Restricted, aggregate-only SQL, checked on node-sql-parser's parse tree (sqlite dialect), in the spirit of
 * SecretFlow SCQL's column control list. Everything is allow-listed: a node type, operator or function the
 * checker does not know is refused. Column rules (contracts/dataset/schema.ts roles):
 * - identifier: never anywhere in a query (it exists for verify/joins only);
 * - measure / attribute: only inside an aggregate's argument; attributes may only be counted or compared;
 * - dimension: may be grouped, filtered (WHERE), ordered, output when grouped, or used inside aggregates.
 * Inside an aggregate the argument is `*` (COUNT), a value expression, or `CASE WHEN <condition> THEN <value> END`
 * with ONE branch and no ELSE — so every aggregate is "a fixed function of a row, summed over the rows that meet
 * a condition", which is what the differencing defence (enclave/privacy/differencing.ts) reasons about.
 * The query executed is the parser's re-serialisation of the checked tree; its SM3 hash is what is approved.
 */

const { Parser } = NodeSqlParser;
const parser = new Parser();
const DIALECT = { database: 'sqlite' };

import { DATASET_TABLE, ROW_COLUMN } from './names.js';

export { DATASET_TABLE, ROW_COLUMN };

export type AggregateKind = 'count' | 'sum' | 'mean' | 'min' | 'max';

export interface SqlOutput {
  name: string;
  kind: 'dimension' | 'aggregate' | 'derived';
  /** dimension outputs: the column; aggregates: the column aggregated when it is a plain column */
  column?: string;
  aggregate?: AggregateKind;
  /** per-row contribution bounds (from schema bounds by interval arithmetic); null when unbounded/unknown */
  bounds: [number, number] | null;
  /** decimal places the value naturally has */
  scale: number;
}

export interface SqlRefusal {
  clause: string;
  rule: string;
  message: string;
}

/** What the sandbox runs, derived deterministically from the normalised query. */
export interface SqlPlan {
  /** normalised query + hidden columns: `__g<i>` group values, `__rows`, and `__subjects` when there is an identifier */
  executed: string;
  /**
   * `executed` without its `__subjects` column (present only when the schema has an identifier): the
   * sandbox runs this first and counts distinct identifiers only when a bound cannot decide k (sandbox.ts)
   */
  executedWithoutSubjects?: string;
  /**
   * one row per dataset row that passes WHERE: `__row`, `__g<i>`, and `__m<j>` = 1 when the row feeds aggregate j;
   * in no particular order (the sandbox places each at its row: sorting would cost a sort of every row)
   */
  membership: string;
  groupBy: string[];
  /** number of aggregate calls (membership columns) */
  aggregates: number;
}

export type SqlValidation =
  | { ok: true; normalized: string; hash: string; columnsUsed: string[]; outputs: SqlOutput[]; plan: SqlPlan }
  | { ok: false; errors: SqlRefusal[] };

/* The parser's AST is loosely typed; every access below is checked against an allow-list before use. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = any;

const AGGREGATES = new Set(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX', 'TOTAL']);
const VALUE_FUNCTIONS = new Set(['ABS', 'ROUND', 'COALESCE', 'IFNULL']);
const COMPARISON = new Set(['=', '==', '!=', '<>', '<', '>', '<=', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
const CAST_TYPES = new Set(['INTEGER', 'INT', 'REAL', 'NUMERIC', 'DECIMAL', 'FLOAT', 'DOUBLE']);
const MAX_GROUP_BY = 3;
/** membership bits per row are a 31-bit mask */
const MAX_AGGREGATES = 24;

class Checker {
  readonly errors: SqlRefusal[] = [];
  readonly used = new Set<string>();
  private readonly byName: Map<string, Column>;
  tableAlias: string | null = null;

  constructor(readonly schema: DatasetSchema) {
    this.byName = new Map(schema.columns.map((c) => [c.name, c]));
  }

  refuse(clause: string, rule: string, message: string): void {
    if (!this.errors.some((e) => e.clause === clause && e.rule === rule && e.message === message)) this.errors.push({ clause, rule, message });
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

  /** Literal nodes allowed anywhere; returns true when the node is one. */
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

  /** A condition (WHERE, or CASE WHEN inside an aggregate). `insideAggregate` lets measures/attributes in. */
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
      if (COMPARISON.has(op)) {
        this.operand(node.left, clause, insideAggregate);
        this.operand(node.right, clause, insideAggregate);
        return;
      }
      if (op === 'IN' || op === 'NOT IN' || op === 'BETWEEN' || op === 'NOT BETWEEN') {
        this.operand(node.left, clause, insideAggregate);
        const list = node.right;
        if (list?.type !== 'expr_list' || !Array.isArray(list.value)) return this.refuse(clause, 'no-subquery', `${op} takes a list of literals`);
        for (const v of list.value) {
          if (this.isSubquery(v)) this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
          else if (!this.literal(v, clause)) this.refuse(clause, 'literal-list', `${op} takes literals only`);
        }
        return;
      }
      if (op === 'IS' || op === 'IS NOT') {
        this.operand(node.left, clause, insideAggregate);
        if (node.right?.type !== 'null') this.refuse(clause, 'operator-allow-list', `${op} is allowed only with NULL`);
        return;
      }
      return this.refuse(clause, 'operator-allow-list', `operator ${op} is not allowed in conditions (LIKE, GLOB, REGEXP, MATCH and || are string operations)`);
    }
    if (node.type === 'function' && functionName(node) === 'NOT') {
      for (const a of node.args?.value ?? []) this.condition(a, clause, insideAggregate);
      return;
    }
    if (node.type === 'unary_expr' && String(node.operator).toUpperCase() === 'NOT') return this.condition(node.expr, clause, insideAggregate);
    if (node.type === 'column_ref' || this.literal(node, clause)) return this.operand(node, clause, insideAggregate);
    if (node.type === 'function' && functionName(node) === 'EXISTS') return this.refuse(clause, 'no-subquery', 'EXISTS subqueries are not allowed');
    this.refuse(clause, 'expression-allow-list', `${describe(node)} is not allowed in a condition`);
  }

  /** A comparison operand: a column or a literal (no functions over columns: no string functions over attributes). */
  operand(node: Node, clause: string, insideAggregate: boolean): void {
    if (this.isSubquery(node)) return this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
    if (node?.type === 'column_ref') {
      const col = this.column(node, clause);
      if (col && !insideAggregate && col.role !== 'dimension') {
        this.refuse(clause, 'aggregate-only-column', `${col.role} column "${col.name}" may be used only inside an aggregate (e.g. SUM(CASE WHEN ${col.name} > … THEN … END))`);
      }
      return;
    }
    if (this.literal(node, clause)) return;
    if (node?.type === 'unary_expr' && node.operator === '-' && (node.expr?.type === 'number' || node.expr?.type === 'bigint')) return;
    if (node?.type === 'function' || node?.type === 'aggr_func') {
      return this.refuse(clause, 'function-allow-list', `function ${functionName(node)}() is not allowed in a condition: compare columns with literals`);
    }
    this.refuse(clause, 'expression-allow-list', `${describe(node)} is not allowed as a comparison operand`);
  }

  /** A value expression inside an aggregate; returns per-row bounds (null = unbounded) and scale. */
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
        return { bounds: col.bounds ? [col.bounds[0], col.bounds[1]] : null, scale: scaleOf(col.type), plain: col.name };
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
        return this.value(node.expr, clause, agg);
      }
      case 'function': {
        const name = functionName(node);
        if (!VALUE_FUNCTIONS.has(name)) {
          this.refuse(clause, 'function-allow-list', `function ${name}() is not allowed (allowed inside aggregates: ${[...VALUE_FUNCTIONS].join(', ')})`);
          return none;
        }
        const args: Node[] = node.args?.value ?? [];
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

  /** An aggregate call; returns its output description (bounds/scale) and the argument node (null for COUNT(*)). */
  aggregate(node: Node, clause: string): { kind: AggregateKind; bounds: [number, number] | null; scale: number; column?: string; arg: Node | null } {
    const name = functionName(node);
    const fail = { kind: 'count' as AggregateKind, bounds: null, scale: 0, arg: null };
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
    if (arg?.type === 'star') {
      if (name !== 'COUNT') this.refuse(clause, 'no-star', `${name}(*) is not an aggregate`);
      return { kind, bounds: [0, 1], scale: 0, arg: null };
    }
    let v: { bounds: [number, number] | null; scale: number; plain?: string };
    if (arg?.type === 'case') {
      const branches: Node[] = arg.args ?? [];
      const whens = branches.filter((b) => b.type === 'when');
      const elses = branches.filter((b) => b.type === 'else');
      if (arg.expr || whens.length !== 1 || elses.some((e) => e.result?.type !== 'null')) {
        this.refuse(clause, 'case-form', 'inside an aggregate CASE must have one WHEN and no ELSE: AGG(CASE WHEN <condition> THEN <value> END)');
        return fail;
      }
      this.condition(whens[0].cond, clause, true);
      v = this.value(whens[0].result, clause, name);
      v = { bounds: hull(v.bounds, [0, 0]), scale: v.scale, ...(v.plain ? { plain: v.plain } : {}) };
    } else {
      v = this.value(arg, clause, name);
    }
    if (name === 'COUNT') return { kind, bounds: [0, 1], scale: 0, ...(v.plain ? { column: v.plain } : {}), arg };
    return { kind, bounds: v.bounds, scale: kind === 'mean' ? Math.max(v.scale, 4) : v.scale, ...(v.plain ? { column: v.plain } : {}), arg };
  }

  /** An output expression outside aggregates: aggregates, grouped dimensions, and arithmetic over aggregates. */
  output(node: Node, clause: string, grouped: Set<string>, calls: Node[]): { kind: 'dimension' | 'aggregate' | 'derived'; agg?: ReturnType<Checker['aggregate']>; column?: string; hasAggregate: boolean } {
    if (this.isSubquery(node)) {
      this.refuse(clause, 'no-subquery', 'subqueries are not allowed');
      return { kind: 'derived', hasAggregate: true };
    }
    if (node?.type === 'aggr_func' || (node?.type === 'function' && AGGREGATES.has(functionName(node)))) {
      const agg = this.aggregate(node, clause);
      calls.push(node);
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
      const l = this.output(node.left, clause, grouped, calls);
      const r = this.output(node.right, clause, grouped, calls);
      if (l.kind === 'dimension' || r.kind === 'dimension') this.refuse(clause, 'output-must-aggregate', 'arithmetic on a dimension is not an aggregate');
      return { kind: 'derived', hasAggregate: l.hasAggregate || r.hasAggregate };
    }
    if (node?.type === 'unary_expr' && node.operator === '-') {
      const e = this.output(node.expr, clause, grouped, calls);
      return { kind: 'derived', hasAggregate: e.hasAggregate };
    }
    if (node?.type === 'function' && (functionName(node) === 'ROUND' || functionName(node) === 'ABS')) {
      const parts = (node.args?.value ?? []).map((a: Node) => this.output(a, clause, grouped, calls));
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
  if (node.type === 'function' || node.type === 'aggr_func') return `function ${functionName(node)}()`;
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
      return [Math.min(...p), Math.max(...p)];
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

/** Check a buyer's query against the dataset schema; on success return the normalised query and its plan. */
export function validateSql(query: string, schema: DatasetSchema): SqlValidation {
  const first = checkOnce(query, schema);
  if (!first.ok) return first;
  // The normalised text must be a fixpoint: re-parsing it must pass the same checks and print the same text,
  // so what SQLite executes is exactly the tree that was checked.
  const second = checkOnce(first.normalized, schema);
  if (!second.ok || second.normalized !== first.normalized) {
    return { ok: false, errors: [{ clause: 'statement', rule: 'normalisation-unstable', message: 'the query does not re-serialise to itself; rewrite it more plainly' }] };
  }
  return first;
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

function checkOnce(query: string, schema: DatasetSchema): SqlValidation {
  const errors: SqlRefusal[] = [];
  const keyword = leadingKeyword(query);
  if (keyword !== 'SELECT') {
    return { ok: false, errors: [{ clause: 'statement', rule: 'select-only', message: `only a single SELECT is allowed; ${keyword || 'this'} statements are refused (no PRAGMA, ATTACH, WITH, writes)` }] };
  }
  const text = scanQueryText(query);
  if (text.some((f) => f.kind === 'comment')) {
    errors.push({ clause: 'query text', rule: 'no-comments', message: 'comments are not allowed (what is approved must be exactly what runs)' });
  }
  const seps = text.filter((f) => f.kind === 'separator');
  if (seps.length > 0) {
    errors.push({ clause: 'statement', rule: 'single-statement', message: 'exactly one statement, without `;`' });
  }
  const parsed = parse(query);
  if (parsed.error) return { ok: false, errors: [...errors, parsed.error] };
  let ast = parsed.ast;
  resolveQuotedNames(ast, new Set(schema.columns.map((col) => col.name)));
  if (Array.isArray(ast)) {
    if (ast.length !== 1) errors.push({ clause: 'statement', rule: 'single-statement', message: `${ast.length} statements found; exactly one is allowed` });
    ast = ast[0];
  }
  if (ast?.type !== 'select') {
    errors.push({ clause: 'statement', rule: 'select-only', message: `${String(ast?.type ?? 'this').toUpperCase()} statements are refused; only SELECT` });
    return { ok: false, errors };
  }
  const c = new Checker(schema);
  c.errors.push(...errors);

  if (ast.with) c.refuse('WITH', 'no-cte', 'common table expressions are not allowed');
  if (ast._next || ast.set_op) c.refuse(String(ast.set_op ?? 'UNION').toUpperCase(), 'no-set-operation', 'UNION / INTERSECT / EXCEPT are not allowed');
  if (ast.distinct) c.refuse('SELECT', 'no-select-distinct', 'SELECT DISTINCT lists values instead of aggregating them');
  if (ast.limit && (ast.limit.value?.length ?? 0) > 0) c.refuse('LIMIT', 'no-limit', 'LIMIT/OFFSET are not allowed (they select rows by position)');
  if (ast.having) c.refuse('HAVING', 'no-having', 'HAVING filters on exact aggregate values before noise, which would leak them');
  if (ast.into?.expr || ast.into?.type) c.refuse('INTO', 'select-only', 'SELECT … INTO writes');
  if (ast.options) c.refuse('SELECT', 'expression-allow-list', 'select options are not allowed');

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

  // WHERE: dimension conditions
  if (ast.where) c.condition(ast.where, 'WHERE', false);

  // SELECT list
  const outputs: SqlOutput[] = [];
  const calls: Node[] = [];
  const cols: Node[] = Array.isArray(ast.columns) ? ast.columns : [];
  if (cols.length === 0 || ast.columns === '*') c.refuse('SELECT', 'no-star', '`*` outputs rows; name aggregates instead');
  const names = new Set<string>();
  cols.forEach((col: Node, i: number) => {
    const o = c.output(col.expr, 'SELECT', grouped, calls);
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
    outputs.push(
      o.kind === 'dimension'
        ? { name: unique, kind: 'dimension', ...(o.column ? { column: o.column } : {}), bounds: null, scale: 0 }
        : o.kind === 'aggregate' && o.agg
          ? { name: unique, kind: 'aggregate', aggregate: o.agg.kind, ...(o.agg.column ? { column: o.agg.column } : {}), bounds: o.agg.bounds, scale: o.agg.scale }
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
    normalized,
    hash: sm3Hex(normalized),
    columnsUsed: [...c.used].sort(),
    outputs,
    plan: buildPlan(ast, schema, groupBy, calls),
  };
}

function colRef(name: string): Node {
  return { type: 'column_ref', table: null, column: name };
}

/** Build the executed and membership queries from the checked tree (deterministic, no user text). */
function buildPlan(ast: Node, schema: DatasetSchema, groupBy: string[], calls: Node[]): SqlPlan {
  const identifier = schema.columns.find((col) => col.role === 'identifier');
  const hidden: Node[] = [
    ...groupBy.map((g, i) => ({ expr: colRef(g), as: `__g${i}` })),
    { expr: { type: 'aggr_func', name: 'COUNT', args: { expr: { type: 'star', value: '*' } }, over: null }, as: '__rows' },
  ];
  if (identifier) {
    hidden.push({
      expr: { type: 'aggr_func', name: 'COUNT', args: { distinct: 'DISTINCT', expr: colRef(identifier.name), orderby: null }, over: null },
      as: '__subjects',
    });
  }
  const executedWithoutSubjects = identifier ? parser.sqlify({ ...ast, columns: [...ast.columns, ...hidden.slice(0, -1)] }, DIALECT) : undefined;
  const executed = parser.sqlify({ ...ast, columns: [...ast.columns, ...hidden] }, DIALECT);

  const membershipCols: Node[] = [
    { expr: colRef(ROW_COLUMN), as: '__row' },
    ...groupBy.map((g, i) => ({ expr: colRef(g), as: `__g${i}` })),
    ...calls.map((call, j) => {
      const arg: Node = call.type === 'aggr_func' ? call.args?.expr : call.args?.value?.[0];
      const feeds: Node =
        !arg || arg.type === 'star'
          ? { type: 'number', value: 1 }
          : { type: 'binary_expr', operator: 'IS NOT', left: { ...structuredClone(arg), parentheses: true }, right: { type: 'null', value: null } };
      return { expr: feeds, as: `__m${j}` };
    }),
  ];
  const membership = parser.sqlify(
    { ...ast, columns: membershipCols, groupby: null, having: null, orderby: null, limit: null },
    DIALECT,
  );
  return { executed, ...(executedWithoutSubjects ? { executedWithoutSubjects } : {}), membership, groupBy, aggregates: calls.length };
}
