import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { rateLimit, ipKeyGenerator, type Store as RateLimitStore } from 'express-rate-limit';
import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { sm3Hex } from '../../crypto/index.js';
import type { Logger } from 'pino';
import { problem, toProblem, HttpProblem } from './problems.js';
import { buildRouter, sendProblem, timedOut, type RouterDeps } from './router.js';
import type { RouteDef } from './route.js';
import type { Metrics } from './metrics.js';
import { tokenHashOf } from './credentials.js';
import { Deadlines } from './deadlines.js';
import { securityHeadersMiddleware } from './security-headers.js';
import { consoleRouter } from '../console/serve.js';
import { fastRequestIp } from './request-ip.js';
import { RATE_LIMIT_WINDOW_MS } from './rate-limit-store.js';
import { assertUtf8Body } from './utf8-body.js';
import { parseQueryString } from './query-parser.js';
import { undecodableParam } from './path-param-fault.js';

export interface HttpOptions {
  jsonBodyLimitBytes: number;
  requestTimeoutMs: number;
  rateLimitPerMinute: number;
}

/**
 * The express 5 application: security headers, per-token rate limit, JSON body limit, per-request
 * timeout, the routes of the route table, and problem+json for every error. Built without listening,
 * so tests drive it with supertest.
 */
export function createHttpApp(
  routes: readonly RouteDef[],
  // rateLimitStore: where hits are counted (server/http/rate-limit-store.ts, shared by a cluster); default per process
  deps: Omit<RouterDeps, 'requestTimeoutMs'> & { metrics: Metrics; log: Logger; rateLimitStore?: RateLimitStore },
  opts: HttpOptions,
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.set('query parser', parseQueryString);
  fastRequestIp(app);

  const deadlines = new Deadlines(opts.requestTimeoutMs, timedOut(opts.requestTimeoutMs));
  // Request ids: a random per-process prefix and a counter — unique, and no randomness drawn per request.
  const idPrefix = randomBytes(6).toString('base64url') + '-';
  let requests = 0;
  const observe: Step = (req, res, next) => {
    const start = performance.now();
    const reqId = idPrefix + (++requests).toString(36);
    res.setHeader('X-Request-Id', reqId);
    // 'close' follows 'finish' on every response, and also ends one the client abandoned: one listener for both
    res.once('close', () => {
      deadlines.forget(res);
      const route = (res.locals.routeId as string | undefined) ?? 'unmatched';
      if (!res.writableFinished) {
        deps.log.info({ reqId, method: req.method, route }, 'client closed the connection before the answer');
        return;
      }
      const seconds = (performance.now() - start) / 1000;
      deps.metrics.observeRequest(route, req.method, res.statusCode, seconds);
      // Never the body, query string or headers: they may carry tokens, keys or sealed bytes.
      if (res.statusCode >= 500) deps.log.error({ reqId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000), user: res.locals.principal?.userId }, 'request failed');
      else if (deps.log.isLevelEnabled('info')) deps.log.info({ reqId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1000), user: res.locals.principal?.userId }, 'request');
    });
    next();
  };

  const limit = rateLimit({
    windowMs: RATE_LIMIT_WINDOW_MS,
    limit: opts.rateLimitPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    ...(deps.rateLimitStore ? { store: deps.rateLimitStore } : {}),
    // Per token (its hash, never the token itself; computed once per request), per address for anonymous calls.
    keyGenerator: (req) => {
      const auth = req.headers.authorization;
      if (!auth) return 'ip:' + ipKeyGenerator(req.ip ?? '0.0.0.0');
      return 't:' + (tokenHashOf(req) ?? sm3Hex(auth));
    },
    handler: (_req, res) => sendProblem(res, problem('rate-limited', `more than ${opts.rateLimitPerMinute} requests in a minute; wait and retry (see the RateLimit headers)`)),
  }) as Step;

  // A declared length over the limit is refused from the headers: body-parser would wait for the whole
  // (possibly 2^40-byte) body to arrive before answering 413, holding the connection open meanwhile.
  const lengthGuard: Step = (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (declared > opts.jsonBodyLimitBytes && req.is(['application/json', 'application/*+json'])) {
      res.setHeader('Connection', 'close');
      return sendProblem(res, problem('payload-too-large', `the JSON body exceeds the limit of ${opts.jsonBodyLimitBytes} bytes`, { limit: opts.jsonBodyLimitBytes }));
    }
    next();
  };

  const json = express.json({
    limit: opts.jsonBodyLimitBytes,
    strict: true,
    type: ['application/json', 'application/*+json'],
    // the bytes as sent, before the decoder could paper over them with U+FFFD
    verify: (_req, _res, buf, encoding) => {
      if (encoding.toLowerCase() !== 'utf-8' && encoding.toLowerCase() !== 'utf8') throw new HttpProblem('unsupported-media-type', 'send the body as UTF-8 JSON with Content-Type: application/json');
      assertUtf8Body(buf);
    },
  }) as Step;
  // The web console (server/console/serve.ts): GET /, /console/ and its static bundle.
  const consoleMw = consoleRouter();
  const api = buildRouter(routes, { ...deps, requestTimeoutMs: opts.requestTimeoutMs, deadlines });
  // console paths never reach the API (no route under /v1 is one): unanswered, they go on to the 404 below
  // (a URL starting /v1/ has a path starting /v1/ however express parses it: no need to parse it here)
  const consoleOrApi: Step = (req, res, next) =>
    !API_URL.test(req.url) && CONSOLE_PATH.test(req.path) ? consoleMw(req, res, next) : api(req, res, next);

  // In this order for every request: id and request log, helmet's security headers, rate limit, length
  // guard, JSON body, then the console or the API.
  const chain = inOrder([observe, securityHeadersMiddleware(), limit, lengthGuard, json, consoleOrApi]);

  const notFound = (req: Request, res: Response): void =>
    sendProblem(res, problem('route-not-found', `no route ${req.method} ${req.path}; see GET /v1/openapi.json`));

  const onError = (err: unknown, req: Request, res: Response): void => {
    // first: body-parser hands on what the body check threw, with a type of its own added
    if (err instanceof HttpProblem) return sendProblem(res, toProblem(err));
    const e = err as { type?: string; status?: number; limit?: number };
    if (e && e.type === 'entity.parse.failed') {
      return sendProblem(res, problem('malformed-json', 'the request body is not a valid JSON object or array; check quoting, commas and brackets'));
    }
    if (e && e.type === 'entity.too.large') {
      return sendProblem(res, problem('payload-too-large', `the JSON body exceeds the limit of ${opts.jsonBodyLimitBytes} bytes`, { limit: opts.jsonBodyLimitBytes }));
    }
    if (e && typeof e.type === 'string' && e.type.startsWith('entity.') || (e && e.type === 'charset.unsupported') || (e && e.type === 'encoding.unsupported')) {
      return sendProblem(res, problem('unsupported-media-type', 'send the body as UTF-8 JSON with Content-Type: application/json'));
    }
    // The router's decoding of a path parameter ("%FF", an encoded lone surrogate) is the caller's mistake: a 422
    // naming the parameter when a route's pattern says which one, else the URL as a whole is malformed.
    if (err instanceof URIError) {
      const name = undecodableParam(routes, req.method, req.path);
      if (name === null) return sendProblem(res, problem('malformed-url', 'the URL contains invalid percent-encoding; encode path parameters as UTF-8 (e.g. with encodeURIComponent)'));
      const error = { path: `params.${name}`, message: 'is not UTF-8 once percent-decoded: encode it with encodeURIComponent' };
      return sendProblem(res, problem('validation-failed', `${error.path}: ${error.message}`, { errors: [error] }));
    }
    deps.log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err), route: res.locals.routeId, path: req.path }, 'unhandled error');
    sendProblem(res, toProblem(err));
  };

  // Every request runs the chain above and ends in notFound or onError — all the app ever had as layers —
  // so express's per-request set-up (application.js handle: the request/response prototypes, the circular
  // references, res.locals) is done here and the chain called directly, without a pass of the app's router
  // (its closures were a fifth of all the bytes a catalogue request allocates). The app is still what
  // createServer and supertest are given; express's request/response methods work as before.
  const classes = httpClassesOf(app);
  const handle = (req: Request, res: Response): void => {
    req.res = res;
    res.req = req;
    // made by a server given httpClassesOf(app) they already have the app's prototypes; others (supertest) get them now
    if (!(req instanceof classes.IncomingMessage)) Object.setPrototypeOf(req, app.request);
    if (!(res instanceof classes.ServerResponse)) Object.setPrototypeOf(res, app.response);
    if (!res.locals) res.locals = Object.create(null);
    req.originalUrl = req.originalUrl || req.url; // as express's router sets them for its layers
    req.baseUrl = '';
    chain(req, res, (err?: unknown) => {
      try {
        if (err !== undefined && err !== null && err !== 'route' && err !== 'router') onError(err, req, res);
        else notFound(req, res);
      } catch (e) {
        // what express's final handler would do when the error handler itself fails: a bare 500
        deps.log.error({ err: e instanceof Error ? e.message : String(e) }, 'error handler failed');
        if (!res.headersSent) (res.statusCode = 500), res.end();
        else res.destroy();
      }
    });
  };
  (app as unknown as { handle: typeof handle }).handle = handle;

  return app;
}

