import { readFileSync } from 'node:fs';
import { isDomainError } from '../../contracts/errors.js';

/**
 * Every failure of a command as one line in the user's terms and an exit code from the README's table:
 * API field paths (`body.priceModel.fenPerThousandRows`, `params.id`, `columns.4.type`) become the option,
 * argument, file and column the user wrote; validation jargon becomes what the value must be.
 */

export const EXIT_OK = 0;
/** the server refused, a check failed, a receipt or chain is invalid */
export const EXIT_FAILED = 1;
/** bad options or arguments (the server's "malformed" answers included), unreadable or malformed input files, not logged in */
export const EXIT_USAGE = 2;
/** the server could not be reached, timed out or failed on its side: the same command may work later */
export const EXIT_UNAVAILABLE = 3;
/** interrupted (Ctrl-C), as shells report SIGINT */
export const EXIT_INTERRUPTED = 130;

/** Raised by commands for a usage problem the parser cannot see (missing file, malformed JSON input). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = EXIT_USAGE;
}

/** An error with what the user can do about it, said after the error's own line. */
export class WithHint extends Error {
  override readonly name = 'WithHint';
  constructor(
    readonly error: unknown,
    readonly hint: string,
  ) {
    super(hint);
  }
}

/** What a command tells the error mapper about where its inputs came from. */
export interface ErrorContext {
  /** positional argument names in order (commander's), e.g. ['tradeId'] */
  args?: string[];
  /** positional argument values in order */
  argValues?: unknown[];
  /** long option names the command takes (camelCase as commander stores them) with their values */
  options?: Record<string, unknown>;
  optionNames?: string[];
}

export interface ErrorReport {
  error: { type: string; title: string; status: number; detail: string; extra?: Record<string, unknown> };
}

const DOMAIN_USAGE = new Set(['not-logged-in', 'no-profile', 'bad-profiles-file', 'bad-input-file', 'usage']);
const API_USAGE = new Set(['validation-failed', 'malformed-url', 'malformed-json']);
/** problems about a whole document the user gave as a file (its fields in the detail) */
const FILE_PROBLEMS = new Set(['invalid-policy']);

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** `tradeId` → "trade id" */
const words = (s: string): string => kebab(s).replace(/-/g, ' ');
const ordinal = (n: number): string => `${n}${n % 10 === 1 && n % 100 !== 11 ? 'st' : n % 10 === 2 && n % 100 !== 12 ? 'nd' : n % 10 === 3 && n % 100 !== 13 ? 'rd' : 'th'}`;

/**
 * A field path inside a document the user wrote, in its own words: an array index is replaced by the
 * element's name where it has one (`columns.4.type` → `column "nights" type`), else its position.
 */
