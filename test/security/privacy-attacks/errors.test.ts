import { expect } from 'chai';
import { liveServer, releaseLive, type Live } from '../../server/fixture.js';
import { brief, buy, newBuyer, newOffer, newWorld, quote, setDatasetEpsilonTotal, sql, TARGET, wallet, type Bought, type World } from './world.js';

/**
 * Runtime errors as an oracle, end to end over the API. A DP value expression that made SQLite raise on some
 * data (SUM's integer overflow, ABS of the most negative integer) failed the trade uncharged and unrecorded:
 * a free, exact yes/no about the rows. And an exact COUNT(DISTINCT …) per group told which values occur in
 * a block holding one person. Each attack prints what it got.
 */
describe('security: runtime errors and distinct counts as oracles', function () {
  this.timeout(300_000);
  let l: Live;
  let w: World;
  const DP_COLUMNS = ['district', 'plan', 'cohort', 'income_band', 'phone', 'age', 'income'];
  const INT64_MAX = '9223372036854775807';

  before(async () => {
    l = await liveServer();
    w = await newWorld(l);
    await setDatasetEpsilonTotal(w, 100);
  });
  after(() => releaseLive());

  /**
   * A trade's outcome is a noised answer, a charged privacy refusal, or a refusal at quote time (from the
   * query alone: no trade, no rows opened): never an uncharged failure once the rows are open.
   */
  const chargedOrAnswered = (b: Bought, what: string): void => {
    if (b.ok) return;
    if (b.stage === 'quote') {
      expect(b.status, `${what}: ${brief(b)}`).to.be.oneOf([400, 403, 422]);
      return;
    }
    expect(b.stage, `${what}: ${brief(b)}`).to.equal('enclave');
    expect(b.type, `${what}: ${brief(b)} ${b.reason}`).to.match(/^privacy-/);
    expect(b.chargedFen ?? 0, `${what}: the refusal is charged`).to.be.greaterThan(0);
    expect(b.reason, "SQLite's own text never reaches the buyer").to.not.match(/overflow/i);
  };

  it('DP: bisecting an integer-overflow multiplier yields noised answers (or charged refusals), never a free failure', async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 10, refusalAllowance: 2 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const before = await wallet(l, buyer);
    // D6 holds the target and two neighbours (one row each under the per-person cap): their income sum S.
    // Each row's clamped value stays an integer below 2^63 while S × M passes it for M above ~8.6e13: SUM
    // raised "integer overflow" exactly when S × M > 2^63 − 1, so bisecting M read S.
    const probe = (m: number): Record<string, unknown> => sql(`SELECT SUM(CAST(income AS INTEGER) * ${m}) AS s FROM dataset WHERE district = 'D6'`);
    let lo = 40_000_000_000_000;
    let hi = 115_000_000_000_000;
    const log: string[] = [];
    const outcomes: Bought[] = [];
    for (let i = 0; i < 4; i++) {
      const m = Math.floor((lo + hi) / 2);
      const b = await buy(w, offer, buyer, probe(m));
      outcomes.push(b);
      log.push(`M ${m.toExponential(3)}: ${b.ok ? `answer ${String(b.result.groups[0]?.values.s)}` : brief(b)}`);
      chargedOrAnswered(b, `M ${m}`);
      // the attacker's rule: a failure means S × M overflowed
      if (b.ok) lo = m;
      else hi = m;
    }
    // ABS of the most negative integer: raised iff the target's income equals the guess
    const guess = await buy(w, offer, buyer, sql(`SELECT SUM(CASE WHEN phone = '${TARGET.phone}' THEN ABS(CAST(income AS INTEGER) - ${TARGET.income} - ${INT64_MAX} - 1) END) AS s FROM dataset`));
    outcomes.push(guess);
    log.push(`ABS guess ${TARGET.income}: ${guess.ok ? 'answered' : brief(guess)}`);
    chargedOrAnswered(guess, 'ABS guess');
    const after = await wallet(l, buyer);
    const answered = outcomes.filter((o) => o.ok).length;
    const refused = outcomes.filter((o) => !o.ok) as Extract<Bought, { ok: false }>[];
    console.log(`      overflow bisection on D6's income sum: ${log.join('; ')}; ${answered} answered, ${refused.length} refused (charged ${refused.map((r) => r.chargedFen).join(', ') || 0} fen); wallet −${before.availableFen - after.availableFen} fen`);
    // by construction the executed query cannot raise: no probe fails in the enclave; bounds this large are
    // refused at quote time (their noise scale is past what the calibration can compute), costing nothing
    expect(outcomes.filter((o) => !o.ok && o.stage !== 'quote'), 'failures after the rows were opened').to.deep.equal([]);
    for (const o of outcomes) if (o.ok) expect(o.result.groups[0].values.s).to.be.a('number');
    expect(before.availableFen - after.availableFen).to.equal(answered * offer.priceModel.perQueryFen);
    // the same probe shapes with bounds the noise can be computed for run, and are answered with noise
    const small = await buy(w, offer, buyer, sql(`SELECT SUM(CAST(income AS INTEGER) * 3) AS s FROM dataset WHERE district = 'D6'`));
    expect(small.ok, JSON.stringify(small)).to.equal(true);
  });

  it('exact: COUNT(DISTINCT …) per group is refused at quote time (it would show which values a lone person has)', async () => {
    const offer = await newOffer(w);
    const buyer = await newBuyer(l);
    const before = await wallet(l, buyer);
    // D6 × plan: 'pro' holds the target alone; a distinct count of bands or cohorts shows the target's own
    const attacks = [
      "SELECT plan, COUNT(DISTINCT income_band) AS bands FROM dataset WHERE district = 'D6' GROUP BY plan",
      "SELECT plan, COUNT(DISTINCT cohort) AS cohorts FROM dataset WHERE district = 'D6' GROUP BY plan",
      'SELECT district, COUNT(DISTINCT plan) AS plans FROM dataset GROUP BY district',
    ];
    const answers = await Promise.all(attacks.map((q) => quote(w, offer, buyer, sql(q))));
    const after = await wallet(l, buyer);
    console.log(`      exact distinct counts: ${answers.map((a) => `${a.status} ${String(a.body.type).split('/').pop()}`).join(', ')}`);
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body)).to.be.oneOf([400, 403, 422]);
      expect(String(a.body.type).split('/').pop()).to.equal('sql-refused');
      expect(JSON.stringify(a.body)).to.contain('exact-aggregate-form').and.to.match(/distinct counts reveal which values occur/);
    }
    expect(after.availableFen).to.equal(before.availableFen);
    expect(after.heldFen).to.equal(0);
    // the same question under DP is answered with noise (a count: sensitivity m)
    const dpOffer = await newOffer(w, { epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 1 }, DP_COLUMNS);
    const b = await buy(w, dpOffer, await newBuyer(l), sql(attacks[0]!));
    expect(b.ok, JSON.stringify(b)).to.equal(true);
    if (b.ok) {
      expect(b.result.groups.map((g: any) => g.key[0])).to.deep.equal(['basic', 'plus', 'pro']);
      console.log(`      DP distinct count: ${JSON.stringify(b.result.groups.map((g: any) => g.values.bands))}; privacy ${JSON.stringify(b.result.privacy?.accuracy?.bands ?? b.result.privacy)}`);
    }
  });
});
