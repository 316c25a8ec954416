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
// Invisible characters that change how text reads without showing: bidirectional embeddings, overrides and
// isolates (a title or purpose could display reversed to a reviewer), the byte-order mark (U+FEFF: a second
// name that looks like the first), and noncharacters (U+FDD0–U+FDEF, the last two of every plane), which are
// not for interchange. Only checked on text that passed the test above, so surrogates here are in pairs.
const INVISIBLE_BAD = /[\u202a-\u202e\u2066-\u2069\ufeff\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

const hexOf = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/** Why `s` is not acceptable text here, or null when it is. */
export function textFault(s: string, multiline: boolean): string | null {
  const m = (multiline ? MULTILINE_BAD : ONE_LINE_BAD).exec(s);
  if (!m) return invisibleFault(s);
  const c = m[0].charCodeAt(0);
  const u = hexOf(c);
  if (c >= 0xd800 && c <= 0xdfff) return `contains a lone surrogate (${u}) at character ${m.index}: send well-formed Unicode (UTF-16 surrogates only in pairs)`;
  const lineBreak = c === 0x0a || c === 0x09 ? ' (line breaks and tabs only in free-text fields)' : '';
  return `contains the control character ${u} at character ${m.index}, which is not allowed here${lineBreak}`;
}

function invisibleFault(s: string): string | null {
  const m = INVISIBLE_BAD.exec(s);
  if (!m) return null;
  const cp = m[0].codePointAt(0)!;
  const what =
    cp === 0xfeff ? 'a byte-order mark' : (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ? 'a bidirectional formatting character' : 'a Unicode noncharacter';
  return `contains ${what} (${hexOf(cp)}) at character ${m.index}, which is not allowed: it changes how the text displays or is not for interchange`;
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

const ONE_LINE_BAD_G = new RegExp(`${ONE_LINE_BAD.source}|${INVISIBLE_BAD.source}`, 'g');
