import { closeSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import { UsageError, fieldName, plainMessage } from './errors.js';

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

/** Why a path cannot be used, in a few words (the errno code, or what it means for the common ones). */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return `permission denied (${code})`;
  if (code === 'ENOTDIR') return 'a part of the path is not a directory (ENOTDIR)';
  if (code === 'ELOOP') return 'too many symbolic links (ELOOP)';
  return code ?? (e instanceof Error ? e.message.split('\n')[0]! : String(e));
}

/**
 * An input file the command will read: it must exist, be a file (not a directory) and open for reading —
 * checked before anything else happens (no temporary bundle, no request), so a wrong path is a usage error.
 */
export function inputFile(path: string, what: string): string {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${fsReason(e)}`);
  }
  if (isDir) throw new UsageError(`cannot read ${what} ${path}: it is a directory, not a file`);
  try {
    closeSync(openSync(path, 'r'));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${fsReason(e)}`);
  }
  return path;
}

/**
 * A directory path the command will use: an existing one must be a directory; a missing one is fine unless
 * `mustExist` (the command creates it later, and removes it again if it fails).
 */
export function dirPath(path: string, what: string, opts: { mustExist?: boolean } = {}): string {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !opts.mustExist) return path;
    throw new UsageError(`cannot use ${what} ${path}: ${fsReason(e)}`);
  }
  if (!isDir) throw new UsageError(`cannot use ${what} ${path}: it is not a directory`);
  return path;
}

/** An output file the command will write: a directory or an unwritable place there is a usage error, found before any work. */
export function outputFile(path: string, what: string): string {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot write ${what} ${path}: ${fsReason(e)}`);
  }
  if (isDir) throw new UsageError(`cannot write ${what} ${path}: it is a directory`);
  return path;
}

export function writeOutputFile(path: string, data: string | Uint8Array, what: string, mode?: number): void {
  try {
    writeFileSync(path, data, mode === undefined ? {} : { mode });
  } catch (e) {
    throw new UsageError(`cannot write ${what} ${path}: ${fsReason(e)}`);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads and validates a JSON input file; a missing, non-UTF-8 or malformed file is a usage error (exit 2). */
export function readJsonFile<T extends z.ZodType>(path: string, schema: T, what: string): z.output<T> {
  const text = readTextFile(path, what, { strict: true });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} ${path} is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${what} ${path}: ${issue.path.length ? fieldName(issue.path as (string | number)[], json) + ' ' : ''}${plainMessage(issue.message)}`);
  }
  return parsed.data;
}

/** A text input file. `strict`: bytes that are not UTF-8 are a usage error, never replacement characters. */
export function readTextFile(path: string, what: string, opts: { strict?: boolean } = {}): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${fsReason(e)}`);
  }
  if (!opts.strict) return bytes.toString('utf8');
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new UsageError(`${what} ${path} is not UTF-8 text`);
  }
}

/** commander argument parser for positive integers. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

/** commander argument parser for integers ≥ 0. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer ≥ 0, got "${value}"`);
  return n;
}
