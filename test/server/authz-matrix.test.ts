import { expect } from 'chai';
import { liveServer, liveActor, certify, sealTourism, uploadBundle, offerInput, topUp, idemKey, SPEND_BY_REGION, type Live, type SealedFixture, releaseLive } from './fixture.js';
import { ROLES, RESOURCE_KINDS, scopeFor, type ResourceKind, type RoleName, type RouteDef } from '../../server/http/route.js';
import type { Actor } from './harness.js';

/**
 * The authorisation matrix, generated from THE route table (l.srv.app.routes): every route × every role ×
 * own/foreign object, plus no token. Expected outcomes follow from each route's declared roles and object
 * rule; the router marks its own refusals with `authz` ('token' | 'role' | 'object'), so a refusal by domain
 * rules (e.g. separation of duties) is told apart from the authorisation layer. A new route is in the matrix
 * the moment it is in the table; a new resource kind fails until it has a factory here.
 */
describe('server: authorisation matrix (every route × role × own/foreign object)', function () {
  this.timeout(180_000);
  let l: Live;
  let f: SealedFixture;
  type OrgSide = { owner: Actor; buyer: Actor; reviewer: Actor; datasetId: string; offerId: string };
  let A: OrgSide;
  let B: OrgSide;

  async function side(tag: string): Promise<OrgSide> {
    const owner = await liveActor(l, 'owner');
    const org = { id: owner.orgId };
    const buyer = await liveActor(l, 'buyer', org);
    const reviewer = await liveActor(l, 'reviewer', org);
    await certify(l, reviewer);
    await topUp(l, owner.orgId, 10_000_000);
    const ds = await uploadBundle(l, owner, f, `Matrix ${tag}`);
    const o = await l.http().post(`/v1/datasets/${ds.id}/offers`).set(owner.auth).send(offerInput());
    return { owner, buyer, reviewer, datasetId: ds.id, offerId: o.body.offer.id };
  }

  before(async () => {
    l = await liveServer();
    f = await sealTourism(l, 12, 'matrix');
    A = await side('A');
    B = await side('B');
  });
  after(() => releaseLive());

  /** An object of `kind` belonging to side `s`; `fresh` for routes that change or consume it. */
  async function objectOf(kind: ResourceKind, s: OrgSide): Promise<string> {
    switch (kind) {
      case 'dataset':
      case 'catalog-entry':
        return s.datasetId;
      case 'upload': {
        const r = await l.http().post('/v1/uploads').set(s.owner.auth).send({ title: 'matrix upload', manifest: f.manifest });
        return r.body.id;
      }
      case 'offer': {
        const r = await l.http().post(`/v1/datasets/${s.datasetId}/offers`).set(s.owner.auth).send(offerInput());
        return r.body.offer.id;
      }
      case 'trade': {
        const q = await l.http().post(`/v1/offers/${s.offerId}/quotes`).set(s.buyer.auth).send({
          computation: SPEND_BY_REGION,
          purpose: { code: 'tourism-planning', statement: 'matrix test trade for authorisation' },
          destination: 'CN',
        });
        const t = await l.http().post('/v1/trades').set(s.buyer.auth).set('Idempotency-Key', idemKey()).send({ quote: q.body, computation: SPEND_BY_REGION });
        if (t.status !== 201) throw new Error(`trade: ${JSON.stringify(t.body)}`);
        return t.body.id;
      }
      case 'user':
        return s.reviewer.userId;
    }
  }

  it('covers every resource kind the route table uses', () => {
    const used = new Set(l.srv.app.routes.flatMap((r) => (r.object ? [r.object.resource] : [])));
    for (const k of used) expect(RESOURCE_KINDS).to.include(k);
  });

  it('every route answers as its roles and object rule say, for every role, own and foreign, and without a token', async () => {
    const failures: string[] = [];
    let checks = 0;
    const actorFor = (role: RoleName, s: OrgSide): Actor =>
      role === 'operator' ? { ...l.operator } : role === 'owner' ? s.owner : role === 'buyer' ? s.buyer : s.reviewer;
    const hashParam = f.manifest.chunks[0].sm3 as string;

    const call = async (route: RouteDef, auth: Record<string, string> | null, id: string | null) => {
      let path = route.path.replace(':hash', hashParam);
      if (id) path = path.replace(':id', id);
      else path = path.replace(':id', '01a20000-0000-7000-8000-000000000000');
      let req = l.http()[route.method](path);
      if (auth) req = req.set(auth);
      if (route.idempotent) req = req.set('Idempotency-Key', idemKey());
      if (route.method === 'post' || route.method === 'put') req = req.send({});
      return req;
    };

    for (const route of l.srv.app.routes) {
      const label = `${route.method.toUpperCase()} ${route.path}`;
      if (route.roles === 'public') {
        const r = await call(route, null, null);
        checks++;
        if (r.status === 401 || r.status === 403) failures.push(`${label} public but answered ${r.status}`);
        continue;
      }
      // no token → 401 from the authentication layer
      const anon = await call(route, null, null);
      checks++;
      if (anon.status !== 401 || anon.body.authz !== 'token') failures.push(`${label} without token: ${anon.status}`);

      for (const role of ROLES) {
        for (const which of ['own', 'foreign'] as const) {
          const me = actorFor(role, A);
          const owner = which === 'own' ? A : B;
          const id = route.object ? await objectOf(route.object.resource, owner) : null;
          if (!route.object && which === 'foreign') continue;
          const r = await call(route, me.auth, id);
          checks++;
          const tag = `${label} as ${role} on ${which} object → ${r.status} ${r.body?.type ?? ''}`;
          if (r.status >= 500) failures.push(tag);
          if (!route.roles.includes(role)) {
            if (r.status !== 403 || r.body.authz !== 'role') failures.push(`${tag} (expected 403 role)`);
            continue;
          }
          const visible = !route.object || which === 'own' || scopeFor(route.object, role) === 'all';
          if (visible) {
            if (r.status === 401 || r.body?.authz) failures.push(`${tag} (expected to pass authorisation)`);
          } else if (r.status !== 404 || r.body.authz !== 'object') {
            failures.push(`${tag} (expected 404 object)`);
          }
        }
      }
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
    expect(checks).to.be.greaterThan(l.srv.app.routes.length * 4);
    console.log(`      authorisation matrix: ${l.srv.app.routes.length} routes, ${checks} checks`);
  });

  it('list routes show only the caller\'s organisation (trades, datasets, wallets, statements, review queue)', async () => {
    const ta = await objectOf('trade', A);
    const tb = await objectOf('trade', B);
    const ids = (r: { body: { items: { id: string }[] } }) => r.body.items.map((x) => x.id);
    const buyerA = await l.http().get('/v1/trades').query({ limit: 100 }).set(A.buyer.auth);
    expect(ids(buyerA)).to.include(ta).and.not.include(tb);
    const ownerB = await l.http().get('/v1/trades').query({ limit: 100 }).set(B.owner.auth);
    expect(ids(ownerB)).to.include(tb).and.not.include(ta);
    expect(ids(await l.http().get('/v1/datasets').set(A.owner.auth))).to.include(A.datasetId).and.not.include(B.datasetId);
    expect((await l.http().get('/v1/ledger/wallet').query({ orgId: B.owner.orgId }).set(A.buyer.auth)).status).to.equal(404);
    expect((await l.http().get('/v1/ledger/statements').query({ orgId: B.owner.orgId }).set(A.owner.auth)).status).to.equal(404);
    expect((await l.http().get('/v1/ledger/wallet').query({ orgId: B.owner.orgId }).set(l.operator.auth)).body.orgId).to.equal(B.owner.orgId);
    // a reviewer's queue leaves out trades of their own organisation (separation of duties)
    const qa = ids(await l.http().get('/v1/reviews').query({ limit: 100 }).set(A.reviewer.auth));
    expect(qa).to.include(tb).and.not.include(ta);
  });
});
