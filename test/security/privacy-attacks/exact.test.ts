import { expect } from 'chai';
import { liveServer, releaseLive, uploadBundle, type Live } from '../../server/fixture.js';
import { BANDS, bandOf, brief, buy, he, newBuyer, newOffer, newWorld, only, quote, sql, telecomRows, TARGET, TARGET_ROWS, wallet, type Bought, type World } from './world.js';

/**
 * Attacks on EXACT (ε = 0) offers end to end over the API: row-level weights, refusal oracles, suppressed
 * keys, Denning trackers, two colluding buyers and a bundle published twice. Each asserts that the target's
 * value cannot be computed from what was released (not merely that something was refused), and prints the
 * figure it reached.
 */
describe('security: exact-release attacks over the API', function () {
  this.timeout(300_000);
  let l: Live;
  const targetIncomeTotal = TARGET.income * TARGET_ROWS;
  const targetAgeTotal = TARGET.age * TARGET_ROWS;

  before(async () => {
    l = await liveServer();
  });
  after(() => releaseLive());

  /** Every number the buyer got back (result, receipt and privacy summary), as text. */
  const everything = (b: Bought): string => (b.ok ? JSON.stringify([b.result, b.receipt]) : JSON.stringify(b));
  /** Every number in a released document, looking inside JSON carried as strings (the receipt's payload). */
  const numbersIn = (x: unknown, out: number[] = []): number[] => {
    if (typeof x === 'number') out.push(x);
    else if (typeof x === 'string' && /^[[{]/.test(x.trim())) {
      try {
        numbersIn(JSON.parse(x), out);
      } catch {
        /* not JSON: text */
      }
    } else if (typeof x === 'string' && /^-?[0-9]+(\.[0-9]+)?$/.test(x)) out.push(Number(x));
    else if (x && typeof x === 'object') for (const v of Object.values(x)) numbersIn(v, out);
    return out;
  };

  describe('row-level weights are refused at quote time, before money is held', () => {
    let w: World;
    let offer: Record<string, any>;
    before(async () => {
      w = await newWorld(l);
      offer = await newOffer(w);
    });

    const weights: [string, string][] = [
      ['COALESCE weight', 'SELECT SUM(COALESCE((age - 77) / (age - 77), 0)) AS n FROM dataset'],
      ['COALESCE weight on income', 'SELECT SUM(income * COALESCE((age - 77) / (age - 77), 0)) AS s FROM dataset'],
      ['integer division step', 'SELECT SUM((age + 13) / 90 - (age + 12) / 90) AS n FROM dataset'],
      ['split weight, part 1', 'SELECT SUM((age + 13) / 90) AS n FROM dataset'],
      ['split weight, part 2', 'SELECT SUM((age + 12) / 90) AS n FROM dataset'],
      ['ROUND step', 'SELECT SUM(ROUND(age / 154.0)) AS n FROM dataset'],
      ['CAST step', 'SELECT SUM(CAST(age / 77 AS INTEGER)) AS n FROM dataset'],
      ['CAST of a comparison', 'SELECT SUM(CAST(age >= 77 AS INTEGER)) AS n FROM dataset'],
      ['comparison as a number', 'SELECT SUM(age = 77) AS n FROM dataset'],
      ['comparison times income', 'SELECT SUM(income * (age > 76)) AS s FROM dataset'],
      ['CASE on a measure', 'SELECT COUNT(CASE WHEN age = 77 THEN 1 END) AS n FROM dataset'],
      ['CASE range on income', 'SELECT SUM(CASE WHEN income > 60000 THEN income END) AS s FROM dataset'],
      ['CASE with ELSE', "SELECT SUM(CASE WHEN district = 'D6' THEN income ELSE 0 END) AS s FROM dataset"],
      ['CASE with a computed THEN', "SELECT SUM(CASE WHEN district = 'D6' THEN income / 10 END) AS s FROM dataset"],
      ['ABS weight', 'SELECT SUM(ABS(age - 77)) AS s FROM dataset'],
      ['IFNULL weight', 'SELECT SUM(IFNULL(NULLIF(age, 77), 0)) AS s FROM dataset'],
      ['IIF weight', 'SELECT SUM(IIF(age = 77, income, 0)) AS s FROM dataset'],
      ['WHERE on a measure', 'SELECT COUNT(*) AS n FROM dataset WHERE age = 77'],
      ['WHERE arithmetic on a measure', 'SELECT COUNT(*) AS n FROM dataset WHERE age - 77 = 0'],
      ['MIN of a measure', 'SELECT MIN(income) AS m FROM dataset'],
      ['COUNT DISTINCT of a measure', 'SELECT COUNT(DISTINCT income) AS n FROM dataset'],
      ['literal 0.5 weight', 'SELECT SUM(0.5) AS s FROM dataset'],
      ['unary minus', "SELECT SUM(CASE WHEN district = 'D6' THEN -income END) AS s FROM dataset"],
    ];

    it('SQL: every weight trick gets sql-refused at QUOTE time; no trade, no hold, wallet unchanged', async () => {
      const buyer = await newBuyer(l);
      const before = await wallet(l, buyer);
      const answers = await Promise.all(weights.map(([, q]) => quote(w, offer, buyer, sql(q))));
      const passed = weights.filter((_, i) => answers[i]!.status === 201).map(([name]) => name);
      const types = [...new Set(answers.map((a) => String(a.body.type)))];
      const after = await wallet(l, buyer);
      const trades = await l.http().get('/v1/trades').set(buyer.auth);
      console.log(`      exact weights: ${weights.length} tricks, ${weights.length - passed.length} refused at quote (types ${types.join(', ')}); passed: ${JSON.stringify(passed)}; wallet ${before.availableFen} → ${after.availableFen}, held ${after.heldFen}`);
      expect(passed, 'row-level weights that reached a quote').to.deep.equal([]);
      for (const a of answers) expect(a.status).to.be.oneOf([400, 403, 422]);
      const kind = (a: { body: any }) => String(a.body.type).split('/').pop();
      for (const a of answers) expect(kind(a)).to.be.oneOf(['sql-refused', 'privacy-order-statistic-needs-dp']);
      expect(answers.filter((a) => kind(a) === 'sql-refused').length).to.be.at.least(weights.length - 1);
      expect(after.availableFen).to.equal(before.availableFen);
      expect(after.heldFen).to.equal(0);
      expect(trades.body.items ?? []).to.have.length(0);
    });

    it('HE aggregate: measures as filters or groups, undeclared values and dimension sums are refused at QUOTE time', async () => {
      const buyer = await newBuyer(l);
      const before = await wallet(l, buyer);
      const tricks: [string, Record<string, unknown>][] = [
        ['filter on a measure', he([{ op: 'sum', measure: 'income' }], [], [{ column: 'age', in: ['77'] }])],
        ['group by a measure', he([{ op: 'count' }], ['age'])],
        ['filter on an attribute', he([{ op: 'sum', measure: 'income' }], [], [{ column: 'phone', in: [TARGET.phone] }])],
        ['filter on the identifier', he([{ op: 'sum', measure: 'income' }], [], [{ column: 'customer_id', in: [TARGET.id] }])],
        ['undeclared dimension value', he([{ op: 'count' }], [], [{ column: 'district', in: ['D6', 'D7'] }])],
        ['sum of a dimension', he([{ op: 'sum', measure: 'district' }])],
        ['group by an attribute', he([{ op: 'count' }], ['phone'])],
      ];
      const answers = await Promise.all(tricks.map(([, c]) => quote(w, offer, buyer, c)));
      const passed = tricks.filter((_, i) => answers[i]!.status === 201).map(([n]) => n);
      const after = await wallet(l, buyer);
      console.log(`      HE tricks: ${tricks.length}, refused at quote ${tricks.length - passed.length} (${[...new Set(answers.map((a) => a.body.type))].join(', ')}); passed ${JSON.stringify(passed)}`);
      expect(passed).to.deep.equal([]);
      for (const a of answers) expect(a.status).to.be.oneOf([400, 403, 422]);
      expect(after.availableFen).to.equal(before.availableFen);
      expect(after.heldFen).to.equal(0);
    });
  });

  describe('refusal oracles', () => {
    let w: World;
    let offer: Record<string, any>;
    const ALLOWANCE = 2;
    const FEE_BPS = 4000;
    // a world per attack: each starts with its refusal allowance unused
    beforeEach(async () => {
      w = await newWorld(l);
      offer = await newOffer(w, { refusalAllowance: ALLOWANCE, refusalFeeBps: FEE_BPS });
    });

    /**
     * "Everything except the cells C" is released when C holds no one or ≥ k people and refused when it holds
     * 1..k−1 people: one bit about C per trade. The attacker knows the target is the only pro/c2019 customer
     * in D6 and searches the income band.
     */
    const except = (bands: string[]): Record<string, unknown> =>
      sql(`SELECT COUNT(CASE WHEN NOT (district = 'D6' AND plan = 'pro' AND cohort = 'c2019' AND income_band IN (${bands.map((b) => `'${b}'`).join(', ')})) THEN 1 END) AS n FROM dataset`);

    it(`binary search with refusal pairs: at most ${ALLOWANCE} refusals, each charged, then every exact trade refused before computing`, async () => {
      const buyer = await newBuyer(l);
      const ownerBefore = await wallet(l, w.owner);
      const before = await wallet(l, buyer);
      // the pair's first half: the total, released
      const total = await buy(w, offer, buyer, sql('SELECT COUNT(*) AS n FROM dataset'));
      expect(total.ok, JSON.stringify(total)).to.equal(true);
      let lo = 0;
      let hi = BANDS.length; // the target's band is in [lo, hi)
      const log: string[] = [];
      const outcomes: Bought[] = [];
      let charged = 0;
      // classic halving: "is the band in the upper half?" — refused means yes
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const b = await buy(w, offer, buyer, except(BANDS.slice(mid, hi)));
        outcomes.push(b);
        if (!b.ok) charged += b.chargedFen ?? 0;
        if (!b.ok && b.type === 'privacy-refusal-allowance-exhausted') {
          log.push(`[${BANDS[lo]}..${BANDS[hi - 1]}] stuck`);
          break;
        }
        if (b.ok) hi = mid;
        else if (b.type === 'privacy-differencing-refused') lo = mid;
        else throw new Error(`unexpected: ${JSON.stringify(b)}`);
        log.push(`${BANDS[lo]}..${BANDS[hi - 1]}`);
      }
      const after = await wallet(l, buyer);
      const ownerAfter = await wallet(l, w.owner);
      const refusals = outcomes.filter((o) => !o.ok);
      const recorded = refusals.filter((o) => !o.ok && o.type === 'privacy-differencing-refused').length;
      const refusalFen = Math.floor((offer.priceModel.perQueryFen * FEE_BPS) / 10_000);
      const width = (hi - lo) * 5000;
      console.log(`      refusal-oracle binary search for the income band (truth ${bandOf(TARGET.income)}): ${log.join(' → ')}; ${recorded} recorded refusals, ${refusals.length - recorded} allowance refusals; interval width ${width} yuan; charged ${charged} fen`);
      // each refusal is charged exactly the quoted refusal charge, and the wallet moves by exactly that
      for (const o of refusals) expect(o.ok ? 0 : o.chargedFen).to.equal(refusalFen);
      expect((refusals[0] as { quote: any } | undefined)?.quote.refusalChargeFen ?? refusalFen).to.equal(refusalFen);
      const released = outcomes.filter((o) => o.ok).length + 1;
      expect(before.availableFen - after.availableFen).to.equal(released * offer.priceModel.perQueryFen + refusals.length * refusalFen);
      expect(after.heldFen).to.equal(0);
      // the owner is paid its share of the deliveries and of the refusal charges (the platform keeps its fee)
      const fee = (fen: number) => Math.floor((fen * offer.platformFeeBps) / 10_000);
      expect(ownerAfter.revenueFen - ownerBefore.revenueFen).to.be.within(
        released * (PRICE_OWNER(offer)) + refusals.length * (refusalFen - fee(refusalFen)) - refusals.length,
        released * (PRICE_OWNER(offer)) + refusals.length * (refusalFen - fee(refusalFen)) + refusals.length,
      );
      expect(recorded).to.be.at.most(ALLOWANCE);
      // the search cannot finish: the band is still one of at least two
      expect(hi - lo, 'bands left after the search').to.be.at.least(2);
      // once the allowance is used, an innocuous exact trade is refused too, before anything is computed
      if (recorded >= ALLOWANCE) {
        const innocuous = await buy(w, offer, buyer, sql('SELECT plan, COUNT(*) AS n FROM dataset GROUP BY plan'));
        console.log(`      after ${recorded} refusals an innocuous exact query: ${brief(innocuous)}`);
        expect(innocuous.ok).to.equal(false);
        expect((innocuous as { type: string }).type).to.equal('privacy-refusal-allowance-exhausted');
      }
    });

    it('elimination scan: released answers are free bits — the target’s band must stay hidden whatever the order', async () => {
      // The same oracle as above, asked one band at a time: "everything except D6/pro/c2019 in band b" is
      // released when that cell is empty and refused when it holds the target. Only refusals are counted,
      // so a scan learns the band with at most one refusal, or by elimination with none.
      const buyer = await newBuyer(l);
      const total = await buy(w, offer, buyer, sql('SELECT COUNT(*) AS n FROM dataset'));
      const candidates = new Set(BANDS);
      let refusals = 0;
      for (const b of BANDS) {
        if (candidates.size <= 1) break;
        const out = await buy(w, offer, buyer, except([b]));
        if (out.ok) candidates.delete(b);
        else if (out.type === 'privacy-differencing-refused') {
          refusals++;
          for (const c of [...candidates]) if (c !== b) candidates.delete(c);
        } else break; // allowance used up: the scan stops here
      }
      const width = candidates.size * 5000;
      console.log(`      elimination scan for the target's income band (truth ${bandOf(TARGET.income)}): total ${brief(total)}; candidates left ${[...candidates].join(',')} (${width} yuan wide) after ${refusals} refusal(s)`);
      // the attacker wins when what it concluded is the truth (a refusal that says nothing may mislead it)
      const found = candidates.size === 1 && candidates.has(bandOf(TARGET.income));
      expect(found, "the scan pinned down the target's income band").to.equal(false);
    });
  });

  describe('suppressed keys are never named (exact SQL and HE)', () => {
    let w: World;
    let offer: Record<string, any>;
    before(async () => {
      w = await newWorld(l);
      // an exact HE release cannot drop rows: the offer's per-person cap covers the target's rows
      offer = await newOffer(w, { maxRowsPerPerson: TARGET_ROWS });
    });

    it("`… WHERE district = 'D6' GROUP BY plan, cohort`: the target's key and values appear nowhere", async () => {
      const buyer = await newBuyer(l);
      const q = sql("SELECT plan, cohort, COUNT(*) AS n, SUM(income) AS s, AVG(age) AS a FROM dataset WHERE district = 'D6' GROUP BY plan, cohort");
      // the HE bundle is partitioned by district and plan: its form of the question groups by plan within D6
      const h = he([{ op: 'count' }, { op: 'sum', measure: 'income' }, { op: 'mean', measure: 'age' }], ['plan'], [{ column: 'district', in: ['D6'] }]);
      const s = await buy(w, offer, buyer, q);
      const e = await buy(w, offer, buyer, h);
      for (const [name, b] of [['SQL', s], ['HE', e]] as const) {
        const text = everything(b);
        const named = b.ok && (b.result.groups ?? []).some((g: any) => g.key.includes('pro') || g.key.includes('c2019'));
        const nums = new Set(b.ok ? numbersIn([b.result, b.receipt]) : []);
        const leaks = [targetIncomeTotal, TARGET.income, targetAgeTotal, TARGET.age, TARGET_ROWS].filter((n) => nums.has(n));
        console.log(`      suppressed D6 groups (${name}): ${brief(b)}, groups ${b.ok ? b.result.groups.length : '-'}, target key named: ${named}, target figures found: ${JSON.stringify(leaks)}`);
        // a D6 group below k refuses the whole release: a recorded, charged refusal, never a shorter result
        if (!b.ok) expect(b.type, `${name} refused`).to.be.oneOf(['privacy-min-group-refused', 'sql-refused', 'computation-invalid']);
        expect(named).to.equal(false);
        expect(text).to.not.match(/"(suppressed|withheld)"\s*:/);
        expect(leaks.filter((n) => n !== TARGET_ROWS), 'target figures in the result, receipt or privacy summary').to.deep.equal([]);
        if (b.ok) expect(b.result.groups.every((g: any) => g.values.n === undefined || g.values.n >= 5)).to.equal(true);
      }
    });
  });

  describe('dominance: one person with many rows in a cell of k people', () => {
    it("an exact mean over k people, one of whom has most of the rows, must not give that person's income", async () => {
      // k counts people, not contributions: the target's 40 bills and four neighbours' one bill each make a
      // cell of 5 people that passes k = 5, and its exact mean is almost the target's income.
      const TARGET_BILLS = 40;
      const rows = telecomRows().filter((r) => r.id !== TARGET.id && r.district !== 'D6');
      for (let j = 0; j < TARGET_BILLS; j++) rows.push({ ...TARGET, band: bandOf(TARGET.income) });
      for (let j = 0; j < 4; j++) {
        const income = 25_000 + j * 5000;
        rows.push({ id: `CUS-DOM${j}Z`, district: 'D6', plan: 'pro', cohort: 'c2019', band: bandOf(income), phone: `1360000000${j}`, age: 40 + j, income });
      }
      const w = await newWorld(l, rows);
      const offer = await newOffer(w);
      const buyer = await newBuyer(l);
      const cell = "district = 'D6' AND plan = 'pro' AND cohort = 'c2019'";
      const s = await buy(w, offer, buyer, sql(`SELECT COUNT(*) AS n, AVG(income) AS a FROM dataset WHERE ${cell}`));
      const all = await buy(w, offer, buyer, sql('SELECT AVG(income) AS a FROM dataset'));
      const h = await buy(w, offer, buyer, he([{ op: 'count' }, { op: 'mean', measure: 'income' }], ['plan'], [{ column: 'district', in: ['D6'] }]));
      // the attacker's reading: n − 40 neighbours at the population mean, the rest the target's
      const estimate = (n: number | null, a: number | null, others: number | null) => (n === null || a === null || others === null ? null : (n * a - (n - TARGET_BILLS) * others) / TARGET_BILLS);
      const popMean = only(all, 'a');
      const fromSql = estimate(only(s, 'n'), only(s, 'a'), popMean);
      const pro = h.ok ? h.result.groups.find((g: any) => g.key[0] === 'pro') : undefined;
      const fromHe = pro ? estimate(Number(pro.values.count), Number(pro.values['mean(income)']), popMean) : null;
      const err = (e: number | null) => (e === null ? 'none' : `${e.toFixed(0)} (error ${((Math.abs(e - TARGET.income) / TARGET.income) * 100).toFixed(1)} %)`);
      console.log(`      dominance (target ${TARGET.income}, ${TARGET_BILLS} of ${TARGET_BILLS + 4} rows in a 5-person cell): SQL ${brief(s)} → estimate ${err(fromSql)}; HE ${brief(h)} → estimate ${err(fromHe)}`);
      for (const e of [fromSql, fromHe]) if (e !== null) expect(Math.abs(e - TARGET.income) / TARGET.income, "estimate of the target's income").to.be.greaterThan(0.1);
    });
  });

  describe('trackers (Denning): total vs total-minus-target', () => {
    let w: World;
    let offer: Record<string, any>;
    const FEE_BPS = 2500;
    before(async () => {
      // the target is alone in D6 here (its neighbours moved to D5), so grouping by district leaves out only them
      w = await newWorld(l, telecomRows().map((r) => (r.district === 'D6' && r.id !== TARGET.id ? { ...r, district: 'D5' } : r)));
      offer = await newOffer(w, { refusalAllowance: 20, refusalFeeBps: FEE_BPS, maxRowsPerPerson: TARGET_ROWS });
    });

    it('via WHERE, CASE, GROUP BY complement and HE filters, mixed: refused, recorded and charged', async () => {
      const buyer = await newBuyer(l);
      const before = await wallet(l, buyer);
      const refusalFen = Math.floor((offer.priceModel.perQueryFen * FEE_BPS) / 10_000);
      const totalSql = await buy(w, offer, buyer, sql('SELECT SUM(income) AS s, COUNT(*) AS n FROM dataset'));
      const totalHe = await buy(w, offer, buyer, he([{ op: 'sum', measure: 'income' }, { op: 'count' }]));
      expect(totalSql.ok && totalHe.ok, JSON.stringify([totalSql, totalHe]).slice(0, 600)).to.equal(true);
      const total = only(totalSql, 's')!;
      const notTarget = "NOT (district = 'D6' AND plan = 'pro' AND cohort = 'c2019')";
      const trackers: [string, Record<string, unknown>, (b: Bought) => number | null][] = [
        ['SQL WHERE', sql(`SELECT SUM(income) AS s FROM dataset WHERE ${notTarget}`), (b) => only(b, 's')],
        ['SQL CASE', sql(`SELECT SUM(CASE WHEN ${notTarget} THEN income END) AS s FROM dataset`), (b) => only(b, 's')],
        ['SQL difference inside one query', sql(`SELECT SUM(income) - SUM(CASE WHEN ${notTarget} THEN income END) AS s FROM dataset`), (b) => (b.ok ? total - only(b, 's')! : null)],
        ['SQL CASE (in-list form)', sql("SELECT SUM(CASE WHEN district IN ('D1', 'D2', 'D3', 'D4', 'D5') OR plan IN ('basic', 'plus') OR cohort != 'c2019' THEN income END) AS s FROM dataset"), (b) => only(b, 's')],
        [
          'SQL GROUP BY complement',
          sql('SELECT district, SUM(income) AS s FROM dataset GROUP BY district'),
          (b) => (b.ok ? b.result.groups.reduce((a: number, g: any) => a + Number(g.values.s), 0) : null),
        ],
        ['HE filter', he([{ op: 'sum', measure: 'income' }], [], [{ column: 'district', in: ['D1', 'D2', 'D3', 'D4', 'D5'] }]), (b) => only(b, 'sum(income)')],
        [
          'HE GROUP BY complement',
          he([{ op: 'sum', measure: 'income' }], ['district']),
          (b) => (b.ok ? b.result.groups.reduce((a: number, g: any) => a + Number(g.values['sum(income)']), 0) : null),
        ],
      ];
      const results: Bought[] = [];
      for (const [, c] of trackers) results.push(await buy(w, offer, buyer, c));
      const after = await wallet(l, buyer);
      const lines = trackers.map(([name, , rest], i) => {
        const r = rest(results[i]!);
        return `${name}: ${brief(results[i]!)}${r === null ? '' : ` → total − rest = ${total - r}`}`;
      });
      console.log(`      trackers on the target's income (${targetIncomeTotal} over ${TARGET_ROWS} rows): ${lines.join('; ')}`);
      for (const [i, [name, , rest]] of trackers.entries()) {
        const r = rest(results[i]!);
        if (r !== null) expect(Math.abs(total - r - targetIncomeTotal), `${name} isolated the target`).to.be.greaterThan(0);
      }
      const refused = results.filter((r) => !r.ok);
      for (const [i, r] of results.entries()) {
        expect(r.ok, `${trackers[i]![0]} released`).to.equal(false);
        // a complement by GROUP BY leaves a group of one person: the whole release is refused below k
        expect((r as { type: string }).type).to.be.oneOf(['privacy-differencing-refused', 'privacy-min-group-refused']);
        expect((r as { chargedFen: number }).chargedFen).to.equal(refusalFen);
      }
      const releasedN = 2 + results.filter((r) => r.ok).length;
      expect(before.availableFen - after.availableFen).to.equal(releasedN * offer.priceModel.perQueryFen + refused.length * refusalFen);
    });
  });

  describe('collusion and republication share one history per commitment', () => {
    it('two organisations: complementary exact queries split over two buyers are caught', async () => {
      const w = await newWorld(l);
      const offer = await newOffer(w);
      const a = await newBuyer(l);
      const b = await newBuyer(l);
      const total = await buy(w, offer, a, sql('SELECT SUM(income) AS s FROM dataset'));
      const rest = await buy(w, offer, b, sql("SELECT SUM(income) AS s FROM dataset WHERE plan IN ('basic', 'plus') OR district != 'D6' OR cohort != 'c2019'"));
      const learned = total.ok && rest.ok ? only(total, 's')! - only(rest, 's')! : null;
      console.log(`      collusion across organisations: total ${brief(total)}, rest ${brief(rest)}; learned ${learned ?? 'nothing'} (truth ${targetIncomeTotal})`);
      expect(total.ok).to.equal(true);
      expect(learned).to.equal(null);
      expect((rest as { type: string }).type).to.equal('privacy-differencing-refused');
    });

    it('the same bundle under two dataset ids: history is shared', async () => {
      const w = await newWorld(l);
      const second = await uploadBundle(l, w.owner, w.fixture, 'Telecom bills (second listing)');
      expect(second.id).to.not.equal(w.dataset.id);
      const o1 = await newOffer(w);
      const o2 = await newOffer(w, {}, undefined, second);
      const buyer = await newBuyer(l);
      const total = await buy(w, o1, buyer, sql('SELECT SUM(income) AS s FROM dataset'));
      const rest = await buy({ ...w, dataset: second }, o2, buyer, sql("SELECT SUM(income) AS s FROM dataset WHERE plan IN ('basic', 'plus') OR district != 'D6' OR cohort != 'c2019'"));
      const learned = total.ok && rest.ok ? only(total, 's')! - only(rest, 's')! : null;
      console.log(`      one bundle, two listings: total on the first ${brief(total)}, rest on the second ${brief(rest)}; learned ${learned ?? 'nothing'}`);
      expect(total.ok).to.equal(true);
      expect(learned).to.equal(null);
    });
  });
});

/** The owner's share of one delivery at the offer's price. */
function PRICE_OWNER(offer: Record<string, any>): number {
  const p = offer.priceModel.perQueryFen as number;
  return p - Math.floor((p * offer.platformFeeBps) / 10_000);
}

