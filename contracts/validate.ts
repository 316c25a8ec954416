import type { z } from 'zod';
import { DomainError } from './errors.js';

/** zod at the boundary: a bad input becomes a typed DomainError naming each problem, never a crash. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, type: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new DomainError(type, issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), { issues });
}
