import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../contracts/errors.js';
import { accountIds } from '../../contracts/ledger/ledger.js';
import { openDatabase } from '../../server/store/db.js';
import { contractsStore } from '../../server/store/tables/contracts-store.js';
import { thrown } from './helpers.js';
import { offerInput } from './fixtures.js';
import { world } from './world.js';
import { onEngines } from '../store/engines.js';

const expectType = async (fn: () => unknown, type: string) => {
  try {
    await fn();
  } catch (e) {
    expect(isDomainError(e) ? e.type : String(e)).to.equal(type);
    return e;
  }
  expect.fail(`expected DomainError ${type}`);
};
const rejectsType = async (p: Promise<unknown>, type: string) => {
  try {
    await p;
  } catch (e) {
    expect(isDomainError(e) ? e.type : String(e)).to.equal(type);
    return;
  }
  expect.fail(`expected DomainError ${type}`);
};

onEngines('contracts: the whole trade lifecycle through the facade', () => {
  it('quote → submit (hold) → review → approve (signed) → execute → deliver (capture owner share + fee) → settled', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 'topup-1', actor: 'operator' });
    const { quote, trade } = await w.quoteAndSubmit({ offerId: offer.id });
    // per-row 50 fen / 1000 rows × 20,000 rows = 1000 fen; 10% fee
    expect(quote.statement).to.deep.include({ priceFen: 1000, ownerShareFen: 900, platformFeeFen: 100, offerVersion: 1, epsilonMilli: 500 });
    expect(trade.state).to.equal('under_review');
    expect(trade.screening!.decision).to.equal('allow');
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(9_000);
    expect(await w.contracts.context.ledger.balance(accountIds.escrow(trade.id))).to.equal(1000);

    const approved = await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'aggregate by county, DP applied', approval: w.approvalFor(trade) }, certificate: w.certificate });
    expect(approved.state).to.equal('approved');
    expect(approved.approval!.statement.tradeId).to.equal(trade.id);
    expect((await w.contracts.startExecution({ tradeId: trade.id, actor: 'worker' })).state).to.equal('executing');
    expect((await w.contracts.startExecution({ tradeId: trade.id, actor: 'worker' })).state).to.equal('executing'); // re-picked job
    const settled = await w.contracts.deliver({ tradeId: trade.id, actor: 'worker', result: { receiptId: 'r-1' } });
    expect(settled.state).to.equal('settled');
    expect((await w.contracts.deliver({ tradeId: trade.id, actor: 'worker', result: { receiptId: 'r-1' } })).state).to.equal('settled'); // never charges twice
    expect((await w.contracts.balances(w.owner.orgId)).revenueFen).to.equal(900);
    expect(await w.contracts.platformFeeFen()).to.equal(100);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(9_000);
    expect((await w.contracts.tradeLedger(trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);

    const path = (await w.contracts.tradeTransitions(trade.id)).map((t) => `${t.from}→${t.to}`);
    expect(path).to.deep.equal(['submitted→screened', 'screened→under_review', 'under_review→approved', 'approved→executing', 'executing→delivered', 'delivered→settled']);
    for (const t of await w.contracts.tradeTransitions(trade.id)) expect(t.actor && t.at && t.reason).to.be.a('string').and.not.equal('');

    const cp = await w.contracts.checkpoint();
    expect(await w.contracts.verifyAudit(cp)).to.deep.include({ ok: true });
    const actions = (await w.contracts.auditEvents({ entityId: trade.id })).map((e) => e.action);
    expect(actions).to.deep.equal(['trade.submitted', 'trade.screened', 'trade.under_review', 'trade.approved', 'trade.executing', 'trade.delivered', 'trade.settled']);
  });

  it('the default negative list denies a trade on a biometric dataset: rejected, funds released, every hit explained', async () => {
    const w = await world();
    // Listing such a dataset is denied too; list it under a permissive policy to reach trade time.
    await expectType(() => w.listOffer({ allowedColumns: ['gate', 'visits'] }, w.bioDataset), 'negative-list-denied');
    const permissive = { ...await w.contracts.activePolicy(), version: (await w.contracts.activePolicy()).version + 1, rules: (await w.contracts.activePolicy()).rules.map((r) => ({ ...r, stages: r.id === 'NL-02' ? ['trade'] : r.stages })) };
    await w.contracts.publishPolicy(permissive, 'operator');
    const offer = await w.listOffer({ allowedColumns: ['gate', 'visits'] }, w.bioDataset);
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id, dataset: w.bioDataset, computation: { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'visits' }], groupBy: ['gate'], filters: [] } });
    expect(trade.state).to.equal('rejected');
    expect(trade.screening!.decision).to.equal('deny');
    const f = trade.screening!.findings.find((x) => x.ruleId === 'NL-02')!;
    expect(f.reason.en).to.contain('biometric');
    expect(f.reason.zh).to.contain('生物识别');
    expect(f.policyVersion).to.equal(permissive.version);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(5_000);
    expect((await w.contracts.tradeLedger(trade.id)).map((t) => [t.kind, t.code, t.params])).to.deep.equal([
      ['hold', 'ledger.hold', { amountFen: trade.priceFen }],
      ['release', 'ledger.release-denied', { amountFen: trade.priceFen }],
    ]);
    const last = (await w.contracts.tradeTransitions(trade.id)).at(-1)!;
    expect(last.reason).to.contain('NL-02');
    expect(last).to.deep.include({ code: 'trade.denied', params: { rules: ['NL-02'] } });
  });

  it('screening an offer before listing shows every finding, deny included, and writes nothing', async () => {
    const w = await world();
    await w.contracts.activePolicy(); // the first use of the default list records it
    const events = (await w.contracts.auditEvents({})).length;
    const denied = await w.contracts.screenOffer({ dataset: w.bioDataset, input: offerInput({ allowedColumns: ['gate', 'visits'] }), actor: w.owner });
    expect(denied.decision).to.equal('deny');
    expect(denied.findings.map((f) => f.ruleId)).to.include('NL-02');
    const review = await w.contracts.screenOffer({ dataset: w.dataset, input: offerInput({ terms: { ...offerInput().terms, destinations: ['CN', 'HK'] } }), actor: w.owner });
    expect(review.decision).to.equal('review');
    expect(review.findings.map((f) => f.ruleId)).to.deep.equal(['NL-07']);
    expect(await w.contracts.listOffers({ datasetId: w.dataset.id })).to.deep.equal([]);
    expect((await w.contracts.auditEvents({})).length).to.equal(events);
    await expectType(() => w.contracts.screenOffer({ dataset: w.dataset, input: offerInput(), actor: w.buyer }), 'forbidden');
    await expectType(() => w.contracts.screenOffer({ dataset: w.dataset, input: offerInput({ allowedColumns: ['nope'] }), actor: w.owner }), 'invalid-offer');
  });

  it('a cross-border destination goes to review with the NL-07 finding', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id, destination: 'US' });
    expect(trade.state).to.equal('under_review');
    expect(trade.screening!.decision).to.equal('review');
    expect(trade.screening!.findings.map((f) => f.ruleId)).to.deep.equal(['NL-07']);
  });

  it('reviewer rejection releases the hold; separation of duties refuses buyer- and owner-organisation reviewers', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    await expectType(async () => await w.contracts.decideReview({ tradeId: trade.id, reviewer: { userId: 'x', orgId: w.buyer.orgId }, decision: { decision: 'reject', reason: 'conflict of interest' } }), 'separation-of-duties');
    await expectType(async () => await w.contracts.decideReview({ tradeId: trade.id, reviewer: { userId: 'y', orgId: w.owner.orgId }, decision: { decision: 'reject', reason: 'conflict of interest' } }), 'separation-of-duties');
    await expectType(async () => await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'reject', reason: '' } }), 'invalid-review');
    const rejected = await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'reject', reason: 'purpose statement too vague' } });
    expect(rejected.state).to.equal('rejected');
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(5_000);
    expect((await w.contracts.review(trade.id))!.reason).to.equal('purpose statement too vague');
    await expectType(async () => await w.contracts.startExecution({ tradeId: trade.id, actor: 'worker' }), 'illegal-transition');
  });

  it('approval must verify: wrong trade, unsigned or foreign certificate, expired approval are refused', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    const approve = async (approval: unknown, certificate: unknown = w.certificate) =>
      await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'looks fine to me', approval }, certificate });
    await expectType(() => approve(w.approvalFor(trade, { computationHash: 'a'.repeat(64) })), 'invalid-approval');
    await expectType(() => approve(w.approvalFor(trade, { offerVersion: 7 })), 'invalid-approval');
    await expectType(() => approve(w.approvalFor(trade, { expiresAt: '2026-06-01T00:00:00.000Z' })), 'invalid-approval');
    await expectType(() => approve(w.approvalFor(trade), { ...w.certificate, signature: w.certificate.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }), 'invalid-approval');
    await expectType(() => approve({ ...w.approvalFor(trade), signature: 'AAAA' }), 'invalid-approval');
    expect((await w.contracts.getTrade(trade.id)).state).to.equal('under_review');
    expect((await approve(w.approvalFor(trade))).state).to.equal('approved');
  });

  it('quotes: expired, tampered, reused by another buyer, or not matching the computation are refused; resubmission is idempotent', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 50_000, idempotencyKey: 't', actor: 'operator' });
    const req = { offerId: offer.id, computation: w.computation, purpose: { code: 'statistics', statement: '' }, destination: 'CN' };
    const quote = await w.contracts.quote({ request: req, dataset: w.dataset, buyer: w.buyer });
    const submit = async (q: unknown, computation: unknown = w.computation, buyer = w.buyer) => await w.contracts.submitTrade({ request: { quote: q, computation }, dataset: w.dataset, buyer });
    await expectType(() => submit({ ...quote, statement: { ...quote.statement, priceFen: 1 } }), 'invalid-quote');
    await expectType(() => submit(quote, { ...w.computation, groupBy: ['sex'] }), 'quote-mismatch');
    await expectType(() => submit(quote, w.computation, { ...w.buyer, orgId: 'org-other' }), 'invalid-quote');
    await expectType(() => submit({ junk: true }), 'invalid-quote');
    await expectType(async () => await w.contracts.submitTrade({ request: { quote, computation: w.computation, price: 0 }, dataset: w.dataset, buyer: w.buyer }), 'invalid-request');
    const t1 = await submit(quote);
    expect((await submit(quote)).id).to.equal(t1.id);
    expect((await w.contracts.tradeLedger(t1.id)).length).to.equal(1);
    const late = await w.contracts.quote({ request: req, dataset: w.dataset, buyer: w.buyer });
    w.clock.advance(15 * 60_000);
    await expectType(() => submit(late), 'quote-expired');
    await rejectsType(w.contracts.quote({ request: { ...req, purpose: { code: 'marketing', statement: '' } }, dataset: w.dataset, buyer: w.buyer }), 'purpose-not-permitted');
    await rejectsType(w.contracts.quote({ request: { ...req, destination: 'DE' }, dataset: w.dataset, buyer: w.buyer }), 'destination-not-permitted');
    await rejectsType(w.contracts.quote({ request: { ...req, computation: { ...w.computation, groupBy: ['diagnosis'] } }, dataset: w.dataset, buyer: w.buyer }), 'computation-not-offered');
    await rejectsType(w.contracts.quote({ request: { ...req, computation: { kind: 'verify', match: { county: 'dali' } } }, dataset: w.dataset, buyer: w.buyer }), 'computation-not-offered');
  });

  it('insufficient funds: no trade, no hold, no audit event is left behind', async () => {
    const w = await world();
    const offer = await w.listOffer();
    const before = (await w.contracts.auditEvents()).length;
    const quote = await w.contracts.quote({ request: { offerId: offer.id, computation: w.computation, purpose: { code: 'statistics', statement: '' }, destination: 'CN' }, dataset: w.dataset, buyer: w.buyer });
    await expectType(async () => await w.contracts.submitTrade({ request: { quote, computation: w.computation }, dataset: w.dataset, buyer: w.buyer }), 'insufficient-funds');
    expect(await w.contracts.listTrades({})).to.deep.equal([]);
    expect((await w.contracts.auditEvents()).length).to.equal(before + 1); // only quote.issued
  });

  it('a failure injected after the hold rolls back the trade, the hold and their audit events together', async () => {
    const { store } = await world();
    const failing = {
      ...store,
      audit: {
        ...store.audit,
        append: async (e: Parameters<typeof store.audit.append>[0]) => {
          if (e.action === 'hold') throw new Error('injected failure after the ledger write');
          await store.audit.append(e);
        },
      },
    };
    const w = await world({ store: failing });
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
    const events = (await store.audit.events({})).length;
    const quote = await w.contracts.quote({ request: { offerId: offer.id, computation: w.computation, purpose: { code: 'statistics', statement: '' }, destination: 'CN' }, dataset: w.dataset, buyer: w.buyer });
    expect(await thrown(() => w.contracts.submitTrade({ request: { quote, computation: w.computation }, dataset: w.dataset, buyer: w.buyer }))).to.throw(/injected/);
    expect(await store.trades.list({})).to.deep.equal([]);
    expect((await store.ledger.transactions({})).map((t) => t.kind)).to.deep.equal(['top-up']);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(5_000);
    expect((await store.audit.events({})).map((e) => e.action).slice(events)).to.deep.equal(['quote.issued']);
  });

  it('fail, cancel and expiry release the hold; quota per buyer is enforced', async () => {
    const w = await world();
    const offer = await w.listOffer({ terms: { ...(await w.listOffer()).terms, queryQuotaPerBuyer: 3, destinations: ['CN'] } });
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 50_000, idempotencyKey: 't', actor: 'operator' });
    const a = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).trade;
    const b = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).trade;
    const c = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).trade;
    await rejectsType(w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' }), 'quota-exhausted');

    await w.contracts.decideReview({ tradeId: a.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'fine by policy', approval: w.approvalFor(a) }, certificate: w.certificate });
    await w.contracts.startExecution({ tradeId: a.id, actor: 'worker' });
    const failed = await w.contracts.fail({ tradeId: a.id, actor: 'worker', reason: 'the enclave refused: group below minimum size' });
    expect(failed.failureReason).to.contain('minimum');
    await expectType(async () => await w.contracts.cancel({ tradeId: b.id, actor: { userId: 'x', orgId: 'org-other' } }), 'forbidden');
    expect((await w.contracts.cancel({ tradeId: b.id, actor: w.buyer })).state).to.equal('cancelled');
    w.clock.advance(72 * 3_600_000);
    expect((await w.contracts.expireDue()).map((t) => t.id)).to.deep.equal([c.id]);
    expect((await w.contracts.getTrade(c.id)).state).to.equal('expired');
    expect(await w.contracts.expireDue()).to.deep.equal([]);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(50_000);
    for (const t of [a, b, c]) expect((await w.contracts.tradeLedger(t.id)).map((x) => x.kind)).to.deep.equal(['hold', 'release']);
    // failed trades keep counting against quota, cancelled and expired do not
    expect((await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).trade.state).to.equal('under_review');
  });

  it('offers are versioned: a revision is a new version, a running trade keeps the version and price it was quoted under', async () => {
    const w = await world();
    const v1 = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 50_000, idempotencyKey: 't', actor: 'operator' });
    const { quote } = await w.quoteAndSubmit({ offerId: v1.id });
    const { offer: v2 } = await w.contracts.reviseOffer({ offerId: v1.id, dataset: w.dataset, input: offerInput({ priceModel: { kind: 'fixed', perQueryFen: 7_777 }, terms: v1.terms }), actor: w.owner });
    expect(v2.version).to.equal(2);
    expect((await w.contracts.offerVersions(v1.id)).map((o) => o.version)).to.deep.equal([1, 2]);
    const trade = (await w.contracts.listTrades({}))[0]!;
    expect(trade.offerVersion).to.equal(1);
    expect(trade.priceFen).to.equal(quote.statement.priceFen);
    expect((await w.quoteAndSubmit({ offerId: v1.id })).quote.statement).to.deep.include({ offerVersion: 2, priceFen: 7_777 });
    await expectType(async () => await w.contracts.reviseOffer({ offerId: v1.id, dataset: w.dataset, input: {}, actor: { userId: 'u', orgId: 'org-buyer' } }), 'forbidden');
    await w.contracts.withdrawOffer({ offerId: v1.id, actor: w.owner });
    await rejectsType(w.quoteAndSubmit({ offerId: v1.id }), 'offer-withdrawn');
  });

  it('persists in a real SQLite file in WAL mode: reopened, the trades, balances and a verifiable audit chain are all there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-contracts-'));
    try {
      const file = join(dir, 'shuyu.sqlite');
      const db = await openDatabase(file);
      expect(await db.get('PRAGMA journal_mode')).to.deep.equal({ journal_mode: 'wal' });
      const w = await world({ store: contractsStore(db) });
      const offer = await w.listOffer();
      await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 5_000, idempotencyKey: 't', actor: 'operator' });
      const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
      const cp = await w.contracts.checkpoint();
      await db.close();

      const db2 = await openDatabase(file);
      const store = contractsStore(db2);
      expect((await store.trades.get(trade.id))!.state).to.equal('under_review');
      expect((await store.ledger.account(accountIds.wallet(w.buyer.orgId)))!.balance).to.equal(4_000);
      expect((await store.offers.get(offer.id))!.version).to.equal(1);
      const w2 = await world({ store, platform: w.platform });
      expect(await w2.contracts.verifyAudit(cp)).to.deep.include({ ok: true });
      await db2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

onEngines('contracts: events of entities the server owns join the same chain', () => {
  it('recordEvent inside transaction commits with the caller\'s write, or not at all', async () => {
    const w = await world();
    await w.contracts.recordEvent({ actor: 'operator', entityType: 'user', entityId: 'u-1', action: 'user.created', data: { role: 'buyer' } });
    expect(
      await thrown(() =>
        w.contracts.transaction(async () => {
          await w.contracts.recordEvent({ actor: 'owner', entityType: 'dataset', entityId: 'ds-9', action: 'dataset.created' });
          throw new Error('upload verification failed');
        }),
      ),
    ).to.throw(/upload/);
    expect((await w.contracts.auditEvents()).map((e) => e.action)).to.deep.equal(['user.created']);
    expect(await w.contracts.verifyAudit(await w.contracts.checkpoint())).to.deep.include({ ok: true, events: 1 });
  });
});
