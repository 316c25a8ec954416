import { expect } from 'chai';
import { liveServer, offerInput, releaseLive, uploadBundle, type Live } from '../../server/fixture.js';
import { brief, buy, newBuyer, newOffer, newWorld, only, PRICE, sealRows, sql, TARGET, TARGET_ROWS, telecomRows, type World } from './world.js';

/**
 * Exact releases under two per-person row caps on one dataset version. The differencing guard reasons on sets
 * of declared cells and keeps one history per commitment, across offers; but which ROWS an exact aggregate
 * over a set reads depends on the offer's maxRowsPerPerson (each person's first m rows). The same set read
 * with m = 1 and with m = 10 differs exactly by the rows beyond each person's first — here only the target's —
 * so two releases the guard sees as one set give the target's income. An owner gets there naturally: the HE
 * refusal (privacy-contribution-unbounded) tells it to raise maxRowsPerPerson, in a new offer or version.
 */
describe('review: exact releases under different per-person row caps', function () {
  this.timeout(300_000);
  let l: Live;
  let w: World;

  before(async () => {
    l = await liveServer();
    w = await newWorld(l);
  });
  after(() => releaseLive());

  it(`SUM over the whole table with m = 1 and with m = ${TARGET_ROWS} does not give the target's income`, async () => {
    const capOne = await newOffer(w, { maxRowsPerPerson: 1 });
    const capTen = await newOffer(w, { maxRowsPerPerson: TARGET_ROWS });
    const buyer = await newBuyer(l);
    const q = sql('SELECT SUM(income) AS s, COUNT(*) AS n FROM dataset');
    const one = await buy(w, capOne, buyer, q);
    const ten = await buy(w, capTen, buyer, q);
    console.log(`      m = 1: ${brief(one)} s=${only(one, 's')} n=${only(one, 'n')}; m = ${TARGET_ROWS}: ${brief(ten)} s=${only(ten, 's')} n=${only(ten, 'n')}`);
    if (one.ok && ten.ok) {
      const extraRows = only(ten, 'n')! - only(one, 'n')!;
      const perRow = (only(ten, 's')! - only(one, 's')!) / extraRows;
      console.log(`      difference: ${extraRows} rows beyond the first of a person, ${perRow} per row (target's income: ${TARGET.income})`);
      expect(perRow, "the target's income, from two exact releases over one set").to.not.equal(TARGET.income);
    }
  });

  it(`one offer: buy under version 1 (m = 1), then under the owner's version 2 (m = ${TARGET_ROWS})`, async () => {
    const fixture = await sealRows(l, telecomRows());
    const dataset = await uploadBundle(l, w.owner, fixture, 'Telecom bills, second sealing');
    const v = { ...w, fixture, dataset };
    const offer = await newOffer(v, { maxRowsPerPerson: 1 }, undefined, dataset);
    const buyer = await newBuyer(l);
    const q = sql('SELECT SUM(income) AS s, COUNT(*) AS n FROM dataset');
    const one = await buy(v, offer, buyer, q);
    const base = offerInput().terms as Record<string, unknown>;
    const revised = await l.http().post(`/v1/offers/${offer.id}/versions`).set(w.owner.auth).send(
      offerInput({ title: 'Telecom bills', allowedKinds: ['aggregate', 'sql'], allowedColumns: ['district', 'plan', 'cohort', 'income_band', 'age', 'income'], priceModel: { kind: 'fixed', perQueryFen: PRICE }, terms: { ...base, minGroupSize: 5, maxRowsPerPerson: TARGET_ROWS } }),
    );
    expect(revised.status, JSON.stringify(revised.body)).to.equal(201);
    const ten = await buy(v, revised.body.offer, buyer, q);
    console.log(`      v1 (m = 1): ${brief(one)}; v2 (m = ${TARGET_ROWS}): ${brief(ten)}`);
    if (one.ok && ten.ok) {
      const perRow = (only(ten, 's')! - only(one, 's')!) / (only(ten, 'n')! - only(one, 'n')!);
      console.log(`      difference per extra row: ${perRow} (target's income: ${TARGET.income})`);
      expect(perRow, "the target's income, from one offer's two versions").to.not.equal(TARGET.income);
    }
  });
});
