import { expect } from 'chai';
import fc from 'fast-check';
import { liveServer, market, quoteAndSubmit, liveActor, certify, type Live, type Market, releaseLive } from './fixture.js';
import { signApproval, certifyReviewer } from '../../contracts/review/approval.js';
import { sm2KeyPair } from '../../crypto/index.js';
import type { RoleName } from '../../server/http/route.js';
import type { Actor } from './harness.js';

const PROBLEM = /^application\/problem\+json/;

describe('server: bad input is a 4xx problem a person can act on, never a 5xx', function () {
  this.timeout(180_000);
  let l: Live;
  let m: Market;
  before(async () => {
    l = await liveServer();
    m = await market(l, { rows: 30, tag: 'bad' });
  });
  after(() => releaseLive());

  it('wrong query types and unknown query parameters are named', async () => {
    const r1 = await l.http().get('/v1/catalog').query({ limit: 'lots' }).set(m.buyer.auth);
    expect(r1.status).to.equal(422);
    expect(r1.body.detail).to.match(/query\.limit/);
    const r2 = await l.http().get('/v1/catalog').query({ sort: 'price' }).set(m.buyer.auth);
    expect(r2.status).to.equal(422);
    expect(r2.body.detail).to.match(/query\.sort: unknown field/);
    const r3 = await l.http().get('/v1/trades/not-a-uuid').set(m.buyer.auth);
    expect(r3.status).to.equal(422);
    expect(r3.body.detail).to.match(/params\.id/);
  });

  it('review refusals: separation of duties, uncertified or foreign keys, approvals bound to something else', async () => {
    const { trade } = await quoteAndSubmit(l, m);
    // a reviewer from the buyer's organisation
    const insider = await liveActor(l, 'reviewer', { id: m.buyer.orgId });
    await certify(l, insider);
    const sod = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(insider.auth).send({ decision: 'reject', reason: 'looks fine to me' });
    expect(sod.status).to.equal(403);
    expect(sod.body.type).to.match(/separation-of-duties$/);
    // approval signed with a key the operator never certified
    const c = await l.http().get(`/v1/reviews/${trade.id}`).set(m.reviewer.auth);
    const now = Date.now();
    const statement = { ...c.body.approvalTemplate, decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() };
    const rogue = signApproval(statement, sm2KeyPair().privateKey);
    const r1 = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'approved', approval: rogue });
    expect(r1.status).to.equal(422);
    expect(r1.body.type).to.match(/invalid-approval$/);
    // approval for another computation
    const other = signApproval({ ...statement, computationHash: 'ab'.repeat(32) }, m.reviewer.keys!.privateKey);
    const r2 = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'approved', approval: other });
    expect(r2.status).to.equal(422);
    // a certificate not signed by the operator is refused when submitted
    const fresh = await liveActor(l, 'reviewer');
    const forged = certifyReviewer(
      { type: 'shuyu.reviewer-cert.v1', reviewerId: fresh.userId, orgId: fresh.orgId, publicKeyPem: fresh.keys!.publicKeyPem, fingerprint: fresh.keys!.fingerprint, issuedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString() },
      sm2KeyPair().privateKey,
    );
    const r3 = await l.http().put(`/v1/users/${fresh.userId}/certificate`).set(l.operator.auth).send({ certificate: forged });
    expect(r3.status).to.equal(422);
    expect(r3.body.type).to.match(/invalid-certificate$/);
    // without a certificate a reviewer cannot approve
    const r4 = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(fresh.auth).send({ decision: 'approve', reason: 'approved', approval: rogue });
    expect(r4.status).to.equal(422);
    expect(r4.body.detail).to.match(/certif/);
    // the trade is still waiting and its money still held
    expect((await l.http().get(`/v1/trades/${trade.id}`).set(m.buyer.auth)).body.state).to.equal('under_review');
  });

  // last: random valid bodies may withdraw the offer or consume objects
  it('random JSON bodies and query strings on every route: only 2xx or 4xx problem+json with a detail', async () => {
    const { trade } = await quoteAndSubmit(l, m);
    const upload = await l.http().post('/v1/uploads').set(m.owner.auth).send({ title: 'fuzz', manifest: m.fixture.manifest });
    const ids: Record<string, string> = {
      dataset: m.dataset.id, 'catalog-entry': m.dataset.id, offer: m.offer.id, trade: trade.id, upload: upload.body.id, user: m.reviewer.userId,
    };
    const actor = (roles: readonly RoleName[]): Actor => {
      const r = roles[0]!;
      return r === 'operator' ? (l.operator as Actor) : r === 'owner' ? m.owner : r === 'buyer' ? m.buyer : m.reviewer;
    };
    let sent = 0;
    const bad: string[] = [];
    for (const route of l.srv.app.routes) {
      if (route.roles === 'public' || route.rawBody) continue;
      const who = actor(route.roles);
      const path = route.path.replace(':id', route.object ? ids[route.object.resource]! : m.dataset.id);
      await fc.assert(
        fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }), async (body, query) => {
          let req = l.http()[route.method](path).query(query).set(who.auth).set('Idempotency-Key', `fuzz-${++sent}-${Date.now()}`);
          if (route.method === 'post' || route.method === 'put') req = req.set('Content-Type', 'application/json').send(JSON.stringify(body));
          const r = await req;
          if (r.status >= 500) bad.push(`${route.id}: ${r.status} for ${JSON.stringify(body).slice(0, 100)}`);
          if (r.status >= 400 && (!PROBLEM.test(r.headers['content-type'] ?? '') || typeof r.body.detail !== 'string' || r.body.detail.length < 8)) {
            bad.push(`${route.id}: ${r.status} without an actionable problem body`);
          }
        }),
        { numRuns: 12, seed: 5 },
      );
    }
    expect(bad, bad.slice(0, 10).join('\n')).to.deep.equal([]);
    expect(sent).to.be.greaterThan(300);
  });

});
