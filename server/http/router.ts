import { Router, type Request, type RequestHandler, type Response, type NextFunction } from 'express';
import type { Logger } from 'pino';
import { HttpProblem, localise, problem, toProblem, type Problem } from './problems.js';
import { negotiateLang } from '../../formats/messages.js';
import { parsePart } from './validation.js';
import { z } from 'zod';
import { IdempotencyStore, IDEMPOTENCY_KEY } from './idempotency.js';
import { scopeFor, type Principal, type ResourceKind, type RouteDef } from './route.js';
import { ResponseCache, type CachedResponse } from './response-cache.js';
import { tokenHashOf } from './credentials.js';
import { Deadlines } from './deadlines.js';

export interface RouterDeps {
  /** `tokenHash`: SM3 of the bearer token, when the request carries one (computed once per request). */
  authenticate(authorizationHeader: string | undefined, tokenHash?: string | null): Promise<Principal> | Principal;
  /** Returns the object and the organisations it belongs to, or null when there is no such object. */
  loadObject(kind: ResourceKind, id: string): Promise<{ orgIds: string[]; value: unknown } | null>;
  idempotency: IdempotencyStore;
  now(): string;
  log: Logger;
  /** Per-request deadline for routes not marked longRunning (uploads, bundle verification). */
  requestTimeoutMs: number;
  /** One shared timer for every request's deadline (created by createHttpApp); a private one otherwise. */
  deadlines?: Deadlines;
}

/** Express paths (/v1/x/:id) → OpenAPI paths (/v1/x/{id}). */
export const openApiPath = (p: string): string => p.replace(/:([A-Za-z_]+)/g, '{$1}');

/**
 * A cached answer: the same bytes, headers and ETag res.json would have produced, and 304 when the client's
 * copy is fresh — written here rather than through res.send, which would re-inspect the headers it is given.
 */
function sendCached(req: Request, res: Response, c: CachedResponse): void {
  if (res.headersSent) return;
  res.statusCode = c.status;
  res.setHeader('ETag', c.etag);
  // req.fresh: express's own If-None-Match / Cache-Control check (reads the status and ETag just set)
  if (req.fresh) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', c.length);
  // as text, node writes the head and the body as one string (a Buffer body goes out as a second chunk)
  if (req.method === 'HEAD') res.end();
  else res.end(c.text, 'utf8');
}

export const timedOut = (ms: number) => (res: Response): void =>
  sendProblem(res, problem('request-timeout', `the request took longer than ${ms} ms and was abandoned; retry later`));

// The query string may be the very thing being refused (not UTF-8): then the answer is in the header's language.
function langParam(req: Request | undefined): unknown {
  try {
    return req?.query?.lang;
  } catch {
    return undefined;
  }
}

/** Sends a problem in the language the request asks for (Accept-Language, or ?lang=zh|en). */
export function sendProblem(res: Response, p: Problem): void {
  if (res.headersSent) return;
  const req = res.req as Request | undefined;
  const q = langParam(req);
  const lang = negotiateLang(req?.get('accept-language'), typeof q === 'string' ? q : undefined);
  res.setHeader('Content-Language', lang);
  res.vary('Accept-Language');
  res.status(p.status).type('application/problem+json').send(JSON.stringify(localise(p, lang)));
}

// ?lang= on any route: a language code (unknown ones fall back to the header's), one string
const LangQuery = z.object({ lang: z.string().max(35) });

/**
 * Builds the router from THE route table: each route authenticates, checks the role, validates
 * params/query/body with its zod schemas, checks the addressed object belongs to the caller's
 * organisation (else 404 — never reveal that another organisation's object exists), applies
 * Idempotency-Key, runs the handler and validates its response against the declared schema.
 */
