import type { Express, Request } from 'express';

/**
 * req.ip without express's proxy-addr walk when the app trusts no proxy ('trust proxy' false): then
 * proxy-addr parses X-Forwarded-For only to drop it and answer the socket's address, which is what this
 * returns. express-rate-limit reads req.ip on every request (for its debug line, even when debug is off).
 * With any other 'trust proxy' setting, express's own getter answers.
 */
export function fastRequestIp(app: Express): void {
  const expressIp = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(app.request), 'ip')?.get;
  if (!expressIp) throw new Error('express request has no ip getter to stand in for');
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    enumerable: true,
    get(this: Request) {
      return this.app.settings['trust proxy'] !== false ? expressIp.call(this) : this.socket?.remoteAddress;
    },
  });
}
