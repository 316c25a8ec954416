import { newId } from '../../contracts/ids.js';
import { ShuyuApiError } from './errors.js';

/**
 * The one HTTP transport of the SDK: fetch, bearer token, JSON in and out, problem+json → ShuyuApiError,
 * Idempotency-Key on the POSTs that move money or privacy budget. No server code is imported: the SDK
 * speaks HTTP only.
 */

export interface HttpClientOptions {
  /** base URL of the deployment, e.g. http://127.0.0.1:8080 (the /v1 prefix is added here) */
  url: string;
  token?: string;
  /** per-request timeout in ms (default 60 s) */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** set for POSTs that move money or budget; pass your own to make a retry safe */
  idempotencyKey?: string;
  headers?: Record<string, string>;
  /** a raw body (bytes) with its content type, for blob uploads */
  raw?: { data: Uint8Array; contentType: string };
}

export class HttpClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: HttpClientOptions) {
    this.baseUrl = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    // Called as a plain function: browsers refuse `fetch` invoked as a method of another object.
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  url(path: string, query?: Query): string {
    const u = new URL(this.baseUrl + (path.startsWith('/v1') ? path : `/v1${path}`));
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.idempotencyKey) headers['idempotency-key'] = opts.idempotencyKey;
    let body: BodyInit | undefined;
    if (opts.raw) {
      headers['content-type'] = opts.raw.contentType;
      body = opts.raw.data as unknown as BodyInit;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path, opts.query), {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new ShuyuApiError(0, 'about:blank#unreachable', 'server unreachable', `${method} ${this.baseUrl}: ${cause}`);
    }
    const text = await res.text();
    if (!res.ok) throw toApiError(res, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ShuyuApiError(res.status, 'about:blank#bad-response', 'unreadable response', `${method} ${path} did not answer JSON`);
    }
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  /** A POST that moves money or budget: always carries an Idempotency-Key (a fresh one if none given). */
  postIdempotent<T>(path: string, body: unknown, idempotencyKey: string = newId()): Promise<T> {
    return this.request<T>('POST', path, { body, idempotencyKey });
  }

  put<T>(path: string, body?: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Walks cursor pagination (`{ items, nextCursor }`) to the end, or up to `limit` items. */
  async *paginate<T>(path: string, query: Query = {}, limit = Infinity): AsyncGenerator<T> {
    let cursor: string | undefined;
    let n = 0;
    do {
      const page = await this.get<{ items: T[]; nextCursor?: string | null }>(path, { ...query, cursor });
      for (const item of page.items) {
        if (n++ >= limit) return;
        yield item;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
}

function toApiError(res: Response, text: string): ShuyuApiError {
  let p: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') p = parsed as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's HTML page, say): keep the status line
  }
  const type = typeof p.type === 'string' ? p.type : 'about:blank';
  const title = typeof p.title === 'string' ? p.title : res.statusText || `HTTP ${res.status}`;
  const detail = typeof p.detail === 'string' ? p.detail : text && !p.type ? text.slice(0, 300) : undefined;
  return new ShuyuApiError(res.status, type, title, detail, p);
}
