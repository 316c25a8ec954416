import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { rateLimiter } from '../../server/http/rate-limit.js';

describe('server/http: per-key rate limit (draft-7 headers)', function () {
  const app = (windowMs: number, limit: number) =>
    express()
      .use(rateLimiter({ windowMs, limit, key: (req) => String(req.headers['x-key']), refuse: (_q, s) => void s.status(429).send('no') }))
      .get('/', (_q, s) => void s.send('ok'));

  it('counts per key, refuses request limit+1 with Retry-After, and opens a new window after windowMs', async () => {
    const a = app(300, 3);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(a).get('/').set('x-key', 'k1');
      seen.push(`${r.status} ${r.headers['ratelimit']}`);
      expect(r.headers['ratelimit-policy']).to.equal('3;w=1');
      if (i === 3) expect(r.headers['retry-after']).to.equal('1');
    }
    expect(seen).to.deep.equal(['200 limit=3, remaining=2, reset=1', '200 limit=3, remaining=1, reset=1', '200 limit=3, remaining=0, reset=1', '429 limit=3, remaining=0, reset=1']);
    // another key has its own window
    expect((await request(a).get('/').set('x-key', 'k2')).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 320));
    const again = await request(a).get('/').set('x-key', 'k1');
    expect(again.status).to.equal(200);
    expect(again.headers['ratelimit']).to.equal('limit=3, remaining=2, reset=1');
  });
});
