/**
 * The console's HTTP client: same origin, bearer token kept in this tab's sessionStorage only (closing the
 * tab signs out), problem+json → ApiError, an Idempotency-Key on POSTs that move money or privacy budget.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** the last segment of the problem `type`, e.g. insufficient-funds */
    readonly slug: string,
    readonly title: string,
    readonly detail: string,
    readonly problem: Record<string, unknown>,
  ) {
    super(detail || title);
  }
}

const TOKEN_KEY = 'shuyu.token';
export const tokenStore = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string): void => sessionStorage.setItem(TOKEN_KEY, t),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export type Query = Record<string, string | number | undefined | null>;

export interface CallOptions {
  body?: unknown;
  query?: Query;
  /** POSTs that move money or privacy budget carry a fresh Idempotency-Key. */
  idempotent?: boolean;
  /** Token to use instead of the stored one (sign-in checks a token before storing it). */
  token?: string;
}

export function apiUrl(path: string, query?: Query): string {
  const u = new URL(path.startsWith('/v1') ? path : `/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
  return u.pathname + u.search;
}

export async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  const token = opts.token ?? tokenStore.get();
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.idempotent) headers['idempotency-key'] = crypto.randomUUID();
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(apiUrl(path, opts.query), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  if (!res.ok) {
    let p: Record<string, unknown> = {};
    try {
      p = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not problem+json: keep the status line
    }
    const type = typeof p.type === 'string' ? p.type : '';
    throw new ApiError(res.status, type.slice(type.lastIndexOf('/') + 1) || `http-${res.status}`, String(p.title ?? res.statusText), String(p.detail ?? ''), p);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, query?: Query): Promise<T> => call<T>('GET', path, { query });

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Every item of a cursor-paginated list, up to `max`. */
export async function all<T>(path: string, query: Query = {}, max = 1000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await get<Page<T>>(path, { ...query, limit: 100, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return out.slice(0, max);
}
