import { expect } from 'chai';
import { makeHarness, makeActor, type Harness } from './harness.js';

/**
 * The negative list's history: every published version stays readable, so a reviewer (or an owner whose
 * listing was flagged) can read the exact rules a finding was made under, not only the version in force.
 */
describe('server: negative-list versions', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await makeHarness();
  });
  after(() => h.close());

  it('lists every version newest first, marks the active one, and serves each; only operators publish', async () => {
    const buyer = await makeActor(h, 'buyer', 'Policy Reader');
    const first = (await h.http.get('/v1/policy').set(buyer.auth)).body;
    const next = { ...first, version: first.version + 1, rules: first.rules.slice(0, 1) };
    expect((await h.http.put('/v1/policy').set(buyer.auth).send(next)).status).to.equal(403);
    expect((await h.http.put('/v1/policy').set(h.operator.auth).send(next)).status).to.equal(200);

    const list = await h.http.get('/v1/policy/versions').set(buyer.auth);
    expect(list.status).to.equal(200);
    expect(list.body.items.map((v: { version: number; active: boolean; rules: number }) => [v.version, v.active, v.rules])).to.deep.equal([
      [first.version + 1, true, 1],
      [first.version, false, first.rules.length],
    ]);
    for (const v of list.body.items) expect(v.activatedAt).to.match(/^\d{4}-\d\d-\d\dT.*Z$/);

    const old = await h.http.get(`/v1/policy/versions/${first.policyId}/${first.version}`).set(buyer.auth);
    expect(old.status).to.equal(200);
    expect(old.body).to.deep.equal(first);
    expect((await h.http.get(`/v1/policy/versions/${first.policyId}/${first.version + 1}`).set(buyer.auth)).body.rules).to.have.length(1);

    const missing = await h.http.get(`/v1/policy/versions/${first.policyId}/99`).set(buyer.auth);
    expect(missing.status).to.equal(404);
    expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
    expect((await h.http.get(`/v1/policy/versions/${first.policyId}/zero`).set(buyer.auth)).status).to.equal(422);
    expect((await h.http.get('/v1/policy/versions/NOT_AN_ID/1').set(buyer.auth)).status).to.equal(422);
  });
});
