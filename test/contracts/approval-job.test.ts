import { expect } from 'chai';
import type { Db } from '../../server/store/db.js';
import { world } from './world.js';
import { thrown } from './helpers.js';
import { onEngines } from '../store/engines.js';

const jobsOf = (db: Db, tradeId: string) => db.all<{ state: string; attempts: number }>('SELECT state, attempts FROM jobs WHERE trade_id = ?', tradeId);

/** An approved trade is a queued job: approval and job creation commit in one transaction, on every path to `approved`. */
onEngines('contracts: approval queues the execution job in the same transaction', () => {
  it('a reviewer approval leaves exactly one queued job; a rejection leaves none', async () => {
    const w = await world();
    const db = w.db!;
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    expect(trade.state).to.equal('under_review');
    expect(await jobsOf(db, trade.id)).to.deep.equal([]);
    const approved = await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'county aggregate, fine', approval: w.approvalFor(trade) }, certificate: w.certificate });
    expect(approved.state).to.equal('approved');
    expect(await jobsOf(db, trade.id)).to.deep.equal([{ state: 'queued', attempts: 0 }]);

    const other = (await w.quoteAndSubmit({ offerId: offer.id })).trade;
    await w.contracts.decideReview({ tradeId: other.id, reviewer: w.reviewer, decision: { decision: 'reject', reason: 'purpose too vague' } });
    expect(await jobsOf(db, other.id)).to.deep.equal([]);
  });

  it('a failure after the approval was written rolls back the approval and its job together', async () => {
    const base = await world();
    const store = base.store;
    const failing = {
      ...store,
      audit: {
        ...store.audit,
        append: async (e: Parameters<typeof store.audit.append>[0]) => {
          if (e.action === 'trade.approved') throw new Error('injected failure after the approval and its job were written');
          await store.audit.append(e);
        },
      },
    };
    const w = await world({ store: failing });
    const db = base.db!;
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    expect(
      await thrown(() => w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'fine', approval: w.approvalFor(trade) }, certificate: w.certificate })),
    ).to.throw(/injected/);
    expect((await w.contracts.getTrade(trade.id)).state).to.equal('under_review');
    expect(await jobsOf(db, trade.id), 'no job without its approval').to.deep.equal([]);
  });

  it('auto-approval at screening queues the job in the submission transaction', async () => {
    const w = await world();
    const db = w.db!;
    await w.contracts.publishPolicy({ ...await w.contracts.activePolicy(), version: (await w.contracts.activePolicy()).version + 1, autoApprove: { enabled: true, maxLevel: 4 } }, 'operator');
    const offer = await w.listOffer();
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 't', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id });
    expect(trade.state, JSON.stringify(trade.screening)).to.equal('approved');
    expect(await jobsOf(db, trade.id)).to.deep.equal([{ state: 'queued', attempts: 0 }]);
  });
});
