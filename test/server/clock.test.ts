import { expect } from 'chai';
import { makeHarness, makeActor, type Harness } from './harness.js';
import { liveServer, sealTourism, blobsOf, offerInput, SPEND_BY_REGION, type SealedFixture, releaseLive } from './fixture.js';

/**
 * Time-dependent refusals, on an in-process app with a movable clock (supertest against the real
 * express app, real SQLite, the real bundle verifier): an expired quote is refused and moves no money;
 * an expired token is refused.
 */
describe('server: expired quotes and tokens (movable clock)', function () {
  this.timeout(120_000);
  let offset = 0;
  let h: Harness;
  let f: SealedFixture;
  let l: Awaited<ReturnType<typeof liveServer>>;
  before(async () => {
    l = await liveServer(); // only to seal bundles with real enclave keys
    f = await sealTourism(l, 15, 'clock');
    h = await makeHarness({ clock: { now: () => new Date(Date.now() + offset) } });
  });
  after(async () => {
    await h.close();
    releaseLive();
  });

  it('refuses a quote submitted after it expired, and holds nothing', async () => {
    const owner = await makeActor(h, 'owner', 'Clock Owner');
    const buyer = await makeActor(h, 'buyer', 'Clock Buyer');
    const up = await h.http.post('/v1/uploads').set(owner.auth).send({ title: 'Clock data', manifest: f.manifest });
    for (const b of blobsOf(f)) {
      await h.http.put(`/v1/uploads/${up.body.id}/blobs/${b.hash}`).set(owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes);
    }
    const ds = await h.http.post(`/v1/uploads/${up.body.id}/complete`).set(owner.auth).send();
    expect(ds.status, JSON.stringify(ds.body)).to.equal(201);
    const offer = await h.http.post(`/v1/datasets/${ds.body.id}/offers`).set(owner.auth).send(offerInput());
    expect(offer.status).to.equal(201);
    await h.http.post('/v1/ledger/topups').set(h.operator.auth).set('Idempotency-Key', 'clock-topup-1').send({ orgId: buyer.orgId, amountFen: 20_000 });
    const q = await h.http.post(`/v1/offers/${offer.body.offer.id}/quotes`).set(buyer.auth).send({
      computation: SPEND_BY_REGION,
      purpose: { code: 'tourism-planning', statement: 'Plan visitor services for next season' },
      destination: 'CN',
    });
    expect(q.status).to.equal(201);
    offset += 16 * 60_000; // quotes live 15 minutes
    const t = await h.http.post('/v1/trades').set(buyer.auth).set('Idempotency-Key', 'clock-trade-1').send({ quote: q.body, computation: SPEND_BY_REGION });
    expect(t.status).to.equal(422);
    expect(t.headers['content-type']).to.match(/problem\+json/);
    expect(t.body.type).to.match(/quote-expired$/);
    expect(t.body.detail).to.match(/new one/);
    const w = await h.http.get('/v1/ledger/wallet').set(buyer.auth);
    expect(w.body.availableFen).to.equal(20_000);
    expect(w.body.heldFen).to.equal(0);
    // the same Idempotency-Key replays the refusal instead of trying again
    const again = await h.http.post('/v1/trades').set(buyer.auth).set('Idempotency-Key', 'clock-trade-1').send({ quote: q.body, computation: SPEND_BY_REGION });
    expect(again.status).to.equal(422);
    expect(again.headers['idempotent-replayed']).to.equal('true');
  });

  it('refuses an expired token with 401 token-expired', async () => {
    const u = await makeActor(h, 'buyer', 'Clock Token Org');
    expect((await h.http.get('/v1/me').set(u.auth)).status).to.equal(200);
    offset += 91 * 86_400_000; // tokens live 90 days
    const r = await h.http.get('/v1/me').set(u.auth);
    expect(r.status).to.equal(401);
    expect(r.body.type).to.match(/token-expired$/);
  });

  it('an upload abandoned past its time-to-live is collected: no row visible, no blob left', async () => {
    const owner = await makeActor(h, 'owner', 'Clock Abandoner');
    const g = blobsOf(f);
    const up = await h.http.post('/v1/uploads').set(owner.auth).send({ title: 'Abandoned', manifest: { ...f.manifest } });
    expect(up.status).to.equal(201);
    // a second upload of the same bundle names the completed dataset's blobs (all missing until it sends them): they must survive
    const fresh = up.body.blobs.filter((b: { received: boolean }) => !b.received);
    expect(fresh.length).to.equal(g.length);
    const f2 = await sealTourism(l, 9, 'abandon');
    const up2 = await h.http.post('/v1/uploads').set(owner.auth).send({ title: 'Abandoned 2', manifest: f2.manifest });
    const b = blobsOf(f2)[0]!;
    expect((await h.http.put(`/v1/uploads/${up2.body.id}/blobs/${b.hash}`).set(owner.auth).set('Content-Type', 'application/octet-stream').send(b.bytes)).status).to.equal(200);
    expect(h.shuyu.services.blobs.has(b.hash)).to.equal(true);
    offset += 25 * 3600_000; // uploads live 24 h
    const swept = await h.shuyu.services.datasets.sweep({ startup: false });
    expect(swept.expired).to.be.at.least(2);
    expect(h.shuyu.services.blobs.has(b.hash)).to.equal(false);
    for (const x of g) expect(h.shuyu.services.blobs.has(x.hash), 'blobs of the completed dataset stay').to.equal(true);
    expect((await h.http.get(`/v1/uploads/${up2.body.id}`).set(owner.auth)).status).to.equal(404);
  });

  it('rate-limits per token with 429 problem+json', async () => {
    const tight = await makeHarness({ config: { rateLimitPerMinute: 5 } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) codes.push((await tight.http.get('/v1/me').set(tight.operator.auth)).status);
      expect(codes.slice(0, 5)).to.deep.equal([200, 200, 200, 200, 200]);
      const r = await tight.http.get('/v1/me').set(tight.operator.auth);
      expect(r.status).to.equal(429);
      expect(r.body.type).to.match(/rate-limited$/);
      expect(r.headers['content-type']).to.match(/^application\/problem\+json/);
      // IETF draft-7 headers (express-rate-limit's standardHeaders) tell the client when to retry
      expect(r.headers['ratelimit-policy']).to.equal('5;w=60');
      expect(r.headers['ratelimit']).to.match(/^limit=5, remaining=0, reset=\d+$/);
      // another token has its own budget
      expect((await tight.http.get('/v1/health')).status).to.equal(200);
    } finally {
      await tight.close();
    }
  });
});
