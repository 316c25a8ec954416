import { expect } from 'chai';
import { makeHarness, makeActor, type Harness } from '../server/harness.js';
import { liveServer, market, idemKey, SPEND_BY_REGION, type Live, type Market } from '../server/fixture.js';

/**
 * Token attacks: missing, malformed, forged, expired, revoked and another user's tokens,
 * and replayed Idempotency-Keys with a different body. In-process app with a movable clock for expiry;
 * the live server (real enclave) for the money-moving routes.
 */
describe('security: token attacks', function () {
  this.timeout(120_000);
  let offset = 0;
  let h: Harness;
  before(async () => {
    h = await makeHarness({ clock: { now: () => new Date(Date.now() + offset) } });
  });
  after(() => h.close());

  it('refuses missing, malformed and forged tokens with 401 unauthenticated', async () => {
    const headers: (string | null)[] = [
      null,
      '',
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      'Bearer a b',
      `Bearer shy_${'A'.repeat(43)}`,
      `Bearer ${h.operator.token}x`,
      `Bearer ${h.operator.token.slice(0, -1)}`,
      `Bearer ${h.operator.token.toUpperCase()}`,
      `Bearer ${'x'.repeat(16_000)}`,
      "Bearer ' OR 1=1 --",
      `Token ${h.operator.token}`,
    ];
    let refused = 0;
    for (const value of headers) {
      for (const path of ['/v1/me', '/v1/orgs', '/v1/audit/verify']) {
        let req = h.http.get(path);
        if (value !== null) req = req.set('Authorization', value);
        const r = await req;
        expect(r.status, `${path} with ${String(value).slice(0, 40)}`).to.be.oneOf([401, 431]);
        if (r.status === 401) expect(r.body.type).to.match(/unauthenticated$/);
        refused++;
      }
    }
    console.log(`      forged/malformed/missing tokens refused: ${refused}/${headers.length * 3}`);
  });

  it('refuses an expired token (401 token-expired) and a token issued with a short life after it ends', async () => {
    const u = await makeActor(h, 'buyer', 'Expiry Org');
    const short = await h.http.post(`/v1/users/${u.userId}/tokens`).set(h.operator.auth).send({ ttlDays: 1 });
    expect(short.status).to.equal(201);
    const shortAuth = { Authorization: `Bearer ${short.body.token}` };
    expect((await h.http.get('/v1/me').set(shortAuth)).status).to.equal(200);
    offset += 86_400_000 + 1000;
    const r = await h.http.get('/v1/me').set(shortAuth);
    expect(r.status).to.equal(401);
    expect(r.body.type).to.match(/token-expired$/);
    expect((await h.http.get('/v1/me').set(u.auth)).status, 'the 90-day token still works').to.equal(200);
    offset += 90 * 86_400_000;
    expect((await h.http.get('/v1/me').set(u.auth)).body.type).to.match(/token-expired$/);
    offset = 0;
  });

  it('refuses a revoked token at once; a user cannot revoke another user’s token (404), an operator can', async () => {
    const a = await makeActor(h, 'buyer', 'Revoke Org A');
    const b = await makeActor(h, 'owner', 'Revoke Org B');
    const a2 = await h.http.post(`/v1/users/${a.userId}/tokens`).set(h.operator.auth).send({});
    const b2 = await h.http.post(`/v1/users/${b.userId}/tokens`).set(h.operator.auth).send({});
    // another user's token id: not found, and nothing revoked
    const cross = await h.http.delete(`/v1/tokens/${b2.body.tokenId}`).set(a.auth);
    expect(cross.status).to.equal(404);
    expect((await h.http.get('/v1/me').set({ Authorization: `Bearer ${b2.body.token}` })).status).to.equal(200);
    // own token: revoked, refused from the next request on
    expect((await h.http.delete(`/v1/tokens/${a2.body.tokenId}`).set(a.auth)).status).to.equal(204);
    const r = await h.http.get('/v1/me').set({ Authorization: `Bearer ${a2.body.token}` });
    expect(r.status).to.equal(401);
    expect(r.body.type).to.match(/token-revoked$/);
    // a revoked token cannot revoke anything (it is not a principal any more)
    const again = await h.http.delete(`/v1/tokens/${b2.body.tokenId}`).set({ Authorization: `Bearer ${a2.body.token}` });
    expect(again.status).to.equal(401);
    // the operator revokes b's second token; b's first token still works
    expect((await h.http.delete(`/v1/tokens/${b2.body.tokenId}`).set(h.operator.auth)).status).to.equal(204);
    expect((await h.http.get('/v1/me').set({ Authorization: `Bearer ${b2.body.token}` })).body.type).to.match(/token-revoked$/);
    expect((await h.http.get('/v1/me').set(b.auth)).status).to.equal(200);
    // the database holds only hashes of the tokens
    const rows = (await h.db.all('SELECT token_hash FROM tokens')) as { token_hash: string }[];
    for (const t of [a.token, b.token, a2.body.token, b2.body.token, h.operator.token]) {
      expect(rows.some((x) => x.token_hash.includes(t))).to.equal(false);
    }
  });

  it('idempotency: the same key with a different top-up body is 409 and moves money once', async () => {
    const buyer = await makeActor(h, 'buyer', 'Idem Org');
    const key = 'sec-topup-0001';
    const first = await h.http.post('/v1/ledger/topups').set(h.operator.auth).set('Idempotency-Key', key).send({ orgId: buyer.orgId, amountFen: 1000 });
    expect(first.status).to.equal(201);
    const replay = await h.http.post('/v1/ledger/topups').set(h.operator.auth).set('Idempotency-Key', key).send({ orgId: buyer.orgId, amountFen: 1000 });
    expect(replay.status).to.equal(201);
    expect(replay.headers['idempotent-replayed']).to.equal('true');
    expect(replay.body).to.deep.equal(first.body);
    const changed = await h.http.post('/v1/ledger/topups').set(h.operator.auth).set('Idempotency-Key', key).send({ orgId: buyer.orgId, amountFen: 1_000_000 });
    expect(changed.status).to.be.oneOf([409, 422]);
    expect(changed.body.type).to.match(/idempotency-key-reused$/);
    const w = await h.http.get('/v1/ledger/wallet').set(buyer.auth);
    expect(w.body.availableFen).to.equal(1000);
  });
});