export interface HttpClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

const classesOf = new WeakMap<Express, HttpClasses>();

/**
 * The request and response classes to give node's createServer for this app: their objects are born with
 * express's request/response methods (through the app's prototypes), so no prototype is swapped per request.
 * Swapping it (express's own way) made every request's objects survive V8's young-generation collections into
 * the old generation — in a bare node server as well: 0.6 % → 33–37 % of the young generation surviving.
 */
export function httpClassesOf(app: Express): HttpClasses {
  let c = classesOf.get(app);
  if (!c) {
    class Req extends IncomingMessage {}
    class Res extends ServerResponse {}
    Object.setPrototypeOf(Req.prototype, app.request);
    Object.setPrototypeOf(Res.prototype, app.response);
    c = { IncomingMessage: Req, ServerResponse: Res as unknown as typeof ServerResponse };
    classesOf.set(app, c);
  }
  return c;
}

/** The paths consoleRouter() answers (GET /, /console, /console/…; express matches case-insensitively). */
const CONSOLE_PATH = /^\/(?:console(?:\/.*)?)?$/i;
const API_URL = /^\/v1\//i;

type Step = (req: Request, res: Response, next: NextFunction) => void;

/**
 * Synchronous steps run one after the other as ONE middleware (each express layer costs a router pass
 * per request); a step that answers simply does not call next. A thrown error goes to the error handler.
 */
function inOrder(steps: Step[]): Step {
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null && err !== 'route' && err !== 'router') return next(err);
      const f = steps[i++];
      if (!f) return next();
      try {
        // express-rate-limit's middleware is async: a rejection goes to the error handler like a throw
        const r = f(req, res, step) as unknown;
        if (r instanceof Promise) r.catch(next);
      } catch (e) {
        next(e);
      }
    };
    step();
  };
}
