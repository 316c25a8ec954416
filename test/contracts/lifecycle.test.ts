import { expect } from 'chai';
import { isDomainError } from '../../contracts/errors.js';
import { newId } from '../../contracts/ids.js';
import { computationHash } from '../../contracts/computation.js';
import { TRADE_STATES, TRANSITIONS, type TradeState } from '../../contracts/trade/states.js';
import type { Trade } from '../../contracts/trade/trade.js';
import { world } from './world.js';
import { onEngines, openSuiteDb } from '../store/engines.js';
import { contractsStore } from '../../server/store/tables/contracts-store.js';

/**
 * The services, not just the async table: from EVERY state, every lifecycle operation either performs a
 * transition that is in the table, returns the trade unchanged where the operation is idempotent,
 * or is refused with DomainError('illegal-transition') and changes nothing.
 */
onEngines('contracts/trade: every service operation from every state obeys the transition table', () => {
  let w: Awaited<ReturnType<typeof world>>;
  before(async () => {
    w = await world({ store: contractsStore(await openSuiteDb()) });
  });
  const seed = async (state: TradeState): Promise<Trade> => {
    const at = w.clock.now().toISOString();
    const t: Trade = {
      id: newId(),
      state,
      quoteId: newId(),
      offerId: 'offer-x',
      offerVersion: 1,
      datasetId: w.dataset.id,
      datasetCommitment: w.dataset.commitment,
      ownerOrgId: w.owner.orgId,
      buyerOrgId: w.buyer.orgId,
      buyerUserId: w.buyer.userId,
      computation: w.computation,
      computationHash: computationHash(w.computation),
      columnsUsed: null,
      purpose: { code: 'statistics', statement: '' },
      destination: 'CN',
      epsilonMilli: 500,
      rows: 10,
      minGroupSize: 10,
      priceFen: 0, // free: the money steps are no-ops, so only the state machine is under test here
      ownerShareFen: 0,
      platformFeeFen: 0,
      refusalChargeFen: 0,
      privacyTerms: null,
      screening: null,
      approval: null,
      reviewerId: null,
      failureReason: null,
      failure: null,
      result: null,
      expiresAt: new Date(w.clock.now().getTime() + 3_600_000).toISOString(),
      createdAt: at,
      updatedAt: at,
    };
    await w.store.trades.insert(t);
    return t;
  };

  const ops: { name: string; target: TradeState; idempotentIn?: TradeState; onlyFrom?: TradeState[]; run: (t: Trade) => Promise<Trade> }[] = [
    { name: 'approve', target: 'approved', onlyFrom: ['under_review'], run: async (t) => await w.contracts.decideReview({ tradeId: t.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'fine by policy', approval: w.approvalFor(t) }, certificate: w.certificate }) },
    { name: 'reject', target: 'rejected', onlyFrom: ['under_review'], run: async (t) => await w.contracts.decideReview({ tradeId: t.id, reviewer: w.reviewer, decision: { decision: 'reject', reason: 'not fine by policy' } }) },
    { name: 'startExecution', target: 'executing', idempotentIn: 'executing', run: async (t) => await w.contracts.startExecution({ tradeId: t.id, actor: 'worker' }) },
    { name: 'deliver', target: 'delivered', idempotentIn: 'settled', run: async (t) => await w.contracts.deliver({ tradeId: t.id, actor: 'worker', result: { receiptId: 'r' } }) },
    { name: 'fail', target: 'failed', idempotentIn: 'failed', run: async (t) => await w.contracts.fail({ tradeId: t.id, actor: 'worker', reason: 'boom' }) },
    { name: 'cancel', target: 'cancelled', idempotentIn: 'cancelled', run: async (t) => await w.contracts.cancel({ tradeId: t.id, actor: w.buyer }) },
  ];

  for (const op of ops) {
    // A person's review decision is narrower than the table: screened → approved/rejected is the screening's own edge.
    const allowed = (from: TradeState) => TRANSITIONS[from].includes(op.target) && (!op.onlyFrom || op.onlyFrom.includes(from));
    it(`${op.name}: allowed exactly from ${TRADE_STATES.filter(allowed).join(', ')}`, async () => {
      for (const from of TRADE_STATES) {
        const t = await seed(from);
        const before = (await w.contracts.tradeTransitions(t.id)).length;
        if (allowed(from)) {
          const out = await op.run(t);
          expect(out.state, `${op.name} from ${from}`).to.equal(op.target === 'delivered' ? 'settled' : op.target);
          expect((await w.contracts.tradeTransitions(t.id))[before]).to.deep.include({ from, to: op.target });
        } else if (op.idempotentIn === from) {
          expect((await op.run(t)).state).to.equal(from);
          expect((await w.contracts.tradeTransitions(t.id)).length).to.equal(before);
        } else {
          try {
            await op.run(t);
            expect.fail(`${op.name} from ${from} was not refused`);
          } catch (e) {
            expect(isDomainError(e) && e.type, `${op.name} from ${from}: ${(e as Error).message}`).to.equal('illegal-transition');
          }
          expect((await w.contracts.getTrade(t.id)).state).to.equal(from);
          expect((await w.contracts.tradeTransitions(t.id)).length).to.equal(before);
        }
      }
    });
  }

  it('expireDue expires exactly the states before execution, and nothing else', async () => {
    const seeded = await Promise.all(TRADE_STATES.map((s) => seed(s)));
    w.clock.advance(2 * 3_600_000);
    const expired = new Set((await w.contracts.expireDue()).map((t) => t.id));
    for (const t of seeded) {
      const shouldExpire = TRANSITIONS[t.state].includes('expired');
      expect(expired.has(t.id), t.state).to.equal(shouldExpire);
      expect((await w.contracts.getTrade(t.id)).state).to.equal(shouldExpire ? 'expired' : t.state);
    }
  });
});