describe('security: replayed Idempotency-Keys on trades (live server)', function () {
  this.timeout(180_000);
  let l: Live;
  let m: Market;
  before(async () => {
    l = await liveServer();
    m = await market(l, { rows: 30, tag: 'idem' });
  });

  it('a trade key replayed with another body is refused, another buyer’s identical key gets its own answer, and the price is held once', async () => {
    const q = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).send({
      computation: SPEND_BY_REGION,
      purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' },
      destination: 'CN',
    });
    expect(q.status).to.equal(201);
    const key = idemKey();
    const t1 = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', key).send({ quote: q.body, computation: SPEND_BY_REGION });
    expect(t1.status).to.equal(201);
    const t2 = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', key).send({ quote: q.body, computation: SPEND_BY_REGION });
    expect(t2.status).to.equal(201);
    expect(t2.body.id).to.equal(t1.body.id);
    const other = { ...SPEND_BY_REGION, metrics: [{ op: 'count' }] };
    const t3 = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', key).send({ quote: q.body, computation: other });
    expect(t3.status).to.be.oneOf([409, 422]);
    expect(t3.body.type).to.match(/idempotency-key-reused$/);
    // a second buyer using the same key string must not receive the first buyer's trade
    const m2 = await market(l, { fixture: m.fixture });
    const q2 = await l.http().post(`/v1/offers/${m2.offer.id}/quotes`).set(m2.buyer.auth).send({
      computation: SPEND_BY_REGION,
      purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' },
      destination: 'CN',
    });
    const t4 = await l.http().post('/v1/trades').set(m2.buyer.auth).set('Idempotency-Key', key).send({ quote: q2.body, computation: SPEND_BY_REGION });
    expect(t4.status).to.equal(201);
    expect(t4.body.id).to.not.equal(t1.body.id);
    expect(t4.headers['idempotent-replayed']).to.equal(undefined);
    // held once: 100,000 fen funded, one 5,000 fen hold
    const w = await l.http().get('/v1/ledger/wallet').set(m.buyer.auth);
    expect(w.body.heldFen).to.equal(5000);
    expect(w.body.availableFen).to.equal(95_000);
    // a replayed submit of the same quote under a fresh key does not hold twice either
    const t5 = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', idemKey()).send({ quote: q.body, computation: SPEND_BY_REGION });
    expect(t5.status, JSON.stringify(t5.body)).to.be.oneOf([200, 201, 409, 422]);
    if (t5.status < 300) expect(t5.body.id).to.equal(t1.body.id);
    expect((await l.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body.heldFen).to.equal(5000);
    // cancel with a reused key and a different reason is refused too
    const ck = idemKey();
    const c1 = await l.http().post(`/v1/trades/${t1.body.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', ck).send({ reason: 'changed plans' });
    expect(c1.status, JSON.stringify(c1.body)).to.be.oneOf([200, 201]);
    const c2 = await l.http().post(`/v1/trades/${t1.body.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', ck).send({ reason: 'something else entirely' });
    expect(c2.status).to.be.oneOf([409, 422]);
    expect((await l.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body).to.include({ heldFen: 0, availableFen: 100_000 });
  });
});
