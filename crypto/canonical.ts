/**
 * THE canonical JSON of Shuyu: the exact bytes that get signed (receipts, approvals, quotes, audit
 * events). RFC 8785 (JCS) style: object keys sorted by UTF-16 code units, no whitespace, numbers and
 * strings serialised as ECMAScript JSON.stringify does (which is what JCS specifies). Anything JSON
 * cannot represent faithfully is refused rather than silently dropped or altered.
 */
import { CryptoError } from './errors.js';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function str(s: string, path: string): string {
  // JCS requires well-formed Unicode (I-JSON, RFC 7493 §2.1): a lone surrogate has no UTF-8 form.
  if (LONE_SURROGATE.test(s)) throw new CryptoError('not-canonical', `lone surrogate in string at ${path}`);
  return JSON.stringify(s);
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CryptoError('not-canonical', `non-finite number at ${path}`);
      return JSON.stringify(value); // -0 → "0", shortest round-trip form, as JCS §3.2.2.3
    case 'string':
      return str(value, path);
    case 'object':
      break;
    default:
      throw new CryptoError('not-canonical', `${typeof value} at ${path} has no JSON form`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw new CryptoError('not-canonical', `cycle at ${path}`);
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) throw new CryptoError('not-canonical', `hole in array at ${path}[${i}]`);
        parts.push(write(obj[i], `${path}[${i}]`, seen));
      }
      return `[${parts.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      // Dates, Maps, class instances, typed arrays: their JSON form is implicit (toJSON) or lossy.
      throw new CryptoError('not-canonical', `non-plain object at ${path}; convert it explicitly`);
    }
    if (Object.getOwnPropertySymbols(obj).length > 0) throw new CryptoError('not-canonical', `symbol key at ${path}`);
    const keys = Object.keys(obj).sort(); // default sort = UTF-16 code unit order, as JCS §3.2.3
    const parts: string[] = [];
    for (const k of keys) {
      const v = (obj as Record<string, unknown>)[k];
      if (v === undefined) throw new CryptoError('not-canonical', `undefined at ${path}.${k}`);
      parts.push(`${str(k, path)}:${write(v, `${path}.${k}`, seen)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    seen.delete(obj);
  }
}

export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

/** True iff `text` is JSON and exactly its own canonical form (catches duplicate keys, spacing, 1.0 vs 1). */
export function isCanonicalJson(text: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  try {
    return canonicalJson(parsed) === text;
  } catch {
    return false;
  }
}

/** Parses text that must already be canonical JSON; throws CryptoError('not-canonical') otherwise. */
export function parseCanonicalJson(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CryptoError('not-canonical', 'not JSON');
  }
  if (canonicalJson(parsed) !== text) throw new CryptoError('not-canonical', 'JSON is not in canonical form');
  return parsed;
}
