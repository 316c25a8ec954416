import type { RouteDef } from './route.js';

/**
 * The path parameter whose percent-encoding does not decode to UTF-8 (`/v1/users/%FF`), found by matching the
 * raw path against the route table — the router's own decoding fails before it says which route or parameter
 * it was reading. Null when no route's pattern fits the path.
 */
export function undecodableParam(routes: readonly RouteDef[], method: string, rawPath: string): string | null {
  const segments = rawPath.split('/');
  for (const r of routes) {
    if (r.method.toUpperCase() !== method && !(method === 'HEAD' && r.method === 'get')) continue;
    const parts = r.path.split('/');
    if (parts.length !== segments.length) continue;
    let bad: string | null = null;
    let fits = true;
    for (const [i, part] of parts.entries()) {
      const seg = segments[i]!;
      if (part.startsWith(':')) {
        if (bad === null && !decodes(seg)) bad = part.slice(1);
      } else if (part.toLowerCase() !== seg.toLowerCase()) {
        fits = false;
        break;
      }
    }
    if (fits && bad !== null) return bad;
  }
  return null;
}

function decodes(s: string): boolean {
  try {
    decodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}
