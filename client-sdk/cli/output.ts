import { type ErrorContext, describeError } from './errors.js';

export { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, UsageError } from './errors.js';

/**
 * One way for every command to answer: `--json` → exactly one JSON document on stdout and nothing
 * else there; otherwise a short human text or table. Errors: one line on stderr and the README's exit
 * codes (errors.ts).
 */

export interface OutputOptions {
  json?: boolean;
}

/**
 * Text for a terminal with the control characters a CSV cell, a file name or a server message may carry
 * shown as escapes (tab and newline kept): an escape sequence in the data never reaches the terminal as one,
 * nor does a bidirectional override reorder what the owner reads.
 */
export function visible(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function print(opts: OutputOptions, data: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else {
    const text = visible(human());
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

/** Wraps a command action: errors become one printed line (and a --json document) and an exit code, never a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // commander passes (...positionals, options, command). Options of a parent command (e.g. `--json`
    // given to `catalog` before or after `show`) belong to this invocation too: merge them in.
    const cmd = args[args.length - 1] as CommandLike | undefined;
    const opts = (cmd?.optsWithGlobals?.() ?? args[args.length - 2] ?? {}) as OutputOptions & Record<string, unknown>;
    if (args.length >= 2 && cmd?.optsWithGlobals) args[args.length - 2] = opts;
    try {
      const code = await fn(...args);
      if (typeof code === 'number' && code !== 0) process.exitCode = code;
    } catch (e) {
      const ctx: ErrorContext = {
        args: cmd?.registeredArguments?.map((a) => a.name()),
        argValues: args.slice(0, Math.max(0, args.length - 2)),
        options: opts,
        optionNames: cmd?.options?.map((o) => o.attributeName()),
      };
      const { line, code, report } = describeError(e, ctx);
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      // one line, whatever the message holds (a multi-line message from a library included)
      process.stderr.write(`shuyu: ${visible(line.replace(/\s*[\r\n]+\s*/g, ' '))}\n`);
      if (report.error.type === 'internal' && process.env.SHUYU_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
      process.exitCode = code;
    }
  };
}

interface CommandLike {
  optsWithGlobals?: () => unknown;
  registeredArguments?: { name(): string }[];
  options?: { attributeName(): string }[];
}
