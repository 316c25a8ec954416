import type { NextFunction, Request, Response } from 'express';

export interface RateLimitOptions {
  windowMs: number;
  limit: number;
  /** Who is counted: e.g. the token's hash, else the caller's address. */
  key(req: Request): string;
  /** Answers a request over the limit (after the headers are set). */
  refuse(req: Request, res: Response): void;
}

/**
 * Per-key fixed-window rate limit, synchronous: each key's window starts at its first request and lasts
 * windowMs; request limit+1 and later in the window are refused. Sets the IETF draft-7 headers
 * (RateLimit-Policy, RateLimit — as express-rate-limit's `standardHeaders: 'draft-7'` does) and
 * Retry-After on a refusal. Windows that have ended are dropped once per window, so memory follows the
 * keys seen in the last window.
 */
export function rateLimiter(o: RateLimitOptions): (req: Request, res: Response, next: NextFunction) => void {
  const windows = new Map<string, { hits: number; resetAt: number }>();
  const policy = `${o.limit};w=${Math.ceil(o.windowMs / 1000)}`;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
  }, o.windowMs);
  sweep.unref();
  return (req, res, next) => {
    const now = Date.now();
    const key = o.key(req);
    let w = windows.get(key);
    if (!w || w.resetAt <= now) windows.set(key, (w = { hits: 0, resetAt: now + o.windowMs }));
    w.hits++;
    const reset = Math.max(0, Math.ceil((w.resetAt - now) / 1000));
    res.setHeader('RateLimit-Policy', policy);
    res.setHeader('RateLimit', `limit=${o.limit}, remaining=${Math.max(o.limit - w.hits, 0)}, reset=${reset}`);
    if (w.hits > o.limit) {
      res.setHeader('Retry-After', String(reset));
      return o.refuse(req, res);
    }
    next();
  };
}
