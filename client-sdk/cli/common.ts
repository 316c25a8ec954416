import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import { type Connection, resolveConnection } from './profiles.js';
import { UsageError } from './output.js';

/** Options every command of the SDK side takes. */
export interface CommonOptions {
  json?: boolean;
  profile?: string;
}

export function withCommon(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document on stdout (for scripts) instead of text')
    .option('--profile <name>', 'profile in ~/.config/shuyu/profiles.json (default: SHUYU_PROFILE, the current one, or "default")');
}

export const connection = (opts: CommonOptions): Connection => resolveConnection(opts.profile);

/** Reads and validates a JSON input file; a missing or malformed file is a usage error (exit 2). */
export function readJsonFile<T extends z.ZodType>(path: string, schema: T, what: string): z.output<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${what} ${path}: ${issue.path.length ? issue.path.join('.') + ': ' : ''}${issue.message}`);
  }
  return parsed.data;
}

export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** commander argument parser for positive integers. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}
