/**
 * Matching of request paths against the route table's paths (literal segments and `:name` segments only),
 * with express 5's rules for them (router 2 / path-to-regexp 8, options sensitive: false, strict: false,
 * end: true): literal segments compare case-insensitively, a parameter takes one or more characters other
 * than '/', one trailing '/' is allowed, and parameters are percent-decoded (a malformed encoding is the
 * same 400 URIError router's decodeParam throws). The router uses this to find a route in one pass instead
 * of express's two router passes per request; anything it does not handle goes to express as before.
 */

type Segment = { literal: string } | { param: string };

export interface PathPattern {
  segments: Segment[];
}

const PARAM = /^:([A-Za-z_]+)$/;
const LITERAL = /^[A-Za-z0-9._~-]+$/;

/** Compiles an express path such as /v1/offers/:id/quotes; null for any other syntax (left to express). */
export function compilePath(path: string): PathPattern | null {
  if (!path.startsWith('/')) return null;
  const segments: Segment[] = [];
  for (const part of path.slice(1).split('/')) {
    const p = PARAM.exec(part);
    if (p) segments.push({ param: p[1]! });
    else if (LITERAL.test(part)) segments.push({ literal: part.toLowerCase() });
    else return null;
  }
  return { segments };
}

/**
 * The path's segments when express would read the same pathname from this URL (parseurl's fast path:
 * origin-form, none of the characters that make it fall back to url.parse); null otherwise.
 */
export function pathSegments(url: string): string[] | null {
  if (url.charCodeAt(0) !== 0x2f || UNUSUAL.test(url)) return null;
  const q = url.indexOf('?');
  const parts = (q === -1 ? url : url.slice(0, q)).slice(1).split('/');
  // one optional trailing slash (strict: false); "/x/" → [x]
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

const UNUSUAL = /[\t\n\f\r #\u00a0\ufeff]/;

/**
 * The parameters when `segments` fit the pattern; null when they do not. Throws router's URIError (status 400)
 * when a parameter is not valid percent-encoding — express fails the request then, whatever the method.
 */
export function matchPath(pattern: PathPattern, segments: readonly string[]): Record<string, string> | null {
  const want = pattern.segments;
  if (want.length !== segments.length) return null;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const s = segments[i]!;
    if ('literal' in w ? s.length !== w.literal.length || s.toLowerCase() !== w.literal : s.length === 0) return null;
  }
  const params: Record<string, string> = Object.create(null);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if ('param' in w) params[w.param] = decodeParam(segments[i]!);
  }
  return params;
}

/** router's decodeParam: the same message and status for a malformed encoding. */
function decodeParam(val: string): string {
  try {
    return decodeURIComponent(val);
  } catch (err) {
    if (err instanceof URIError) {
      err.message = `Failed to decode param '${val}'`;
      (err as URIError & { status?: number }).status = 400;
    }
    throw err;
  }
}
