import { expect } from 'chai';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { makeHarness, type Harness } from './harness.js';
import { httpClassesOf } from '../../server/app.js';

/**
 * A server given httpClassesOf(app) answers exactly as the app does through supertest (whose server swaps
 * the prototypes per request): same status, headers and body — express's methods reach the born objects.
 */
describe('server: request/response classes for createServer', () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
  });
  after(() => h.close());

  it('same answers with the app\'s classes as with prototypes swapped per request', async () => {
    const server = createServer(httpClassesOf(h.shuyu.app), h.shuyu.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const [path, auth] of [['/v1/me', true], ['/v1/catalog?limit=5', true], ['/v1/nope', false], ['/v1/catalog/%ZZ', true]] as const) {
        const headers: Record<string, string> = auth ? { Authorization: h.operator.auth.Authorization } : {};
        const born = await fetch(base + path, { headers });
        const swapped = await request(h.shuyu.app).get(path).set(headers);
        expect(born.status, path).to.equal(swapped.status);
        expect(born.headers.get('content-type'), path).to.equal(swapped.headers['content-type']);
        expect(born.headers.get('content-security-policy'), path).to.equal(swapped.headers['content-security-policy']);
        expect(born.headers.get('ratelimit-policy'), path).to.equal(swapped.headers['ratelimit-policy']);
        const text = await born.text();
        if (!path.startsWith('/v1/me')) expect(JSON.parse(text).type ?? null, path).to.equal(swapped.body.type ?? null);
        expect(text.length > 0, path).to.equal(true);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
