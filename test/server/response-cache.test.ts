import { expect } from 'chai';
import express from 'express';
import helmet from 'helmet';
import request from 'supertest';
import { makeHarness, makeActor, type Harness, type Actor } from './harness.js';
import { newId } from '../../contracts/ids.js';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { PRINCIPAL_CACHE_MS } from '../../server/identity/identity.js';
import { securityHeadersMiddleware } from '../../server/http/security-headers.js';
import { Deadlines } from '../../server/http/deadlines.js';

/**
 * The server's caches must never serve a stale or foreign answer: the catalogue page (kept per data version)
 * shows every change on the next request, and a token's cached principal is dropped on revocation.
 */
describe('server: catalogue page and token caches', function () {
  let h: Harness;
  let owner: Actor;
  let buyer: Actor;
  const schema = DatasetSchema.parse({
    sector: 'transport-logistics',
    columns: [
      { name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 },
      { name: 'route', type: 'category', role: 'dimension', level: 1, values: ['a', 'b'] },
      { name: 'fare', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100] },
    ],
  });
  // a published dataset as another writer (a second connection, a tool) would leave it: the triggers see it
  const insertDataset = async (title: string): Promise<string> => {
    const id = newId();
    (await h.db.run(`INSERT INTO datasets (id, org_id, user_id, title, description, keywords_json, sector, max_level, row_count, schema_json, manifest_json, manifest_hash, commitment, version, created_at)
      VALUES (?, ?, ?, ?, '', '[]', 'transport-logistics', 3, 100, ?, '{}', ?, ?, 1, ?)`, id, owner.orgId, owner.userId, title, JSON.stringify(schema), 'a'.repeat(64), 'b'.repeat(64), new Date().toISOString()));
    return id;
  };
  const catalog = async (query: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    h.http.get('/v1/catalog').query(query).set(buyer.auth).set(headers);
  const entry = (r: { body: { items: { id: string }[] } }, id: string) => r.body.items.find((d) => d.id === id) as Record<string, unknown> | undefined;

  before(async () => {
    h = await makeHarness();
    owner = await makeActor(h, 'owner', 'Cache owner org');
    buyer = await makeActor(h, 'buyer', 'Cache buyer org');
  });
  after(() => h.close());

  it('a catalogue change (dataset, offer listed, revised, withdrawn) is visible on the very next request', async () => {
    const id = await insertDataset('Cached trips');
    const first = await catalog();
    expect(first.status).to.equal(200);
    expect(entry(first, id)).to.include({ title: 'Cached trips', activeOffers: 0 });
    // the same page again: same bytes and ETag (served from the cache), 304 when the client has it
    const again = await catalog();
    expect(again.text).to.equal(first.text);
    expect(again.headers.etag).to.equal(first.headers.etag);
    expect(again.headers['content-type']).to.equal('application/json; charset=utf-8');
    expect((await catalog({}, { 'If-None-Match': first.headers.etag })).status).to.equal(304);

    const now = Date.now();
    const offerInput = {
      title: 'Fares', description: 'sums by route', allowedKinds: ['aggregate'], allowedColumns: ['route', 'fare'],
      priceModel: { kind: 'fixed', perQueryFen: 100 }, platformFeeBps: 1000,
      terms: { purposes: ['transport-planning'], validFrom: new Date(now - 3600_000).toISOString(), validUntil: new Date(now + 86_400_000).toISOString(), queryQuotaPerBuyer: 10, destinations: ['CN'], minGroupSize: 5, epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0 },
    };
    const created = await h.http.post(`/v1/datasets/${id}/offers`).set(owner.auth).send(offerInput);
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const listed = await catalog({}, { 'If-None-Match': first.headers.etag });
    expect(listed.status).to.equal(200);
    expect(entry(listed, id)).to.include({ activeOffers: 1 });
    expect(listed.headers.etag).to.not.equal(first.headers.etag);

    const revised = await h.http.post(`/v1/offers/${created.body.offer.id}/versions`).set(owner.auth).send({ ...offerInput, title: 'Fares v2' });
    expect(revised.status).to.equal(201);
    expect(entry(await catalog(), id)).to.include({ activeOffers: 1 });
    expect((await h.http.post(`/v1/offers/${created.body.offer.id}/withdraw`).set(owner.auth)).status).to.equal(200);
    expect(entry(await catalog(), id)).to.include({ activeOffers: 0 });

    // edited and deleted behind the server's back (another connection): seen at once too
    (await h.db.run('UPDATE datasets SET title = ? WHERE id = ?', 'Renamed trips', id));
    expect(entry(await catalog(), id)).to.include({ title: 'Renamed trips' });
    const other = await insertDataset('Second trips');
    expect(entry(await catalog(), other)).to.include({ title: 'Second trips' });
    (await h.db.run('DELETE FROM datasets WHERE id = ?', other));
    expect(entry(await catalog(), other)).to.equal(undefined);
  });

  it('pages are kept per query: filters, limits and cursors never share an answer; bad queries are still refused', async () => {
    await insertDataset('Query trips one');
    await insertDataset('Query trips two');
    const all = await catalog({ limit: '100' });
    const one = await catalog({ limit: '1' });
    expect(one.body.items).to.have.length(1);
    expect(all.body.items.length).to.be.greaterThan(1);
    const next = await catalog({ limit: '1', cursor: one.body.nextCursor });
    expect(next.body.items[0].id).to.not.equal(one.body.items[0].id);
    expect((await catalog({ q: 'two' })).body.items.map((d: { title: string }) => d.title)).to.deep.equal(['Query trips two']);
    expect((await catalog({ sector: 'tourism' })).body.items).to.deep.equal([]);
    expect((await catalog({ level: '9' })).status).to.equal(422);
    // authentication still runs on every request
    expect((await h.http.get('/v1/catalog')).status).to.equal(401);
    expect((await h.http.get('/v1/catalog').set({ Authorization: 'Bearer shy_not-a-token' })).status).to.equal(401);
  });

  it('a cached token is refused as soon as it is revoked, and a change by another connection is seen within the cache time', async () => {
    const t = await h.http.post(`/v1/users/${buyer.userId}/tokens`).set(h.operator.auth).send({});
    const auth = { Authorization: `Bearer ${t.body.token}` };
    expect((await h.http.get('/v1/me').set(auth)).status).to.equal(200); // cached now
    expect((await h.http.delete(`/v1/tokens/${t.body.tokenId}`).set(h.operator.auth)).status).to.equal(204);
    expect((await h.http.get('/v1/me').set(auth)).body.type).to.match(/token-revoked$/);

    const t2 = await h.http.post(`/v1/users/${buyer.userId}/tokens`).set(h.operator.auth).send({});
    const auth2 = { Authorization: `Bearer ${t2.body.token}` };
    expect((await h.http.get('/v1/catalog').set(auth2)).status).to.equal(200);
    (await h.db.run('UPDATE tokens SET revoked_at = ? WHERE id = ?', new Date().toISOString(), t2.body.tokenId));
    await new Promise((r) => setTimeout(r, PRINCIPAL_CACHE_MS + 50));
    expect((await h.http.get('/v1/catalog').set(auth2)).body.type).to.match(/token-revoked$/);
  });

  it('sets exactly the headers helmet() sets', async () => {
    const names = (r: request.Response) => Object.fromEntries(Object.entries(r.headers).filter(([k]) => !['date', 'connection', 'content-length', 'etag', 'content-type', 'keep-alive'].includes(k)));
    const viaHelmet = express().use(helmet()).get('/', (_q, s) => void s.send('x'));
    const viaOurs = express().use(securityHeadersMiddleware()).get('/', (_q, s) => void s.send('x'));
    viaHelmet.disable('x-powered-by');
    viaOurs.disable('x-powered-by');
    const a = names(await request(viaHelmet).get('/'));
    expect(Object.keys(a).length).to.be.greaterThan(8);
    expect(names(await request(viaOurs).get('/'))).to.deep.equal(a);
  });

  it('deadlines: an unanswered response is handed over once after its time; answered ones are dropped', async () => {
    const overdue: string[] = [];
    const d = new Deadlines<any>(40, (res) => overdue.push(res.name));
    const slow = { name: 'slow', headersSent: false, closed: false };
    const quick = { name: 'quick', headersSent: false, closed: false };
    d.track(slow);
    d.track(quick);
    const closed = { name: 'closed', headersSent: false, closed: false };
    d.track(closed);
    d.forget(closed); // closed responses are let go at once, not kept until the next tick
    expect(d.size).to.equal(2);
    quick.headersSent = true;
    await new Promise((r) => setTimeout(r, 120));
    expect(overdue).to.deep.equal(['slow']);
    expect(d.size).to.equal(0);
  });
});
