import { expect } from 'chai';
import { makeHarness, makeActor, serverErrors, type Harness } from './harness.js';

const PROBLEM = /^application\/problem\+json/;

describe('server: HTTP foundation (problems, validation, tokens, pagination, OpenAPI)', () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness({ config: { jsonBodyLimitBytes: 4096 } });
  });
  after(() => h.close());

  it('malformed JSON → 400 problem+json with an actionable message', async () => {
    const r = await h.http.post('/v1/orgs').set(h.operator.auth).set('Content-Type', 'application/json').send('{"name": "x",');
    expect(r.status).to.equal(400);
    expect(r.headers['content-type']).to.match(PROBLEM);
    expect(r.body.type).to.equal('https://shuyu.local/problems/malformed-json');
    expect(r.body.detail).to.match(/not a valid JSON/);
  });

  it('unknown fields are refused and named, wrong types are named', async () => {
    const r = await h.http.post('/v1/orgs').set(h.operator.auth).send({ name: 'A', status: 'approved', price: 0 });
    expect(r.status).to.equal(422);
    expect(r.body.errors.map((e: { path: string }) => e.path)).to.have.members(['body.status', 'body.price']);
    const t = await h.http.post('/v1/orgs').set(h.operator.auth).send({ name: 42 });
    expect(t.status).to.equal(422);
    expect(t.body.detail).to.match(/body\.name/);
  });

  it('oversized JSON bodies → 413 problem', async () => {
    const r = await h.http.post('/v1/orgs').set(h.operator.auth).send({ name: 'x'.repeat(10_000) });
    expect(r.status).to.equal(413);
    expect(r.body.type).to.match(/payload-too-large$/);
  });

  it('missing, unknown, revoked tokens → 401; wrong role → 403; unknown route → 404', async () => {
    expect((await h.http.get('/v1/me')).status).to.equal(401);
    expect((await h.http.get('/v1/me').set('Authorization', 'Bearer shy_nope')).status).to.equal(401);
    const buyer = await makeActor(h, 'buyer', 'Buyer Org');
    expect((await h.http.post('/v1/orgs').set(buyer.auth).send({ name: 'Z' })).status).to.equal(403);
    const me = await h.http.get('/v1/me').set(buyer.auth);
    expect(me.status).to.equal(200);
    expect(me.body.user.role).to.equal('buyer');
    const issued = await h.http.post(`/v1/users/${buyer.userId}/tokens`).set(h.operator.auth).send({});
    expect(issued.status).to.equal(201);
    const second = { Authorization: `Bearer ${issued.body.token}` };
    expect((await h.http.delete(`/v1/tokens/${issued.body.tokenId}`).set(buyer.auth)).status).to.equal(204);
    const revoked = await h.http.get('/v1/me').set(second);
    expect(revoked.status).to.equal(401);
    expect(revoked.body.type).to.match(/token-revoked$/);
    expect((await h.http.get('/v1/nothing-here').set(buyer.auth)).status).to.equal(404);
  });

  it('another organisation\'s object is 404, never 403', async () => {
    const a = await makeActor(h, 'owner', 'Org A');
    const b = await makeActor(h, 'owner', 'Org B');
    expect((await h.http.get(`/v1/users/${a.userId}`).set(a.auth)).status).to.equal(200);
    const r = await h.http.get(`/v1/users/${a.userId}`).set(b.auth);
    expect(r.status).to.equal(404);
  });

  it('cursor pagination walks every organisation exactly once', async () => {
    for (let i = 0; i < 5; i++) await h.http.post('/v1/orgs').set(h.operator.auth).send({ name: `Page Org ${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: { status: number; body: { items: { id: string }[]; nextCursor: string | null } } = await h.http.get('/v1/orgs').query(cursor ? { limit: 2, cursor } : { limit: 2 }).set(h.operator.auth);
      expect(r.status).to.equal(200);
      expect(r.body.items.length).to.be.at.most(2);
      seen.push(...r.body.items.map((o: { id: string }) => o.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).to.equal(seen.length);
    expect(seen.length).to.equal(((await h.db.get('SELECT COUNT(*) AS n FROM orgs')) as { n: number }).n);
  });

  it('OpenAPI 3.1 lists every route of the route table with its roles', async () => {
    const r = await h.http.get('/v1/openapi.json');
    expect(r.status).to.equal(200);
    expect(r.body.openapi).to.equal('3.1.0');
    for (const route of h.shuyu.routes) {
      const p = route.path.replace(/:([A-Za-z_]+)/g, '{$1}');
      const op = r.body.paths[p]?.[route.method];
      expect(op?.operationId, `${route.method} ${route.path}`).to.equal(route.id);
      // every schema was representable (a failed conversion would leave an empty schema)
      if (route.body) expect(Object.keys(op.requestBody.content['application/json'].schema), `${route.id} body`).to.not.be.empty;
      for (const [status, res] of Object.entries<{ content?: Record<string, { schema: object }> }>(op.responses)) {
        const sc = res.content?.['application/json']?.schema;
        if (sc) expect(Object.keys(sc), `${route.id} ${status}`).to.not.be.empty;
      }
    }
  });

  it('health and Prometheus metrics answer without a token; helmet headers are set', async () => {
    const r = await h.http.get('/v1/health');
    expect(r.status).to.equal(200);
    expect(r.headers['x-content-type-options']).to.equal('nosniff');
    const m = await h.http.get('/v1/metrics');
    expect(m.status).to.equal(200);
    expect(m.text).to.match(/shuyu_http_requests_total\{route="health"/);
  });
});

describe('server: request timeout', () => {
  it('answers 503 request-timeout when a handler does not finish in time (an enclave that never answers)', async () => {
    const h = await makeHarness({ config: { requestTimeoutMs: 200 }, enclave: { isUp: () => true, publicInfo: () => new Promise(() => {}) } });
    try {
      const started = Date.now();
      const r = await h.http.get('/v1/enclave');
      expect(r.status).to.equal(503);
      expect(r.body.type).to.match(/request-timeout$/);
      expect(Date.now() - started).to.be.below(2000);
      // the one deliberate 5xx of the suite
      const i = serverErrors.findIndex((e) => e.route === 'enclave-info' && e.status === 503);
      expect(i).to.be.at.least(0);
      serverErrors.splice(i, 1);
    } finally {
      await h.close();
    }
  });
});

describe('server: log redaction', () => {
  it('never writes Authorization headers, tokens or keys into a log line', async () => {
    const { createLogger } = await import('../../server/logger.js');
    const lines: string[] = [];
    const log = createLogger('info', { write: (s: string) => void lines.push(s) });
    log.info({ req: { headers: { authorization: 'Bearer shy_SECRET1' } }, token: 'shy_SECRET2', user: { token: 'shy_SECRET3', privateKey: 'SECRET4' }, masterSecret: 'SECRET5' }, 'x');
    expect(lines.join('')).to.not.match(/SECRET\d/);
    expect(lines.join('')).to.include('[redacted]');
  });
});

describe('server: platform signing key at rest', () => {
  it('is sealed under the master secret: same key back with it, a readable refusal without it', async () => {
    const { mkdtempSync, readFileSync, rmSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadPlatformSigner } = await import('../../server/trade/platform-signer.js');
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-pk-'));
    try {
      const file = join(dir, 'platform-signing-key.sealed');
      const a = loadPlatformSigner(file, 'master-secret-one-0123456789');
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(loadPlatformSigner(file, 'master-secret-one-0123456789').publicKeyPem).to.equal(a.publicKeyPem);
      expect(() => loadPlatformSigner(file, 'another-master-secret-xxxxx')).to.throw(/cannot be opened with this master secret/);
      expect(readFileSync(file).toString('latin1')).to.not.include('PRIVATE KEY');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
