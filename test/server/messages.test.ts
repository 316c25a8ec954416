import { expect } from 'chai';
import { render } from '../../formats/messages.js';
import { approve, liveServer, market, quoteAndSubmit, releaseLive, waitForTrade, type Live, type Market } from './fixture.js';

const HAN = /[\u4e00-\u9fff]/;

describe('server: reasons as codes with parameters, problems in the reader’s language, the purpose catalogue', function () {
  this.timeout(120_000);
  let l: Live;
  let m: Market;
  before(async () => {
    l = await liveServer();
    m = await market(l, { tag: 'msg' });
  });
  after(() => releaseLive());

  it('answers problems in Chinese for Accept-Language: zh or ?lang=zh, in English otherwise, with code and params', async () => {
    const missing = `/v1/trades/${'0190a0a0-0000-7000-8000-000000000000'}`;
    const en = await l.http().get(missing).set(m.buyer.auth);
    expect(en.status).to.equal(404);
    expect(en.body).to.deep.include({ title: 'Not found', code: 'problem.not-found' });
    expect(en.body.detail).to.match(/^no trade with id/);
    expect(en.headers['content-language']).to.equal('en');

    const zh = await l.http().get(missing).set(m.buyer.auth).set('Accept-Language', 'zh-CN,zh;q=0.9,en;q=0.5');
    expect(zh.status).to.equal(404);
    expect(zh.body.type).to.equal(en.body.type);
    expect(zh.body.title).to.equal('未找到');
    expect(zh.body.detail).to.equal(render('problem.not-found', {}, 'zh')).and.match(HAN);
    expect(zh.headers['content-language']).to.equal('zh');
    expect(zh.headers['vary']).to.match(/Accept-Language/i);

    // ?lang is taken off before a route's strict query is checked; the other parameters are still checked
    const bad = await l.http().get('/v1/trades').query({ lang: 'zh', state: 'nonsense' }).set(m.buyer.auth);
    expect(bad.status).to.equal(422);
    expect(bad.body).to.deep.include({ title: '无法处理的请求', code: 'problem.validation-failed' });
    expect(bad.body.detail).to.match(HAN);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).to.deep.equal(['query.state']);
    expect((await l.http().get('/v1/trades').query({ lang: 'zh' }).set(m.buyer.auth)).status).to.equal(200);

    // a domain refusal's parameters reach the Chinese text
    const q = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).set('Accept-Language', 'zh').send({
      computation: { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['region'], filters: [] },
      purpose: { code: 'statistics', statement: 'Count visitors for staffing plans' },
      destination: 'CN',
    });
    expect(q.status).to.equal(422);
    expect(q.body).to.deep.include({ code: 'problem.purpose-not-permitted' });
    expect(q.body.params).to.deep.include({ purpose: 'statistics' });
    expect(q.body.detail).to.equal('报价单不允许此用途：statistics。');
  });

  it('publishes the purpose catalogue to anyone, with Chinese and English names and what the negative list says of each', async () => {
    const r = await l.http().get('/v1/purposes');
    expect(r.status).to.equal(200);
    expect(r.body.policy).to.deep.equal(r.body.activePolicy);
    const byCode = new Map(r.body.purposes.map((p: { code: string }) => [p.code, p]));
    expect(byCode.get('tourism-planning')).to.deep.include({ name: { zh: '旅游规划与服务', en: 'Tourism planning and services' }, prohibited: false, ruleIds: [] });
    expect(byCode.get('individual-tracking')).to.deep.include({ prohibited: true, ruleIds: ['NL-05'] });
  });

  it('screens “so we can follow them around” for review, and records every step and posting as a code with parameters', async () => {
    const statement = 'Count visitors per gate so we can follow them around';
    const { trade } = await quoteAndSubmit(l, m, { purpose: { code: 'tourism-planning', statement } });
    expect(trade.state).to.equal('under_review');
    expect(trade.screening.decision).to.equal('review');
    const [f] = trade.screening.findings;
    expect(f).to.deep.include({ ruleId: 'NL-12', effect: 'review', code: 'negative-list.statement-flagged', detail: { field: 'purpose.statement', resembles: ['individual-tracking'] } });
    expect(JSON.stringify(trade.screening)).to.not.contain('follow');
    // the free text is the reviewer's (and its writer's); the data owner reads the purpose code only
    expect(trade.purpose).to.deep.equal({ code: 'tourism-planning', statement });
    expect((await l.http().get(`/v1/trades/${trade.id}`).set(m.owner.auth)).body.purpose).to.deep.equal({ code: 'tourism-planning', statement: '' });
    expect((await l.http().get(`/v1/reviews/${trade.id}`).set(m.reviewer.auth)).body.trade.purpose.statement).to.equal(statement);

    expect((await approve(l, m, trade.id)).status).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed']);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const steps = done.transitions.map((t: { code: string }) => t.code);
    expect(steps).to.deep.equal(['trade.screened', 'trade.review-required', 'trade.reviewer-approved', 'trade.execution-started', 'trade.delivered', 'trade.settled']);
    const settled = done.transitions.at(-1);
    expect(settled.params).to.deep.equal({ ownerShareFen: 4500, platformFeeFen: 500 });
    expect(settled.reason).to.equal('captured 4500 fen to the owner and 500 fen fee');
    expect(render(settled.code, settled.params, 'en')).to.equal(settled.reason);
    expect(render(settled.code, settled.params, 'zh')).to.equal('已结算：45.00 元 付给数据方，5.00 元 平台服务费');
    expect(done.transitions[0].params).to.deep.equal({ policyId: 'shuyu-default', policyVersion: 2, decision: 'review', rules: ['NL-12'] });

    const owner = await l.http().get('/v1/ledger/statements').set(m.owner.auth);
    const capture = owner.body.transactions.find((t: { tradeId: string; kind: string }) => t.tradeId === trade.id && t.kind === 'capture');
    expect(capture).to.deep.include({ memo: 'capture on delivery', code: 'ledger.capture', params: { ownerShareFen: 4500, platformFeeFen: 500 } });
    const buyer = await l.http().get('/v1/ledger/statements').set(m.buyer.auth);
    const hold = buyer.body.transactions.find((t: { tradeId: string; kind: string }) => t.tradeId === trade.id && t.kind === 'hold');
    expect(hold).to.deep.include({ code: 'ledger.hold', params: { amountFen: 5000 } });
    const topUp = buyer.body.transactions.find((t: { kind: string }) => t.kind === 'top-up');
    expect(topUp).to.deep.include({ memo: 'test funds', code: 'ledger.top-up-memo', params: { amountFen: 100_000, memo: 'test funds' } });
    expect(render(topUp.code, topUp.params, 'zh')).to.equal('充值：test funds');
  });
});
