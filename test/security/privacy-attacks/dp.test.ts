import { expect } from 'chai';
import { liveServer, releaseLive, uploadBundle, type Live } from '../../server/fixture.js';
import { brief, buy, he, newBuyer, newOffer, newWorld, only, quote, setDatasetEpsilonTotal, sql, TARGET, TARGET_ROWS, type Bought, type World } from './world.js';

/**
 * Attacks on differentially private offers end to end over the API: NULL and empty outputs as an oracle,
 * threshold and averaging attacks on one person, a person with many rows, text ranges, suppressed keys, and
 * the dataset-wide budget across buyers and listings. Each prints the figure it reached.
 */
describe('security: DP-release attacks over the API', function () {
  this.timeout(300_000);
  let l: Live;
  let w: World;
  const DP_COLUMNS = ['district', 'plan', 'cohort', 'income_band', 'phone', 'age', 'income'];
  const isTarget = `phone = '${TARGET.phone}'`;

  before(async () => {
    l = await liveServer();
    w = await newWorld(l);
    // the attacks below share this dataset; its dataset-wide budget must not be what stops them
    await setDatasetEpsilonTotal(w, 100);
  });
  after(() => releaseLive());

  const values = (b: Bought, names: string[]): unknown[] => (b.ok ? b.result.groups.flatMap((g: any) => names.map((n) => g.values[n])) : []);

  it('24 thresholds in one query: no NULL comes back and the per-threshold answers do not separate', async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 1 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const ts = Array.from({ length: 24 }, (_, i) => 2500 + i * 3200);
    const q = `SELECT ${ts.map((t, i) => `SUM(CASE WHEN ${isTarget} AND income > ${t} THEN 1 END) AS n${i}`).join(', ')} FROM dataset`;
    const b = await buy(w, offer, buyer, sql(q));
    expect(b.ok, JSON.stringify(b)).to.equal(true);
    const a = ts.map((_, i) => only(b, `n${i}`));
    const truth = ts.map((t) => (TARGET.income > t ? 1 : 0));
    // the attacker's best change point: the threshold after which the answers drop the most
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c <= ts.length; c++) {
      const score = a.slice(0, c).reduce((s: number, x) => s + (x! - 0.5), 0) - a.slice(c).reduce((s: number, x) => s + (x! - 0.5), 0);
      if (score > bestScore) [best, bestScore] = [c, score];
    }
    const estimate = best === 0 ? 0 : ts[best - 1]!;
    const ones = a.filter((_, i) => truth[i] === 1) as number[];
    const zeros = a.filter((_, i) => truth[i] === 0) as number[];
    const separated = Math.min(...ones) > Math.max(...zeros);
    const halfWidth = Number(b.ok && b.result.privacy.accuracy?.n0?.halfWidth95);
    console.log(`      24-threshold attack on the target's income (${TARGET.income}): answers ${JSON.stringify(a)}; estimate ${estimate} (error ${(Math.abs(estimate - TARGET.income) / TARGET.income * 100).toFixed(0)} %); separated ${separated}; 95 % half-width ${halfWidth}`);
    expect(a.every((x) => typeof x === 'number' && Number.isFinite(x)), 'a NULL or missing answer').to.equal(true);
    expect(separated, 'the answers above and below the income separate').to.equal(false);
    // each answer's noise dwarfs the target's contribution of at most one row
    expect(halfWidth).to.be.greaterThan(5);
  });

  it('24 thresholds as separate queries: the budget refuses first; empty answers are never NULL', async () => {
    const EPS = 0.5;
    const BUDGET = 2;
    const offer = await newOffer(w, { epsilonPerQuery: EPS, epsilonBudgetPerBuyer: BUDGET }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    // one query per threshold, "is the target's income above t?", until the budget stops it
    const ts = Array.from({ length: 24 }, (_, i) => 2500 + i * 3200);
    const answers: (number | null)[] = [];
    let refused: Bought | null = null;
    for (const t of ts) {
      const b = await buy(w, offer, buyer, sql(`SELECT SUM(CASE WHEN ${isTarget} AND income > ${t} THEN 1 END) AS n FROM dataset`));
      if (!b.ok) {
        refused = b;
        break;
      }
      answers.push(only(b, 'n'));
    }
    // the attacker's reading: the income is above the last threshold answered "≥ ½", if any
    const above = answers.flatMap((n, i) => (n! >= 0.5 ? [ts[i]!] : []));
    const estimate = above.length ? Math.max(...above) : 0;
    console.log(`      24-threshold scan with ε ${EPS} per query, budget ${BUDGET}: ${answers.length} answers ${JSON.stringify(answers)} (thresholds up to ${ts[answers.length - 1]}), then ${refused ? brief(refused) : 'finished'}; estimate ≥ ${estimate} vs ${TARGET.income}`);
    expect(answers.every((x) => typeof x === 'number' && Number.isFinite(x)), 'a NULL answer').to.equal(true);
    expect(answers.length).to.equal(BUDGET / EPS);
    expect(refused, 'the budget stops the scan').to.not.equal(null);
    expect((refused as { type: string }).type).to.equal('privacy-budget-exhausted');
    // the thresholds answered all lie far below the target's income: nothing brackets it
    expect(ts[answers.length - 1]!).to.be.below(TARGET.income * 0.9);
  });

  it('an empty selection comes back as noised numbers for every aggregate, never NULL', async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 1 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const empty = `${isTarget} AND income > 70000`;
    const b = await buy(
      w,
      offer,
      buyer,
      sql(
        `SELECT COUNT(CASE WHEN ${empty} THEN 1 END) AS c, SUM(CASE WHEN ${empty} THEN income END) AS s, AVG(CASE WHEN ${empty} THEN income END) AS a, MIN(CASE WHEN ${empty} THEN age END) AS lo, MAX(CASE WHEN ${empty} THEN age END) AS hi FROM dataset`,
      ),
    );
    const got = ['c', 's', 'a', 'lo', 'hi'].map((n) => only(b, n));
    console.log(`      empty selection under DP (${brief(b)}): count ${got[0]}, sum ${got[1]}, mean ${got[2]}, min ${got[3]}, max ${got[4]}`);
    expect(b.ok, JSON.stringify(b)).to.equal(true);
    expect(got.every((x) => typeof x === 'number' && Number.isFinite(x)), 'a NULL output').to.equal(true);
  });

  it('AVG(CASE …) averaging: five noisy means of one person do not get within a few yuan', async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 5 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const q = sql(`SELECT AVG(CASE WHEN ${isTarget} THEN income END) AS a FROM dataset`);
    const got: (number | null)[] = [];
    for (let i = 0; i < 5; i++) got.push(only(await buy(w, offer, buyer, q), 'a'));
    const sixth = await buy(w, offer, buyer, q);
    const mean = got.reduce((s: number, x) => s + (x ?? 0), 0) / got.length;
    console.log(`      AVG averaging on the target's income (${TARGET.income}): ${JSON.stringify(got)} → mean ${mean.toFixed(2)} (error ${Math.abs(mean - TARGET.income).toFixed(2)} yuan); a sixth: ${brief(sixth)}`);
    expect(got.every((x) => typeof x === 'number')).to.equal(true);
    expect(Math.abs(mean - TARGET.income)).to.be.greaterThan(50);
    expect(sixth.ok).to.equal(false);
  });

  it(`a person with ${TARGET_ROWS} rows counts once (m = 1)`, async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 8, epsilonBudgetPerBuyer: 8, maxRowsPerPerson: 1 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const b = await buy(w, offer, buyer, sql(`SELECT COUNT(CASE WHEN ${isTarget} THEN 1 END) AS n, SUM(CASE WHEN ${isTarget} THEN income END) AS s FROM dataset`));
    const n = only(b, 'n');
    const s = only(b, 's');
    console.log(`      many-rows person at ε 8, m 1: count ${n} (rows ${TARGET_ROWS}), sum ${s} (one row ${TARGET.income}, all rows ${TARGET.income * TARGET_ROWS})`);
    expect(b.ok, JSON.stringify(b)).to.equal(true);
    expect(n!).to.be.below(TARGET_ROWS / 2);
    expect(s!).to.be.below((TARGET.income * TARGET_ROWS) / 2);
  });

  it('text ranges and string functions on phone are refused at quote time', async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 4 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const qs = [
      `SELECT SUM(CASE WHEN phone > '1391' THEN 1 END) AS n FROM dataset`,
      `SELECT SUM(CASE WHEN phone BETWEEN '139' AND '1392' THEN 1 END) AS n FROM dataset`,
      `SELECT SUM(CASE WHEN phone <= '13912345678' THEN income END) AS s FROM dataset`,
      `SELECT SUM(CASE WHEN phone LIKE '1391%' THEN 1 END) AS n FROM dataset`,
      `SELECT SUM(CASE WHEN SUBSTR(phone, 1, 4) = '1391' THEN 1 END) AS n FROM dataset`,
      `SELECT COUNT(*) AS n FROM dataset WHERE phone = '${TARGET.phone}'`,
      `SELECT phone, COUNT(*) AS n FROM dataset GROUP BY phone`,
      `SELECT SUM(CASE WHEN phone > 13912345677 THEN 1 END) AS n FROM dataset`,
    ];
    const answers = await Promise.all(qs.map((q) => quote(w, offer, buyer, sql(q))));
    const passed = qs.filter((_, i) => answers[i]!.status === 201);
    console.log(`      text ranges on phone: ${qs.length - passed.length} of ${qs.length} refused at quote; passed ${JSON.stringify(passed)}`);
    expect(passed).to.deep.equal([]);
    for (const a of answers) expect(String(a.body.type).split('/').pop()).to.equal('sql-refused');
  });

  it("suppressed keys under DP: `WHERE district = 'D6' GROUP BY plan, cohort` answers all 9 domain keys, noised, no NULL", async () => {
    const offer = await newOffer(w, { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 2, maxRowsPerPerson: 1 }, DP_COLUMNS);
    const buyer = await newBuyer(l);
    const s = await buy(w, offer, buyer, sql("SELECT plan, cohort, COUNT(*) AS n, SUM(income) AS s FROM dataset WHERE district = 'D6' GROUP BY plan, cohort"));
    // the HE bundle is partitioned by district and plan: its form of the question groups by plan within D6
    const h = await buy(w, offer, buyer, he([{ op: 'count' }, { op: 'sum', measure: 'income' }], ['plan'], [{ column: 'district', in: ['D6'] }]));
    const keys = s.ok ? s.result.groups.map((g: any) => g.key.join('|')) : [];
    const target = s.ok ? s.result.groups.find((g: any) => g.key.join('|') === 'pro|c2019') : null;
    console.log(`      DP suppressed keys (SQL): ${brief(s)}, ${keys.length} keys, target's cell ${JSON.stringify(target?.values)}; HE form: ${brief(h)}${h.ok ? `, ${h.result.groups.length} keys` : ''}`);
    expect(s.ok, JSON.stringify(s)).to.equal(true);
    expect(keys).to.have.members(['basic', 'plus', 'pro'].flatMap((p) => ['c2019', 'c2020', 'c2021'].map((c) => `${p}|${c}`)));
    expect(values(s, ['n', 's']).every((v) => typeof v === 'number' && Number.isFinite(v))).to.equal(true);
    expect(s.ok && s.result.groups.every((g: any) => !g.rows)).to.equal(true);
    // the HE path cannot drop a person's extra rows: refused before anything is decrypted, or all keys answered
    if (h.ok) expect(h.result.groups.map((g: any) => g.key.join('|'))).to.have.members(['basic', 'plus', 'pro']);
    else expect(h.type).to.match(/contribution-unbounded|unsupported-layout/);
  });

  it('two organisations share the dataset-wide budget: once all buyers together spend it, the next is refused', async () => {
    const v = await newWorld(l);
    await setDatasetEpsilonTotal(v, 1);
    const offer = await newOffer(v, { epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 1 }, DP_COLUMNS);
    const q = sql('SELECT SUM(income) AS s FROM dataset');
    const a = await newBuyer(l);
    const b = await newBuyer(l);
    const c = await newBuyer(l);
    const ra = await buy(v, offer, a, q);
    const rb = await buy(v, offer, b, q);
    const rc = await buy(v, offer, c, q);
    const ra2 = await buy(v, offer, a, q);
    console.log(`      dataset-wide ε 1 at 0.5 per query: A ${brief(ra)}, B ${brief(rb)}, C ${brief(rc)}, A again ${brief(ra2)}`);
    expect(ra.ok && rb.ok).to.equal(true);
    for (const r of [rc, ra2]) {
      expect(r.ok).to.equal(false);
      expect((r as { type: string }).type).to.equal('privacy-budget-exhausted');
    }
  });

  it("the same bundle under two dataset ids: one buyer's ε budget is shared", async () => {
    const v = await newWorld(l);
    const second = await uploadBundle(l, v.owner, v.fixture, 'Telecom bills (second listing)');
    const o1 = await newOffer(v, { epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 0.5 }, DP_COLUMNS);
    const o2 = await newOffer(v, { epsilonPerQuery: 0.5, epsilonBudgetPerBuyer: 0.5 }, DP_COLUMNS, second);
    const buyer = await newBuyer(l);
    const q = sql(`SELECT SUM(CASE WHEN ${isTarget} THEN income END) AS s FROM dataset`);
    const r1 = await buy(v, o1, buyer, q);
    const r2 = await buy({ ...v, dataset: second }, o2, buyer, q);
    console.log(`      one bundle, two listings, per-buyer ε 0.5: first ${brief(r1)}, second ${brief(r2)}`);
    expect(r1.ok).to.equal(true);
    expect(r2.ok).to.equal(false);
    expect((r2 as { type: string }).type).to.equal('privacy-budget-exhausted');
  });
});
