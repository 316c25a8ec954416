import { expect } from 'chai';
import { sm2KeyPair, sm2Fingerprint } from '../../crypto/index.js';
import { computationHash } from '../../contracts/computation.js';
import { OperatorClient, ReviewerClient, ShuyuApiError, ShuyuClient } from '../../client-sdk/sdk/index.js';
import type { ReviewCase } from '../../client-sdk/sdk/index.js';
import { type TestServer, startTestServer } from '../cli/harness.js';

/** The SDK's transport against a real server: problem+json → ShuyuApiError, Idempotency-Key, pagination. */
describe('SDK transport (real server, no enclave)', function () {
  this.timeout(120_000);
  let t: TestServer;
  let op: OperatorClient;
  before(async () => {
    t = await startTestServer({ enclave: false });
    op = new OperatorClient({ url: t.url, token: t.bootstrap.token });
  });
  after(async () => t?.stop());

  const caught = async (p: Promise<unknown>): Promise<ShuyuApiError> => {
    try {
      await p;
    } catch (e) {
      expect(e).to.be.instanceOf(ShuyuApiError);
      return e as ShuyuApiError;
    }
    throw new Error('expected a ShuyuApiError');
  };

  it('maps problem+json to ShuyuApiError { status, type, slug, title, detail, problem }', async () => {
    const bad = await caught(new ShuyuClient({ url: t.url, token: 'shy_not-a-real-token' }).me());
    expect(bad.status).to.equal(401);
    expect(bad.type).to.equal(`https://shuyu.local/problems/${bad.slug}`);
    expect(bad.detail).to.be.a('string');
    const unknownField = await caught(op.http.post('/orgs', { name: 'x', region: 'CN', price: 1 }));
    expect(unknownField.status).to.equal(422);
    expect(unknownField.slug).to.equal('validation-failed');
    expect(JSON.stringify(unknownField.problem)).to.contain('price');
    const unreachable = await caught(new ShuyuClient({ url: 'http://127.0.0.1:1', timeoutMs: 2000 }).health());
    expect(unreachable.status).to.equal(0);
    expect(unreachable.title).to.equal('server unreachable');
  });

  it('money-moving POSTs carry an Idempotency-Key: a retry with the same key replays, without one is refused', async () => {
    const org = await op.createOrg({ name: 'idempotency test org' });
    const first = await op.topUp(org.id, 12_345, { idempotencyKey: 'sdk-test-topup-0001' });
    const retry = await op.topUp(org.id, 12_345, { idempotencyKey: 'sdk-test-topup-0001' });
    expect(retry.id).to.equal(first.id);
    expect((await op.wallet(org.id)).availableFen).to.equal(12_345);
    const missing = await caught(op.http.post('/ledger/topups', { orgId: org.id, amountFen: 1 }));
    expect(missing.slug).to.equal('missing-idempotency-key');
  });

  it('paginate walks cursor pages to the end', async () => {
    for (let i = 0; i < 3; i++) await op.createOrg({ name: `page org ${i}` });
    const seen: string[] = [];
    for await (const o of op.http.paginate<{ id: string }>('/orgs', { limit: 2 })) seen.push(o.id);
    const all = await op.orgs({ limit: 100 });
    expect(seen).to.deep.equal(all.items.map((o) => o.id));
    expect(seen.length).to.be.greaterThan(3);
  });
});

describe('ReviewerClient.approvalFor (signs only what it was shown)', () => {
  const key = sm2KeyPair();
  const computation = { kind: 'aggregate' as const, metrics: [{ op: 'count' as const }], groupBy: [], filters: [] };
  const id = (n: number) => `01932c6e-7d2a-7cc1-8f00-00000000000${n}`;
  const trade = {
    id: id(1), datasetId: id(2), datasetCommitment: 'c'.repeat(64), buyerOrgId: id(3), buyerUserId: id(4), offerId: id(5), offerVersion: 1,
    computation, computationHash: computationHash(computation),
  };
  const template = {
    type: 'shuyu.approval.v1', tradeId: trade.id, datasetId: trade.datasetId, datasetCommitment: trade.datasetCommitment, buyerOrgId: trade.buyerOrgId,
    buyerUserId: trade.buyerUserId, offerId: trade.offerId, offerVersion: 1, computationHash: trade.computationHash, reviewerId: id(6),
    reviewerKeyFingerprint: sm2Fingerprint(key.publicKey),
  };
  const kase = (over: { trade?: object; approvalTemplate?: object } = {}) =>
    ({ trade: { ...trade, ...over.trade }, dataset: {}, approvalTemplate: { ...template, ...over.approvalTemplate } }) as unknown as ReviewCase;

  it('signs a statement bound to the trade, with the locally computed hash', () => {
    const a = ReviewerClient.approvalFor(kase(), key.privateKey);
    expect(a.statement).to.include({ tradeId: trade.id, computationHash: computationHash(computation), reviewerId: id(6) });
  });

  it('refuses a case whose computation does not hash to what it claims, a template for another trade, or another key', () => {
    const other = { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [{ column: 'x', in: ['y'] }] };
    expect(() => ReviewerClient.approvalFor(kase({ trade: { computation: other } }), key.privateKey)).to.throw().with.property('type', 'case-inconsistent');
    expect(() => ReviewerClient.approvalFor(kase({ approvalTemplate: { buyerOrgId: id(9) } }), key.privateKey)).to.throw().with.property('type', 'case-inconsistent');
    expect(() => ReviewerClient.approvalFor(kase(), sm2KeyPair().privateKey)).to.throw().with.property('type', 'key-mismatch');
  });
});
