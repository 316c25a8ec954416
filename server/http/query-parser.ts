import { HttpProblem } from './problems.js';

/**
 * The query string as express's "simple" parser reads it (`a=1&a=2` → an array, `+` → space, no nesting,
 * no prototype), except that a parameter whose percent-encoding is not UTF-8 (`%FF`, an encoded surrogate,
 * a truncated character) is refused as 422 naming it. node's querystring decoder would have turned those
 * bytes into U+FFFD, and the request would go on with text the client never sent.
 */
export function parseQueryString(qs: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  if (!qs) return out;
  for (const pair of qs.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    const key = decode(rawKey, null);
    const value = decode(rawValue, key);
    const had = out[key];
    out[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

function decode(raw: string, key: string | null): string {
  const s = raw.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(s);
  } catch {
    // a lone "%" not followed by two hex digits is a literal (as querystring reads it); anything else is bad bytes
    const literal = s.replace(/%(?![0-9a-fA-F]{2})/g, '%25');
    try {
      return decodeURIComponent(literal);
    } catch {
      const path = key === null ? 'query' : `query.${/^[\w$-]*$/.test(key) ? key : JSON.stringify(key)}`;
      const message = `${key === null ? 'a parameter name' : 'the value'} is not UTF-8 once percent-decoded: encode it with encodeURIComponent`;
      throw new HttpProblem('validation-failed', `${path}: ${message}`, { errors: [{ path, message }] });
    }
  }
}