export function buildRouter(routes: readonly RouteDef[], deps: RouterDeps): RequestHandler {
  // Routes by their second path segment (/v1/<group>/…): express tries a router's routes one by one, so a
  // request is matched against its group's few routes instead of the whole table. Matching inside a group
  // is express's own; two groups never match the same path (their literal second segments differ).
  const groups = new Map<string, Router>();
  const ungrouped = Router();
  const routerFor = (path: string): Router => {
    const g = GROUPED.exec(path)?.[1];
    if (!g || g.startsWith(':')) return ungrouped;
    const key = g.toLowerCase();
    let r = groups.get(key);
    if (!r) groups.set(key, (r = Router()));
    return r;
  };
  const deadlines = deps.deadlines ?? new Deadlines(deps.requestTimeoutMs, timedOut(deps.requestTimeoutMs));
  for (const route of routes) {
    if (route.cache && route.idempotent) throw new Error(`route ${route.id}: a cached route cannot take an Idempotency-Key`);
    const cache = route.cache ? new ResponseCache() : null;
    const handle: RouteHandler = async (req, res, next) => {
      res.locals.routeId = route.id;
      if (!route.longRunning) deadlines.track(res);
      let idem: { userId: string; key: string } | null = null;
      try {
        const principal = route.roles === 'public' ? null : await deps.authenticate(req.headers.authorization, tokenHashOf(req));
        if (principal) res.locals.principal = principal;
        if (principal && route.roles !== 'public' && !route.roles.includes(principal.role)) {
          throw new HttpProblem('forbidden', `role "${principal.role}" may not ${route.summary.toLowerCase()}; allowed: ${route.roles.join(', ')}`, { authz: 'role' });
        }
        const params = route.params ? parsePart(route.params, req.params, 'params') : req.params;
        // ?lang= picks the language of problem answers on every route; it is no route's own parameter. The query
        // is read before the object is looked up: the answer to an ill-formed one never depends on the object.
        const { lang, ...ownQuery } = req.query;
        if (lang !== undefined) parsePart(LangQuery, { lang }, 'query'); // ignored when unknown, but never ill-formed text
        const query = route.query ? parsePart(route.query, ownQuery, 'query') : {};
        let object: unknown = null;
        if (route.object && principal) {
          const id = (params as Record<string, string>)[route.object.param]!;
          const found = await deps.loadObject(route.object.resource, id);
          const visible =
            found !== null && (scopeFor(route.object, principal.role) === 'all' || found.orgIds.includes(principal.orgId));
          if (!visible) throw new HttpProblem('not-found', `no ${route.object.resource} with id ${id}`, { authz: 'object' });
          object = found!.value;
        }
        const body = route.body ? parsePart(route.body, req.body, 'body') : undefined;
        let idempotencyKey: string | null = null;
        if (route.idempotent && principal) {
          const key = req.get('idempotency-key');
          if (!key || !IDEMPOTENCY_KEY.test(key)) {
            throw new HttpProblem('missing-idempotency-key', 'this request moves money or privacy budget: send an Idempotency-Key header (8–200 characters of A–Z a–z 0–9 _ - . :), and reuse it when you retry');
          }
          idempotencyKey = key;
          const begun = await deps.idempotency.begin(principal.userId, route.id, key, IdempotencyStore.requestHash(params, body), deps.now());
          if (begun.kind === 'replay') {
            res.setHeader('Idempotent-Replayed', 'true');
            if (begun.status >= 400) sendProblem(res, begun.body as Problem);
            else res.status(begun.status).json(begun.body);
            return;
          }
          idem = { userId: principal.userId, key };
        }
        let cacheAt: { key: string; version: number | string } | null = null;
        if (cache && route.cache) {
          // the version is read BEFORE the handler runs: an answer is stored under the data it was read from
          cacheAt = { key: route.cache.key({ params, query, principal }), version: await route.cache.version() };
          const hit = cache.get(cacheAt.key, cacheAt.version);
          if (hit) return sendCached(req, res, hit);
        }
        const out = await route.handler({ params, query, body, principal, object, idempotencyKey, req, res });
        if (out.streamed) return;
        const schema = route.responses[out.status];
        let payload = out.body;
        if (cacheAt && cache && out.status === 200 && schema && payload !== undefined && !out.headers) {
          const checked = schema.safeParse(payload);
          if (checked.success) {
            const text = JSON.stringify(checked.data);
            const entry = { status: out.status, text, length: Buffer.byteLength(text, 'utf8'), etag: (req.app.get('etag fn') as (b: string, encoding: string) => string)(text, 'utf8'), value: checked.data };
            cache.set(cacheAt.key, cacheAt.version, entry);
            return sendCached(req, res, entry);
          }
        }
        if (schema) {
          const checked = schema.safeParse(payload);
          if (!checked.success) {
            deps.log.error({ route: route.id, issues: checked.error.issues.slice(0, 5).map((i) => ({ path: i.path, code: i.code, message: i.message })) }, 'response does not match its schema');
            throw new Error(`response of ${route.id} does not match its schema`);
          }
          payload = checked.data;
        }
        if (idem) await deps.idempotency.finish(idem.userId, route.id, idem.key, out.status, payload);
        for (const [h, v] of Object.entries(out.headers ?? {})) res.setHeader(h, v);
        if (payload === undefined) res.status(out.status).end();
        else res.status(out.status).json(payload);
      } catch (err) {
        const p = toProblem(err);
        if (route.rawBody && !req.readableEnded) req.resume(); // drain an unread upload so the client sees the answer
        if (idem) {
          // A refusal is a result (replayed for the same request); a server fault is not.
          try {
            if (p.status < 500) await deps.idempotency.finish(idem.userId, route.id, idem.key, p.status, p);
            else await deps.idempotency.release(idem.userId, route.id, idem.key);
          } catch {
            // the store is unreachable: the reservation is taken over once it is stale (IdempotencyStore.begin)
          }
        }
        if (p.status >= 500) next(err);
        else sendProblem(res, p);
      }
    };
    routerFor(route.path)[route.method](route.path, handle);
  }
  const hasUngrouped = ungrouped.stack.length > 0;
  return (req: Request, res: Response, next: NextFunction) => {
    // express matches paths case-insensitively, on the raw (still percent-encoded) path, as here
    const g = GROUPED.exec(req.path)?.[1];
    const r = g ? groups.get(g.toLowerCase()) : undefined;
    if (r) r(req, res, hasUngrouped ? (err?: unknown) => (err ? next(err) : ungrouped(req, res, next)) : next);
    else if (hasUngrouped) ungrouped(req, res, next);
    else next();
  };
}

const GROUPED = /^\/v1\/([^/]+)/i;

type RouteHandler = (req: Request, res: Response, next: NextFunction) => Promise<void>;
