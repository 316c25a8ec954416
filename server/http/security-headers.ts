import helmet from 'helmet';
import type { NextFunction, Request, Response } from 'express';

/**
 * helmet's default security headers (CSP, HSTS, X-Frame-Options, COOP/CORP, nosniff …), taken once from
 * helmet itself at start-up and set on every response — the same headers as `app.use(helmet())`, without
 * its chain of a dozen middlewares per request. The defaults contain no per-request value (no CSP nonce);
 * if helmet ever answered asynchronously or with an error, this refuses to start rather than guess.
 */
export function securityHeaders(): [string, string][] {
  const headers = new Map<string, string>();
  const removed: string[] = [];
  const res = {
    setHeader: (name: string, value: unknown) => void headers.set(name, String(value)),
    removeHeader: (name: string) => void removed.push(name),
  };
  let done = false;
  helmet()({} as Request, res as unknown as Response, ((err?: unknown) => {
    if (err) throw err;
    done = true;
  }) as NextFunction);
  if (!done || headers.size === 0) throw new Error('helmet did not set its headers synchronously');
  return [...headers];
}

export function securityHeadersMiddleware(): (req: Request, res: Response, next: NextFunction) => void {
  const headers = securityHeaders();
  return (_req, res, next) => {
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i]![0], headers[i]![1]);
    next();
  };
}
