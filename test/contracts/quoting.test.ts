import { expect } from 'chai';
import { offerInput } from './fixtures.js';
import { world } from './world.js';
import { onEngines } from '../store/engines.js';

onEngines('contracts/pricing: quotes under each price model', () => {
  it('subscription: the first trade of a period pays the period, the next ones are free, a new period pays again', async () => {
    const w = await world();
    const offer = await w.listOffer({ priceModel: { kind: 'subscription', periodFen: 3_000, periodDays: 30, queriesPerPeriod: 2 }, terms: { ...offerInput().terms, destinations: ['CN'], queryQuotaPerBuyer: 100 } });
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 't', actor: 'operator' });
    const p1 = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).quote.statement.priceFen;
    const p2 = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).quote.statement.priceFen;
    let refused = '';
    await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' }).catch((e) => (refused = e.type));
    w.clock.advance(30 * 86_400_000);
    const p3 = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).quote.statement.priceFen;
    expect([p1, p2, refused, p3]).to.deep.equal([3_000, 0, 'quota-exhausted', 3_000]);
    expect((await w.contracts.balances(w.buyer.orgId)).walletFen).to.equal(4_000);
  });

  it('ε-priced: the price follows the offer\'s ε per query; verify spends no ε', async () => {
    const w = await world();
    const offer = await w.listOffer({
      allowedKinds: ['aggregate', 'verify'],
      allowedColumns: ['county', 'sex', 'cost', 'patient_id'],
      priceModel: { kind: 'epsilon', baseFen: 100, fenPerEpsilon: 2_000 },
      terms: { ...offerInput().terms, destinations: ['CN'], epsilonPerQuery: 0.25 },
    });
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 10_000, idempotencyKey: 't', actor: 'operator' });
    const agg = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' })).quote.statement;
    expect(agg).to.deep.include({ epsilonMilli: 250, priceFen: 600 });
    const ver = (await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN', computation: { kind: 'verify', match: { patient_id: 'p-1', county: 'dali' } } })).quote.statement;
    expect(ver).to.deep.include({ epsilonMilli: 0, priceFen: 100 });
  });

  it('a quote is signed by the platform key and names it', async () => {
    const w = await world();
    const offer = await w.listOffer();
    const q = await w.contracts.quote({ request: { offerId: offer.id, computation: w.computation, purpose: { code: 'statistics', statement: '' }, destination: 'CN' }, dataset: w.dataset, buyer: w.buyer });
    const { quoteSignatureValid } = await import('../../contracts/pricing/quote.js');
    expect(quoteSignatureValid(q, w.platform.publicKeyPem)).to.equal(true);
    expect(quoteSignatureValid(q, (await world()).platform.publicKeyPem)).to.equal(false);
    expect(Date.parse(q.statement.expiresAt) - Date.parse(q.statement.issuedAt)).to.equal(15 * 60_000);
  });
});
