import { DomainError, isDomainError } from '../../contracts/errors.js';

/**
 * One way for every command to answer: `--json` → exactly one JSON document on stdout and nothing
 * else there; otherwise a short human text or table. Exit codes: 0 ok, 1 failed (invalid receipt,
 * refused request, failed check), 2 usage (bad arguments, unreadable input files).
 */

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Raised by commands for a usage problem the parser cannot see (missing file, malformed JSON input). */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
}

export interface OutputOptions {
  json?: boolean;
}

export function print(opts: OutputOptions, data: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else {
    const text = human();
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

/** Display width: CJK and full-width characters take two terminal cells. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    w += (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd)
      ? 2
      : 1;
  }
  return w;
}

const pad = (s: string, width: number, right: boolean): string => {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(s)));
  return right ? fill + s : s + fill;
};

export interface TableColumn<T> {
  header: string;
  get: (row: T) => unknown;
  align?: 'left' | 'right';
}

export function table<T>(rows: readonly T[], columns: readonly TableColumn<T>[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) => columns.map((c) => {
    const v = c.get(r);
    return v === undefined || v === null ? '' : String(v);
  }));
  const widths = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[i]!))));
  const line = (values: string[]): string =>
    values.map((v, i) => pad(v, widths[i]!, columns[i]!.align === 'right')).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Integer fen → "¥12.34" for people; JSON output keeps the integer. */
export const yuan = (fen: number): string => {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
};

/** Anything an API error or domain error carries, in one shape for both outputs. */
export interface ErrorReport {
  error: { type: string; title: string; status?: number; detail?: string; extra?: Record<string, unknown> };
}

export function errorReport(e: unknown): ErrorReport {
  const err = e as { name?: string; status?: number; type?: string; title?: string; detail?: string; message?: string };
  if (err && err.name === 'ShuyuApiError') {
    return { error: { type: err.type ?? 'about:blank', title: err.title ?? 'request failed', status: err.status, detail: err.detail } };
  }
  if (isDomainError(e)) return { error: { type: e.type, title: e.message, extra: (e as DomainError).detail } };
  if (e instanceof UsageError) return { error: { type: 'usage', title: e.message } };
  return { error: { type: 'internal', title: (e as Error)?.message ?? String(e) } };
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (isDomainError(e) && ['not-logged-in', 'no-profile', 'bad-profiles-file', 'bad-input-file'].includes(e.type)) return EXIT_USAGE;
  return EXIT_FAILED;
}

/** Wraps a command action: errors become a printed report and an exit code, never a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // commander passes (...positionals, options, command). Options of a parent command (e.g. `--json`
    // given to `catalog` before or after `show`) belong to this invocation too: merge them in.
    const cmd = args[args.length - 1] as { optsWithGlobals?: () => OutputOptions } | undefined;
    const opts = (cmd?.optsWithGlobals?.() ?? args[args.length - 2] ?? {}) as OutputOptions;
    if (args.length >= 2 && cmd?.optsWithGlobals) args[args.length - 2] = opts;
    try {
      const code = await fn(...args);
      if (typeof code === 'number' && code !== 0) process.exitCode = code;
    } catch (e) {
      const report = errorReport(e);
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      const { type, title, detail, status } = report.error;
      // one line, whatever the message holds (a multi-line message from a library included)
      const line = `${title}${detail ? ` — ${detail}` : ''}${status ? ` (${status} ${type})` : type !== 'internal' ? ` (${type})` : ''}`.replace(/\s*[\r\n]+\s*/g, ' ');
      process.stderr.write(`shuyu: ${line}\n`);
      if (report.error.type === 'internal' && process.env.SHUYU_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
      process.exitCode = exitCodeFor(e);
    }
  };
}
