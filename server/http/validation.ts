import type { z } from 'zod';
import { HttpProblem } from './problems.js';

/**
 * Parses one part of a request (params, query, body) and turns zod issues into a 422 problem whose
 * detail names every offending field, e.g. `body.status: unknown field — it is not accepted here`.
 */
export function parsePart<T>(schema: z.ZodType<T>, value: unknown, part: 'params' | 'query' | 'body'): T {
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
