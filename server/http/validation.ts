import type { z } from 'zod';
import { HttpProblem } from './problems.js';

/**
 * Parses one part of a request (params, query, body) and turns zod issues into a 422 problem whose
 * detail names every offending field, e.g. `body.status: unknown field — it is not accepted here`.
 * Every string of the part (keys included) is first checked to be well-formed text (see textProblems):
 * nothing ill-formed reaches a handler, a canonical JSON encoder or the database.
 */
export function parsePart<T>(schema: z.ZodType<T>, value: unknown, part: 'params' | 'query' | 'body'): T {
  const text = textProblems(value, part);
  if (text.length) throw new HttpProblem('validation-failed', text.map((e) => `${e.path}: ${e.message}`).join('; '), { errors: text });
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  if (part === 'body' && value === undefined) {
    throw new HttpProblem('validation-failed', 'this request needs a JSON body sent with Content-Type: application/json', {
      errors: [{ path: 'body', message: 'missing JSON body' }],
    });
  }
  const errors = issuesToErrors(r.error.issues, part);
  throw new HttpProblem('validation-failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], root: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const i of issues.slice(0, 20)) {
    const base = [root, ...i.path.map(String)].join('.');
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push({ path: `${base}.${k}`, message: 'unknown field — it is not accepted here; remove it' });
    } else {
      out.push({ path: base, message: i.message });
    }
  }
  return out;
}

/**
 * Fields of free text (descriptions, statements, reasons, memos, SQL, PEM keys) may hold line breaks and
 * tabs; every other string is one line.
 */
export const MULTILINE_FIELDS: ReadonlySet<string> = new Set(['description', 'statement', 'reason', 'memo', 'note', 'basis', 'query', 'zh', 'en', 'publicKeyPem', 'certificatePem']);

// C0 controls, DEL and C1 controls; lone surrogates (a high one not followed by a low one, a low one not preceded by a high one)
const ONE_LINE_BAD = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const MULTILINE_BAD = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why `s` is not acceptable text here, or null when it is. */
export function textFault(s: string, multiline: boolean): string | null {
  const m = (multiline ? MULTILINE_BAD : ONE_LINE_BAD).exec(s);
  if (!m) return null;
  const c = m[0].charCodeAt(0);
  const u = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  if (c >= 0xd800 && c <= 0xdfff) return `contains a lone surrogate (${u}) at character ${m.index}: send well-formed Unicode (UTF-16 surrogates only in pairs)`;
  const lineBreak = c === 0x0a || c === 0x09 ? ' (line breaks and tabs only in free-text fields)' : '';
  return `contains the control character ${u} at character ${m.index}, which is not allowed here${lineBreak}`;
}

const pathPart = (k: string): string => (/^[\w$-]*$/.test(k) ? k : JSON.stringify(k));

/**
 * Every ill-formed string in a parsed request part (object keys included), with its path — at most 20.
 * Iterative: a deeply nested body cannot exhaust the stack.
 */
export function textProblems(value: unknown, root: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const stack: { v: unknown; path: string; key: string }[] = [{ v: value, path: root, key: '' }];
  while (stack.length && out.length < 20) {
    const { v, path, key } = stack.pop()!;
    if (typeof v === 'string') {
      const fault = textFault(v, MULTILINE_FIELDS.has(key));
      if (fault) out.push({ path, message: fault });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}.${i}`, key });
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const fault = textFault(k, false);
        if (fault) out.push({ path: `${path}.${pathPart(k.replace(ONE_LINE_BAD_G, '\ufffd'))}`, message: `field name ${fault}` });
        stack.push({ v: x, path: `${path}.${pathPart(k)}`, key: k });
      }
    }
  }
  return out.slice(0, 20);
}

const ONE_LINE_BAD_G = new RegExp(ONE_LINE_BAD.source, 'g');
