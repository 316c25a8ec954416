import { expect } from 'chai';
import { liveServer, releaseLive, type Live } from '../../server/fixture.js';
import { brief, buy, newBuyer, newOffer, newWorld, only, sql, TARGET, TARGET_ROWS, type World } from './world.js';

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
});
