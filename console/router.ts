/**
 * Hash routing (#/catalog, #/datasets/<id> …): the server serves one page, and a reload keeps the place.
 * Each route names the roles that may open it; the API checks again, this is only navigation.
 */
import type { RoleName } from './session.js';
import type { MessageKey } from './messages.js';

export interface RouteMatch {
  params: string[];
  query: URLSearchParams;
}

export interface PageRoute {
  pattern: RegExp;
  roles: readonly RoleName[] | 'public';
  /** Navigation entry, if the page has one. */
  nav?: MessageKey;
  href?: string;
  render: (m: RouteMatch) => Promise<Node> | Node;
}

export function parseHash(hash: string): { path: string; query: URLSearchParams } {
  const raw = hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  return q < 0 ? { path: raw, query: new URLSearchParams() } : { path: raw.slice(0, q), query: new URLSearchParams(raw.slice(q + 1)) };
}

export function match(routes: readonly PageRoute[], hash: string): { route: PageRoute; m: RouteMatch } | null {
  const { path, query } = parseHash(hash);
  for (const route of routes) {
    const r = route.pattern.exec(path);
    if (r) return { route, m: { params: r.slice(1).map(decodeURIComponent), query } };
  }
  return null;
}

export const go = (hash: string): void => {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
};

/** Where each role lands after signing in. */
export const HOME: Record<RoleName, string> = { owner: '#/owner/datasets', buyer: '#/trades', reviewer: '#/review', operator: '#/operator/orgs' };
