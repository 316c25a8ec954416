import { expect } from 'chai';
import { isDomainError } from '../../contracts/errors.js';
import { accountIds, replayJournal } from '../../contracts/ledger/ledger.js';
import { isChargedPrivacyRefusal } from '../../contracts/trade/trade.js';
import { offerInput } from './fixtures.js';
import { world } from './world.js';
import { thrown } from './helpers.js';
import { onEngines } from '../store/engines.js';

/** A trade the enclave refuses for privacy fails with a machine-readable reason and is charged as quoted. */
onEngines('contracts: privacy refusals are charged as quoted, once', () => {
  async function refusedTrade(refusalFeeBps: number) {
    const w = await world();
    const offer = await w.listOffer({ terms: { ...offerInput().terms, destinations: ['CN'], refusalFeeBps } });
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 'topup-1', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'aggregate by county', approval: w.approvalFor(trade) }, certificate: w.certificate });
    await w.contracts.startExecution({ tradeId: trade.id, actor: 'worker' });
    return { w, trade };
  }
  const balancesAddUp = async (w: Awaited<ReturnType<typeof world>>) => {
    const replayed = replayJournal(await w.contracts.context.store.ledger.transactions({ limit: 100_000 }));
    for (const a of await w.contracts.accounts()) expect(replayed.get(a.id) ?? 0, a.id).to.equal(a.balance);
    expect([...replayed.values()].reduce((s, v) => s + v, 0)).to.equal(0);
  };

  it('the trade records its refusal charge at submit: ⌊price × refusalFeeBps / 10000⌋', async () => {
    const { trade } = await refusedTrade(2_500);
    expect(trade.priceFen).to.equal(1000);
    expect(trade.refusalChargeFen).to.equal(250);
    expect(trade.privacyTerms).to.deep.include({ minGroupSize: trade.minGroupSize, epsilon: 0.5, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 });
  });

  it('refused: failed with { code, type, params }, the charge split owner/platform, the rest returned — in one posting, exactly once', async () => {
    const { w, trade } = await refusedTrade(2_500);
    const args = { tradeId: trade.id, actor: 'worker', type: 'privacy-differencing-refused', params: { k: 10 }, message: 'refused: would single out fewer than 10 people' };
    const failed = await w.contracts.refuseForPrivacy(args);
    expect(failed.state).to.equal('failed');
    expect(failed.failure).to.deep.equal({
      code: 'privacy-refused',
      type: 'privacy-differencing-refused',
      params: { k: 10 },
      chargedFen: 250,
      message: { code: 'failure.privacy-refused', params: { type: 'privacy-differencing-refused', chargedFen: 250 } },
    });
    expect(failed.failureReason).to.match(/privacy-differencing-refused/);
    // 250 charged: 10 % platform fee of it (25), 225 to the owner; 750 back: the buyer paid 250 in all
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(9_750);
    expect((await w.contracts.balances(w.owner.orgId)).revenueFen).to.equal(225);
    expect(await w.contracts.platformFeeFen()).to.equal(25);
    expect(await w.contracts.context.ledger.balance(accountIds.escrow(trade.id))).to.equal(0);
    // retried (a job picked up again), or refused again, or delivered after all: no money moves a second time
    expect((await w.contracts.refuseForPrivacy(args)).state).to.equal('failed');
    expect(await thrown(() => w.contracts.deliver({ tradeId: trade.id, actor: 'worker', result: {} }))).to.throw().with.property('type', 'illegal-transition');
    expect((await w.contracts.fail({ tradeId: trade.id, actor: 'worker', reason: 'x' })).state).to.equal('failed');
    expect((await w.contracts.tradeLedger(trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(9_750);
    balancesAddUp(w);
    const actions = (await w.contracts.auditEvents({ entityId: trade.id })).map((e) => e.action);
    expect(actions.filter((a) => a === 'trade.failed')).to.have.length(1);
  });

  it('a full-price refusal fee captures exactly like a delivery; a zero fee returns everything', async () => {
    const full = await refusedTrade(10_000);
    await full.w.contracts.refuseForPrivacy({ tradeId: full.trade.id, actor: 'worker', type: 'privacy-budget-exhausted', params: { limit: 'dataset' }, message: 'spent' });
    expect((await full.w.contracts.balances(full.w.owner.orgId)).revenueFen).to.equal(900);
    expect(await full.w.contracts.platformFeeFen()).to.equal(100);
    expect((await full.w.contracts.balances(full.w.buyer.orgId)).walletFen).to.equal(9_000);
    balancesAddUp(full.w);
    const free = await refusedTrade(0);
    await free.w.contracts.refuseForPrivacy({ tradeId: free.trade.id, actor: 'worker', type: 'privacy-refusal-allowance-exhausted', params: {}, message: 'used up' });
    expect((await free.w.contracts.balances(free.w.buyer.orgId)).walletFen).to.equal(10_000);
    expect((await free.w.contracts.tradeLedger(free.trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);
    balancesAddUp(free.w);
  });

  it('an execution failure still returns everything, with its own code', async () => {
    const { w, trade } = await refusedTrade(10_000);
    const failed = await w.contracts.fail({ tradeId: trade.id, actor: 'worker', reason: 'the computation could not be run; no money was taken', type: 'execution-failed' });
    expect(failed.failure).to.deep.include({ code: 'execution-failed', chargedFen: 0 });
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(10_000);
    balancesAddUp(w);
  });

  it('which refusals are charged: the buyer-facing privacy refusals, not the platform\'s own state', () => {
    for (const t of ['privacy-differencing-refused', 'privacy-budget-exhausted', 'privacy-refusal-allowance-exhausted', 'privacy-unsupported-output']) expect(isChargedPrivacyRefusal(t), t).to.equal(true);
    for (const t of ['privacy-row-map-missing', 'privacy-row-map-mismatch', 'privacy-history-too-complex', 'sql-refused', 'execution-failed', 'approval-invalid']) expect(isChargedPrivacyRefusal(t), t).to.equal(false);
  });

  it('the approval must state exactly the trade\'s privacy terms (v2)', async () => {
    const w = await world();
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 'topup-1', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    const decide = async (approval: unknown) => {
      try {
        await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'looks fine', approval }, certificate: w.certificate });
        return 'approved';
      } catch (e) {
        return isDomainError(e) ? `${e.type}: ${e.message}` : String(e);
      }
    };
    expect(await decide(w.approvalFor(trade, { privacy: { ...trade.privacyTerms!, minGroupSize: 2 } }))).to.match(/invalid-approval: .*minGroupSize/);
    expect(await decide(w.approvalFor({ ...trade, privacyTerms: null }))).to.match(/invalid-approval: .*v2/);
    expect(await decide(w.approvalFor(trade))).to.equal('approved');
  });
});