export function fieldName(path: readonly (string | number)[], doc?: unknown): string {
  let out = '';
  let node: unknown = doc;
  for (const seg of path) {
    const index = typeof seg === 'number' ? seg : /^\d+$/.test(seg) ? Number(seg) : undefined;
    const child = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
    if (index !== undefined) {
      const name = child !== null && typeof child === 'object' ? (child as { name?: unknown }).name : undefined;
      // "columns" + 4 → 'column "nights"' (or "column 5" when the element has no name)
      out = `${out.replace(/ies$/, 'y').replace(/s$/, '') || 'item'} ${typeof name === 'string' ? `"${name}"` : index + 1}`;
    } else {
      out += (out === '' ? '' : /["\d]$/.test(out) ? ' ' : '.') + String(seg);
    }
    node = child;
  }
  return out;
}

/** zod's messages, said as what the value must be. */
export function plainMessage(message: string): string {
  const m = message.split('\n')[0]!.trim();
  let r: RegExpExecArray | null;
  if ((r = /^Too small: expected (?:number|bigint) to be >(=?)\s*(\S+)/.exec(m))) return r[1] ? `must be at least ${r[2]}` : `must be more than ${r[2]}`;
  if ((r = /^Too big: expected (?:number|bigint) to be <(=?)\s*(\S+)/.exec(m))) return r[1] ? `must be at most ${r[2]}` : `must be less than ${r[2]}`;
  if ((r = /^Too small: expected string to have >=?\s*1 characters?/.exec(m))) return 'must not be empty';
  if ((r = /^Too small: expected string to have >=?\s*(\d+) characters?/.exec(m))) return `must be at least ${r[1]} characters`;
  if ((r = /^Too big: expected string to have <=?\s*(\d+) characters?/.exec(m))) return `must be at most ${r[1]} characters`;
  if ((r = /^Too small: expected array to have >=?\s*(\d+) items?/.exec(m))) return `needs at least ${r[1]} item(s)`;
  if ((r = /^Too big: expected array to have <=?\s*(\d+) items?/.exec(m))) return `takes at most ${r[1]} item(s)`;
  if ((r = /^Invalid input: expected (\w+), received (\w+)/.exec(m))) return r[2] === 'undefined' ? `is missing (a ${r[1]})` : `must be a ${r[1]}, not a ${r[2]}`;
  if ((r = /^Invalid option: expected one of (.+)$/.exec(m))) return `must be one of ${r[1]!.replace(/"/g, '').split('|').join(', ')}`;
  if ((r = /^Unrecognized keys?: (.+)$/.exec(m))) return `has unknown field(s) ${r[1]}`;
  if ((r = /^Invalid discriminator value\. Expected (.+)$/.exec(m))) return `must be one of ${r[1]!.replace(/'/g, '').split(' | ').join(', ')}`;
  if (/^Invalid UUID/i.test(m)) return 'is not a valid id (ids are UUIDs such as 01936a5e-7c1b-7c3e-9a51-3f0d2b8e4c10)';
  if (/^Invalid (ISO )?datetime/i.test(m)) return 'must be a UTC time such as 2026-01-31T12:00:00Z';
  if ((r = /^Invalid string: must match pattern/.exec(m))) return 'has the wrong form';
  return m.replace(/^Invalid input:?\s*/i, 'is invalid: ').replace(/: $/, '');
}

/** Where an API field path came from: an argument, an option, or a field of an input file. */
function userField(path: string, ctx: ErrorContext): string {
  const [part, ...rest] = path.split('.');
  const opts = ctx.options ?? {};
  const names = ctx.optionNames ?? Object.keys(opts);
  if (part === 'params') {
    const args = ctx.args ?? [];
    const key = rest[0] ?? '';
    const at = Math.max(0, args.findIndex((a) => a === key || a.toLowerCase().endsWith(key.toLowerCase())));
    const name = args[at];
    const value = ctx.argValues?.[at];
    return name ? `${words(name)}${value !== undefined ? ` "${String(value)}"` : ''}` : `the ${key} in the URL`;
  }
  if (part === 'query' && rest[0] && names.includes(rest[0])) return `--${kebab(rest[0])}`;
  const argAt = rest.length === 1 ? (ctx.args ?? []).findIndex((a) => a.toLowerCase() === rest[0]!.toLowerCase()) : -1;
  if ((part === 'body' || part === 'query') && argAt >= 0) {
    const value = ctx.argValues?.[argAt];
    return `${words(ctx.args![argAt]!)}${value !== undefined ? ` "${String(value)}"` : ''}`;
  }
  if (part === 'body' && rest.length) {
    const alias: Record<string, string> = { 'purpose.statement': 'purpose', 'purpose.code': 'purposeCode' };
    const joined = rest.join('.');
    if (alias[joined] && names.includes(alias[joined]!)) return `--${kebab(alias[joined]!)}`;
    if (names.includes(rest[0]!) && rest.length === 1) return `--${kebab(rest[0]!)}`;
    // a document read from a file: the computation's own fields, or the whole body (offers, policies)
    if (rest[0] === 'computation' && typeof opts.computation === 'string') return `${opts.computation}: ${fieldName(rest.slice(1), readDoc(opts.computation))}`;
    if (names.includes(rest[0]!)) return `--${kebab(rest[0]!)} ${fieldName(rest.slice(1))}`;
    const file = docFile(ctx);
    if (file) return `${file}: ${fieldName(rest, readDoc(file))}`;
    return fieldName(rest);
  }
  return path;
}

/** The file holding the request's document: `--file`, or a FILE argument. */
function docFile(ctx: ErrorContext): string | undefined {
  if (typeof ctx.options?.file === 'string') return ctx.options.file;
  const at = (ctx.args ?? []).indexOf('file');
  const v = at >= 0 ? ctx.argValues?.[at] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** The document an option named, for naming array elements; nothing if it cannot be read again. */
function readDoc(file: string): unknown {
  try {
    // only read on the way to an error message, after the command read the same file
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Words a SQL statement can start with: any other first word is a typo, not a refused statement. */
const STATEMENT_WORDS = new Set(['SELECT', 'WITH', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'CREATE', 'DROP', 'ALTER', 'PRAGMA', 'ATTACH', 'DETACH', 'VACUUM', 'BEGIN', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'EXPLAIN', 'ANALYZE', 'REINDEX', 'VALUES']);

/** A refusal that is really a syntax error: the restricted grammar's own, or a misspelt first word. */
function sqlSyntax(errors: { rule?: string; message?: string }[]): string | undefined {
  const syntax = errors.find((x) => x.rule === 'syntax');
  if (syntax) return (syntax.message ?? '').replace(/^not valid SQL for the restricted grammar: /, '');
  const first = errors.find((x) => x.rule === 'select-only');
  const word = /allowed; (\S+) statements are refused/.exec(first?.message ?? '')?.[1];
  if (!word || STATEMENT_WORDS.has(word.toUpperCase())) return undefined;
  const close = word.length >= 3 && 'SELECT'.startsWith(word.toUpperCase().slice(0, 3));
  return `"${word}" does not start a SQL statement${close ? ' (did you mean SELECT?)' : ''}`;
}

interface ApiErrorLike {
  name: string;
  status: number;
  type: string;
  slug?: string;
  title: string;
  detail?: string;
  problem?: Record<string, unknown>;
}
const isApiError = (e: unknown): e is ApiErrorLike => (e as { name?: string } | null)?.name === 'ShuyuApiError';
const slugOf = (type: string): string => type.slice(Math.max(type.lastIndexOf('/'), type.lastIndexOf('#')) + 1) || type;

/** The one-line message (without the "shuyu: " prefix), the exit code and the --json document of an error. */
export function describeError(e: unknown, ctx: ErrorContext = {}): { line: string; code: number; report: ErrorReport } {
  if (e instanceof WithHint) {
    const d = describeError(e.error, ctx);
    return { ...d, line: `${d.line}; ${e.hint}`, report: { error: { ...d.report.error, extra: { ...d.report.error.extra, hint: e.hint } } } };
  }
  if (isApiError(e)) {
    const slug = slugOf(e.type);
    const errors = Array.isArray(e.problem?.errors) ? (e.problem!.errors as { path?: string; message?: string }[]) : [];
    let line: string;
    let code: number;
    if (e.status === 0 || slug === 'unreachable') {
      // the SDK's detail is "METHOD URL: cause"
      const rest = (e.detail ?? '').replace(/^[A-Z]+ /, '');
      const at = rest.lastIndexOf(': ');
      const url = at > 0 ? rest.slice(0, at) : 'its URL';
      const cause = at > 0 ? rest.slice(at + 2) : '';
      const why: Record<string, string> = { ECONNREFUSED: 'connection refused', ENOTFOUND: 'no such host', TimeoutError: 'no answer in time', ECONNRESET: 'connection reset', EHOSTUNREACH: 'host unreachable', TypeError: 'connection failed' };
      line = `cannot reach the server at ${url}${cause ? ` (${why[cause] ?? cause})` : ''}: is it running, and is the URL right? (shuyu profiles shows each profile's URL)`;
      code = EXIT_UNAVAILABLE;
      return { line, code, report: { error: { type: e.type, title: 'server unreachable', status: 0, detail: line } } };
    } else if (errors.length && API_USAGE.has(slug)) {
      const first = errors[0]!;
      line = `${userField(first.path ?? '', ctx)} ${plainMessage(first.message ?? 'is invalid')}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`;
      code = EXIT_USAGE;
    } else if (FILE_PROBLEMS.has(slug) && docFile(ctx)) {
      // "path: message; path: message" about the document the user gave in --file / FILE
      const first = /^([\w.]+): (.+?)(?:; |$)/.exec(e.detail ?? '');
      const file = docFile(ctx)!;
      line = first ? `${file}: ${fieldName(first[1]!.split('.'), readDoc(file))} ${plainMessage(first[2]!)}` : `${file}: ${e.detail ?? e.title}`;
      code = EXIT_USAGE;
    } else if (slug === 'sql-refused' && sqlSyntax(errors) !== undefined) {
      const where = typeof ctx.options?.computation === 'string' ? ` in ${ctx.options.computation}` : '';
      line = `SQL syntax error${where}: ${sqlSyntax(errors)}`;
      code = EXIT_USAGE;
    } else {
      line = e.detail && e.detail !== e.title ? e.detail : e.title;
      code = API_USAGE.has(slug) ? EXIT_USAGE : e.status >= 500 ? EXIT_UNAVAILABLE : EXIT_FAILED;
      if (e.status === 403) line = `${line} — your role or organisation may not do this`;
    }
    const status = e.status;
    return {
      line: `${line} (${status ? `${status} ` : ''}${slug})`,
      code,
      report: { error: { type: e.type, title: e.title, status, detail: e.detail ?? line, ...(e.problem && Object.keys(e.problem).length ? { extra: e.problem } : {}) } },
    };
  }
  if (isDomainError(e)) {
    const code = DOMAIN_USAGE.has(e.type) ? EXIT_USAGE : EXIT_FAILED;
    return {
      line: `${e.message} (${e.type})`,
      code,
      report: { error: { type: e.type, title: e.message, status: code === EXIT_USAGE ? 400 : e.type === 'forbidden' ? 403 : 422, detail: e.message, ...(Object.keys(e.detail).length ? { extra: e.detail } : {}) } },
    };
  }
  if (e instanceof UsageError || (e as { name?: string } | null)?.name === 'UsageError') {
    const message = (e as Error).message;
    return { line: message, code: EXIT_USAGE, report: { error: { type: 'usage', title: 'usage error', status: 400, detail: message } } };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { line: message, code: EXIT_FAILED, report: { error: { type: 'internal', title: 'the command failed', status: 500, detail: message } } };
}
