import { isDomainError } from '../../contracts/errors.js';
import { isStoreUnavailable } from '../../store/errors.js';
import { isMessageCode, render, type Lang, type MessageParams } from '../../formats/messages.js';

/**
 * RFC 9457 problem details. `type` is `https://shuyu.local/problems/<slug>` where the slug is the
 * DomainError type; this ONE table picks the HTTP status for every slug. An unlisted slug from domain
 * code is a client-side refusal (422): domain code only throws for things the caller can change.
 */
export const PROBLEM_BASE = 'https://shuyu.local/problems/';

export const PROBLEM_STATUS: Record<string, number> = {
  // request shape
  'malformed-json': 400,
  'malformed-url': 400,
  'malformed-request': 400,
  'headers-too-large': 431,
  'client-timeout': 408,
  'validation-failed': 422,
  'missing-idempotency-key': 400,
  'bad-blob-hash': 400,
  'unsupported-media-type': 415,
  'payload-too-large': 413,
  'upload-interrupted': 400,
  // authentication / authorisation
  unauthenticated: 401,
  'token-expired': 401,
  'token-revoked': 401,
  forbidden: 403,
  'separation-of-duties': 403,
  'not-found': 404,
  'route-not-found': 404,
  'blob-not-found': 404,
  'method-not-allowed': 405,
  // state / conflicts
  conflict: 409,
  'already-exists': 409,
  'idempotency-key-reused': 409,
  'idempotency-in-progress': 409,
  'illegal-transition': 409,
  'idempotency-conflict': 409,
  'offer-withdrawn': 409,
  'result-not-ready': 409,
  'upload-not-open': 409,
  'upload-incomplete': 409,
  'key-not-registered': 409,
  'blob-not-in-manifest': 422,
  'blob-hash-mismatch': 422,
  'blob-size-mismatch': 422,
  'bundle-invalid': 422,
  'quote-expired': 422,
  'quote-invalid': 422,
  'quote-mismatch': 422,
  'insufficient-funds': 422,
  'invalid-certificate': 422,
  'invalid-approval': 422,
  'policy-denied': 422,
  'quota-exhausted': 422,
  'budget-exhausted': 422,
  // the platform
  'rate-limited': 429,
  'request-timeout': 503,
  'enclave-unavailable': 503,
  'store-unavailable': 503,
  'enclave-timeout': 503,
  'not-configured': 503,
  'enclave-bad-response': 502,
  // invariants of the books: a server fault, never the caller's
  'unbalanced-transaction': 500,
  'capture-mismatch': 500,
  internal: 500,
};

export const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Authentication required',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Unprocessable content',
  429: 'Too many requests',
  500: 'Internal error',
  502: 'Bad gateway',
  503: 'Service unavailable',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The message catalogue code (`problem.<slug>`) and its parameters, for clients that show their own language. */
  code?: string;
  params?: Record<string, unknown>;
  instance?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

export const statusOf = (slug: string): number => PROBLEM_STATUS[slug] ?? 422;

/** Scalar facts (and lists of them) of a problem's context: what a catalogue template may name. */
function paramsOf(extra: Record<string, unknown>): Record<string, unknown> {
  const ctx = (extra.context && typeof extra.context === 'object' ? extra.context : extra) as Record<string, unknown>;
  const scalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  return Object.fromEntries(Object.entries(ctx).filter(([k, v]) => k !== 'errors' && (scalar(v) || (Array.isArray(v) && v.every(scalar)))));
}

export function problem(slug: string, detail: string, extra: Record<string, unknown> = {}): Problem {
  const status = statusOf(slug);
  return { type: PROBLEM_BASE + slug, title: TITLES[status] ?? 'Error', status, detail, code: `problem.${slug}`, params: paramsOf(extra), ...extra };
}

/**
 * The problem in the reader's language. English keeps the specific detail the code wrote; Chinese takes the
 * title and detail from the message catalogue (the same code and parameters), so no English prose reaches
 * a Chinese reader except field-level validation messages.
 */
export function localise(p: Problem, lang: Lang): Problem {
  if (lang === 'en') return p;
  const code = p.code && isMessageCode(p.code) ? p.code : null;
  const title = render(`status.${p.status}`, {}, lang);
  return { ...p, title: isMessageCode(`status.${p.status}`) ? title : p.title, detail: code ? render(code, (p.params ?? {}) as MessageParams, lang) : title };
}

/** An error thrown inside the HTTP layer that already knows its problem. */
export class HttpProblem extends Error {
  constructor(
    readonly slug: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Maps anything thrown to a problem. Unknown errors become 500 with no internals in the body. */
export function toProblem(err: unknown): Problem {
  if (err instanceof HttpProblem) return problem(err.slug, err.message, err.extra);
  if (isDomainError(err)) {
    const extra = Object.keys(err.detail).length ? { context: safeDetail(err.detail) } : {};
    return problem(err.type, err.message, extra);
  }
  // The database is unreachable (a PostgreSQL restart): nothing was written; retrying later succeeds.
  if (isStoreUnavailable(err)) return problem('store-unavailable', 'the database is unavailable; retry shortly (nothing was changed)');
  return problem('internal', 'an internal error occurred; it has been logged');
}

/** Domain detail objects go to clients: keep them small and JSON-safe. */
function safeDetail(d: Record<string, unknown>): Record<string, unknown> {
  try {
    const s = JSON.stringify(d);
    return s.length > 4000 ? { truncated: true } : (JSON.parse(s) as Record<string, unknown>);
  } catch {
    return {};
  }
}
