import { expect } from 'chai';
import { calibrate } from '../../contracts/privacy/calibration.js';
import { signApproval } from '../../contracts/review/approval.js';
import { AggregateComputation, VerifyComputation } from '../../contracts/computation.js';
import { planAggregate } from '../../he/layout.js';
import { checkVerifyComputation } from '../../enclave/verify/verify.js';
import { approve, liveServer, market, offerInput, quoteAndSubmit, releaseLive, SPEND_BY_REGION, waitForTrade, type Live, type Market } from './fixture.js';

/**
 * Quotes over real HTTP: what can never run is refused before any money moves, with the problem type the
 * enclave would give; a DP quote states each output's noise (the calibration the enclave draws from) and what a
 * privacy refusal costs; a buyer's clamp narrows the noise; approvals are bounded in time.
 */
describe('server: quotes state accuracy and refusal cost, refuse what can never run; approvals are bounded', function () {
  this.timeout(120_000);
  let l: Live;
  let m: Market;
  let dpOffer: Record<string, any>;
  const purpose = { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' };
  const ask = (offerId: string, body: Record<string, unknown>) => l.http().post(`/v1/offers/${offerId}/quotes`).set(m.buyer.auth).send({ purpose, destination: 'CN', ...body });

  before(async () => {
    l = await liveServer();
    m = await market(l, { tag: 'quote' });
    const base = offerInput();
    const o = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth).send(
      offerInput({ title: 'Visitor spending, differentially private', priceModel: { kind: 'fixed', perQueryFen: 3_001 }, terms: { ...(base.terms as object), epsilonPerQuery: 0.8, epsilonBudgetPerBuyer: 8, refusalFeeBps: 1_500, refusalAllowance: 2 } }),
    );
    expect(o.status, JSON.stringify(o.body)).to.equal(201);
    dpOffer = o.body.offer;
  });
  after(() => releaseLive());

  it('an exact MAX is refused at quote time with privacy-order-statistic-needs-dp', async () => {
    const r = await ask(m.offer.id, { computation: { kind: 'sql', query: 'SELECT region, MAX(spend) AS top FROM dataset GROUP BY region' } });
    expect(r.status, JSON.stringify(r.body)).to.equal(422);
    expect(r.body.type).to.match(/privacy-order-statistic-needs-dp$/);
  });

  it('a query the validator refuses in the offer’s exact mode is refused at quote time as sql-refused, with its errors', async () => {
    const r = await ask(m.offer.id, { computation: { kind: 'sql', query: 'SELECT region, SUM(spend * 2) AS s FROM dataset GROUP BY region' } });
    expect(r.status, JSON.stringify(r.body)).to.equal(422);
    expect(r.body.type).to.match(/sql-refused$/);
    expect(JSON.stringify(r.body)).to.match(/rule/);
    // the same query is a DP release's business: accepted there, with its noise stated
    const dp = await ask(dpOffer.id, { computation: { kind: 'sql', query: 'SELECT region, SUM(spend * 2) AS s FROM dataset GROUP BY region' } });
    expect(dp.status, JSON.stringify(dp.body)).to.equal(201);
    expect(dp.body.statement.accuracy.outputs.map((o: { output: string }) => o.output)).to.deep.equal(['s']);
  });

  it('a filter value the dimension does not declare, or a kind the offer does not sell, is refused at quote time', async () => {
    const r = await ask(m.offer.id, { computation: { ...SPEND_BY_REGION, filters: [{ column: 'region', in: ['Dali', 'Atlantis'] }] } });
    expect(r.status, JSON.stringify(r.body)).to.equal(422);
    expect(r.body.type).to.match(/computation-invalid$/);
    const v = await ask(m.offer.id, { computation: { kind: 'verify', match: { region: 'Dali' } } });
    expect(v.status).to.equal(422);
    expect(v.body.type).to.match(/computation-not-offered$/);
    // the same order statistic is a DP release's business
    const minDp = await ask(dpOffer.id, { computation: { kind: 'sql', query: 'SELECT region, MIN(nights) AS least FROM dataset GROUP BY region' } });
    expect(minDp.status, JSON.stringify(minDp.body)).to.equal(201);
    expect(minDp.body.statement.accuracy.outputs[0]).to.deep.include({ output: 'least', kind: 'min', bounds: [0, 60] });
  });

  it('a column the schema does not have is refused at quote time with the type the enclave gives the same computation', async () => {
    const vo = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth)
      .send(offerInput({ title: 'Visitor id check', allowedKinds: ['verify'], allowedColumns: ['visitor_id', 'region'] }));
    expect(vo.status, JSON.stringify(vo.body)).to.equal(201);
    const aggregate = { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'no_such_column' }], groupBy: ['region'], filters: [] };
    const verify = { kind: 'verify', match: { visitor_id: 'V1', no_such_column: 'x' }, perAttribute: false };
    // what the enclave's own checks say (its aggregate planner, its verify check), run on the same manifest
    const enclaveType = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { type: string }).type;
      }
      return 'accepted';
    };
    const expected = {
      aggregate: enclaveType(() => planAggregate(m.fixture.manifest as never, AggregateComputation.parse(aggregate))),
      verify: enclaveType(() => checkVerifyComputation(VerifyComputation.parse(verify), m.fixture.manifest.schema)),
    };
    expect(expected).to.deep.equal({ aggregate: 'computation-invalid', verify: 'verify-refused' });
    for (const [kind, computation, offerId] of [['aggregate', aggregate, m.offer.id], ['verify', verify, vo.body.offer.id]] as const) {
      const r = await ask(offerId, { computation });
      expect(r.status, JSON.stringify(r.body)).to.equal(422);
      expect(r.body.type, kind).to.equal(`https://shuyu.local/problems/${expected[kind]}`);
    }
  });

  it('a DP quote states per output the noise calibration.ts gives, the mean as a formula in n, and the refusal charge', async () => {
    const r = await ask(dpOffer.id, { computation: SPEND_BY_REGION });
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    const st = r.body.statement;
    expect(st).to.deep.include({ priceFen: 3_001, refusalChargeFen: 450, refusalAllowance: 2 }); // ⌊3001 × 1500 / 10000⌋
    // count, sum(spend) and the hidden sum of nights the mean is computed from (with the released count)
    expect(st.accuracy).to.deep.include({ epsilon: 0.8, delta: 0, maxRowsPerPerson: 1, measurements: 3, groups: 3 });
    const cal = (kind: 'count' | 'sum' | 'mean', bounds: [number, number], scale: number) =>
      calibrate({ kind, bounds, scale, maxRowsPerPerson: 1, epsilon: 0.8, measurements: 3, ...(kind === 'mean' ? { partScales: { sum: 0, count: 0 } } : {}) });
    const [count, sum, mean] = st.accuracy.outputs;
    expect(count).to.deep.include({ output: 'count', mechanism: 'discrete-laplace', halfWidth95: cal('count', [0, 1], 0).halfWidth95 });
    expect(sum).to.deep.include({ output: 'sum(spend)', bounds: [0, 100_000], halfWidth95: cal('sum', [0, 100_000], 2).halfWidth95, noiseScale: cal('sum', [0, 100_000], 2).noiseScale });
    const c = cal('mean', [0, 60], 4);
    expect(mean).to.deep.include({ output: 'mean(nights)', halfWidth95: null, sumHalfWidth: c.sumHalfWidth, countHalfWidth: c.countHalfWidth });
    expect(mean.formula).to.include(`(${c.sumHalfWidth} + 60·${c.countHalfWidth}) / (n − ${c.countHalfWidth})`);
    // 60 rows over 3 regions cannot carry a sum of spend at ε 0.8: the buyer is told before buying
    expect(st.warnings.map((w: { output: string; code: string }) => `${w.code}:${w.output}`)).to.include('noise-exceeds-range:sum(spend)');
  });

  it('the HE release of a DP aggregate states the very accuracy its quote stated', async () => {
    const computation = { ...SPEND_BY_REGION, metrics: [...SPEND_BY_REGION.metrics, { op: 'stddev', measure: 'spend' }] };
    const { quote, trade, status } = await quoteAndSubmit(l, { ...m, offer: dpOffer }, { computation });
    expect(status, JSON.stringify(trade)).to.equal(201);
    // the reviewer sees what the buyer was quoted: the same noise per output, warnings and refusal charge
    const rc = await l.http().get(`/v1/reviews/${trade.id}`).set(m.reviewer.auth);
    expect(rc.status, JSON.stringify(rc.body)).to.equal(200);
    expect(rc.body.quoted).to.deep.equal({
      quoteId: quote.statement.quoteId,
      priceFen: 3_001,
      refusalChargeFen: 450,
      refusalAllowance: 2,
      accuracy: quote.statement.accuracy,
      warnings: quote.statement.warnings,
    });
    const decided = await approve(l, m, trade.id);
    expect(decided.status, JSON.stringify(decided.body)).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed']);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const res = await l.http().get(`/v1/trades/${trade.id}/result`).set(m.buyer.auth);
    const privacy = res.body.result.privacy;
    const stated = quote.statement.accuracy;
    expect(stated.measurements).to.equal(privacy.measurements);
    expect(stated.outputs.map((o: { output: string }) => o.output).sort()).to.deep.equal(Object.keys(privacy.accuracy).sort());
    for (const o of stated.outputs) {
      const r = privacy.accuracy[o.output];
      for (const f of ['mechanism', 'epsilon', 'sensitivity', 'noiseScale', 'halfWidth95', 'sumHalfWidth', 'countHalfWidth', 'sumSquaresHalfWidth']) {
        if (typeof r[f] === 'number') expect(o[f], `${o.output}.${f}`).to.be.closeTo(r[f], 1e-9 * Math.max(1, Math.abs(r[f])));
        else expect(o[f], `${o.output}.${f}`).to.equal(r[f]);
      }
    }
  });

  it('a narrower SQL clamp gives less noise and changes the computation hash; one outside the schema is a 422', async () => {
    const query = 'SELECT region, SUM(spend) AS s, AVG(spend) AS a FROM dataset GROUP BY region';
    const wide = await ask(dpOffer.id, { computation: { kind: 'sql', query } });
    const narrow = await ask(dpOffer.id, { computation: { kind: 'sql', query }, clamp: { spend: [0, 500] } });
    expect(narrow.status, JSON.stringify(narrow.body)).to.equal(201);
    const out = (r: typeof wide, name: string) => r.body.statement.accuracy.outputs.find((o: { output: string }) => o.output === name);
    expect(out(narrow, 's').halfWidth95).to.be.lessThan(out(wide, 's').halfWidth95 / 100);
    expect(out(narrow, 's').bounds).to.deep.equal([0, 500]); // the validator's bounds follow the clamp
    expect(out(narrow, 'a').sumHalfWidth).to.be.lessThan(out(wide, 'a').sumHalfWidth);
    expect(narrow.body.statement.computationHash).to.not.equal(wide.body.statement.computationHash);
    for (const clamp of [{ spend: [0, 200_000] }, { spend: [-5, 10] }]) {
      const outside = await ask(dpOffer.id, { computation: { kind: 'sql', query }, clamp });
      expect(outside.status, JSON.stringify(outside.body)).to.equal(422);
      expect(JSON.stringify(outside.body)).to.match(/clamp-outside-schema/);
    }
    // a clamp on a measure the query does not read, or on a homomorphic aggregate, is refused too
    const unused = await ask(dpOffer.id, { computation: { kind: 'sql', query }, clamp: { nights: [0, 10] } });
    expect(unused.status).to.equal(422);
    expect(unused.body.type).to.match(/invalid-clamp$/);
    const he = await ask(dpOffer.id, { computation: SPEND_BY_REGION, clamp: { spend: [0, 500] } });
    expect(he.status).to.equal(422);
    expect(he.body.type).to.match(/invalid-clamp$/);
    // the quoted clamp is what must be submitted
    const t = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', `clamp-${Date.now()}`).send({ quote: narrow.body, computation: { kind: 'sql', query } });
    expect(t.status).to.equal(422);
    expect(t.body.type).to.match(/quote-mismatch$/);
    const ok = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', `clamp-ok-${Date.now()}`).send({ quote: narrow.body, computation: { kind: 'sql', query, clamp: { spend: [0, 500] } } });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(201);
    expect(ok.body.computation.clamp).to.deep.equal({ spend: [0, 500] });
  });

  it('a 50-year approval is refused; the trade’s deadline never passes the offer’s validUntil', async () => {
    const { trade, status } = await quoteAndSubmit(l, m);
    expect(status, JSON.stringify(trade)).to.equal(201);
    expect(Date.parse(trade.expiresAt)).to.be.at.most(Date.parse(m.offer.terms.validUntil));
    const c = await l.http().get(`/v1/reviews/${trade.id}`).set(m.reviewer.auth);
    expect(c.status, JSON.stringify(c.body)).to.equal(200);
    const now = Date.now();
    const sign = (expiresAt: string) => signApproval({ ...c.body.approvalTemplate, decidedAt: new Date(now - 1000).toISOString(), expiresAt }, m.reviewer.keys!.privateKey);
    const long = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'aggregate only', approval: sign(new Date(now + 50 * 365 * 86_400_000).toISOString()) });
    expect(long.status, JSON.stringify(long.body)).to.equal(422);
    expect(long.body.type, JSON.stringify(long.body)).to.match(/approval-validity-too-long$/);
    // the case names the latest acceptable expiry: a week at most, never past the offer's validity
    const latest = Date.parse(c.body.approvalMaxExpiresAt);
    expect(latest).to.be.at.most(Math.min(Date.parse(m.offer.terms.validUntil), Date.now() + 7 * 86_400_000));
    expect(latest).to.be.at.least(now + 7 * 86_400_000 - 60_000);
    const justOver = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'aggregate only', approval: sign(new Date(latest + 60_000).toISOString()) });
    expect(justOver.body.type).to.match(/approval-validity-too-long$/);
    const ok = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'approve', reason: 'aggregate only', approval: sign(new Date(now + 3_600_000).toISOString()) });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
    expect(Date.parse(ok.body.expiresAt ?? m.offer.terms.validUntil)).to.be.at.most(Date.parse(m.offer.terms.validUntil));
  });
});
