import type { IncomingMessage } from 'node:http';
import { sm3Hex } from '../../crypto/index.js';

const BEARER = /^Bearer\s+(\S+)$/i;
const HASH = Symbol('shuyu.tokenHash');

/** The token of an `Authorization: Bearer <token>` header, or null when the header is absent or malformed. */
export function bearerToken(header: string | undefined): string | null {
  const m = header ? BEARER.exec(header) : null;
  return m ? m[1]! : null;
}

/**
 * SM3 (GB/T 32905) of the request's bearer token, computed once per request: the rate limiter keys on it
 * and authentication looks the token up by it (the database stores only this hash). Null without a token.
 * A keep-alive connection sends the same header on every request; its last header and hash are kept on
 * that connection's socket (never shared with another connection) so the hash is not recomputed.
 */
export function tokenHashOf(req: IncomingMessage): string | null {
  const r = req as IncomingMessage & { [HASH]?: string | null };
  if (r[HASH] !== undefined) return r[HASH];
  const header = req.headers.authorization;
  const socket = req.socket as (typeof req.socket & { [HASH]?: { header: string; hash: string } }) | null;
  const last = socket?.[HASH];
  if (last && header === last.header) return (r[HASH] = last.hash);
  const token = bearerToken(header);
  r[HASH] = token === null ? null : sm3Hex(token);
  if (socket && r[HASH] !== null) socket[HASH] = { header: header!, hash: r[HASH] };
  return r[HASH];
}
