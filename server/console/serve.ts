/**
 * Serves the built web console (dist/console/, made by `npm run build:console`) on the API's origin:
 * GET / → /console/, GET /console/ → index.html, GET /console/<asset> → the bundle. The page gets its own
 * strict Content-Security-Policy: scripts, styles, fonts and requests from this origin only — the console
 * makes no external request, and the policy makes sure of it.
 */
import express, { Router, type Response } from 'express';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/console/ from server/console/serve.ts, and from its compiled dist/server/console/serve.js
export const CONSOLE_DIST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), import.meta.url.endsWith('.js') ? '../../console' : '../../dist/console');

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function withPolicy(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('Referrer-Policy', 'no-referrer');
}

export function consoleRouter(opts: { distDir?: string } = {}): Router {
  const dir = opts.distDir ?? CONSOLE_DIST_DIR;
  const router = Router();
  router.get('/', (_req, res) => res.redirect(302, '/console/'));
  // Non-strict routing matches /console and /console/ alike: tell them apart by the URL itself.
  router.get('/console', (req, res) => {
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(301, '/console/');
    withPolicy(res);
    const index = path.join(dir, 'index.html');
    if (!existsSync(index)) {
      res.status(503).type('text/plain; charset=utf-8').send('The web console is not built: run `npm run build:console` (npm start does it for you).\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(index);
  });
  router.use(
    '/console',
    // source maps are never served: they would hand out the sources and the paths of the machine that built them
    (req, _res, next) => (/\.map$/i.test(req.path) ? next('router') : next()),
    (_req, res, next) => {
      withPolicy(res);
      next();
    },
    express.static(dir, { index: false, redirect: false, dotfiles: 'deny', maxAge: 0, fallthrough: true }),
  );
  return router;
}
