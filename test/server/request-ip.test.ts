import { expect } from 'chai';
import express from 'express';
import request from 'supertest';
import { fastRequestIp } from '../../server/http/request-ip.js';

/** The short req.ip answers exactly what express's getter answers, with and without a trusted proxy. */
describe('server: req.ip without the proxy walk', () => {
  const both = (trust: unknown) => {
    const app = express();
    app.set('trust proxy', trust);
    const plain = express();
    plain.set('trust proxy', trust);
    fastRequestIp(app);
    for (const a of [app, plain]) a.get('/', (req, res) => void res.json({ ip: req.ip ?? null }));
    return [app, plain] as const;
  };
  for (const trust of [false, true, 'loopback', 1]) {
    it(`trust proxy ${JSON.stringify(trust)}: same address as express, X-Forwarded-For or not`, async () => {
      const [fast, plain] = both(trust);
      for (const xff of [undefined, '203.0.113.9', '198.51.100.1, 203.0.113.9', 'garbage, ,']) {
        const ask = (a: express.Express) => (xff ? request(a).get('/').set('X-Forwarded-For', xff) : request(a).get('/'));
        const [x, y] = [await ask(fast), await ask(plain)];
        expect(x.body.ip, `${xff}`).to.be.a('string');
        expect(x.body.ip, `${xff}`).to.equal(y.body.ip);
      }
    });
  }
});
