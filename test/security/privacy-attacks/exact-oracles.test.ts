import { expect } from 'chai';
import { liveServer, releaseLive, type Live } from '../../server/fixture.js';
import { BANDS, bandOf, brief, buy, he, newBuyer, newOffer, newWorld, sql, telecomRows, TARGET, TARGET_ROWS, wallet, type Bought, type World } from './world.js';

/**
 * Un-noised decisions on EXACT offers used as oracles: the per-group k threshold (a group withheld or
 * released). Each attack asserts that the target's income band cannot be computed from what the buyers
 * received, and prints how far it got.
 */
describe('security: exact-release decision oracles over the API', function () {
  this.timeout(600_000);
  let l: Live;

  before(async () => {
    l = await liveServer();
  });
  after(() => releaseLive());

  /**
   * D6 holds the target (alone in pro/c2019) and four neighbours elsewhere in D6. An attacker who knows only
   * that — how many, not their values — asks for "D6 outside pro/c2019, or D6 in band b": it holds 4 people,
   * or 5 when the target's band is b, so with k = 5 the k threshold decides on the target's band.
   */
  const neighbours = (): ReturnType<typeof telecomRows> => {
    const rows = telecomRows().filter((r) => r.district !== 'D6' || r.id === TARGET.id);
    for (let j = 0; j < 4; j++) {
      const income = 12_000 + j * 3000;
      rows.push({ id: `CUS-NBR${j}Q`, district: 'D6', plan: 'basic', cohort: 'c2021', band: bandOf(income), phone: `1370000001${j}`, age: 30 + j, income });
    }
    return rows;
  };
  const probe = (bands: string[]): Record<string, unknown> =>
    sql(`SELECT COUNT(*) AS n FROM dataset WHERE district = 'D6' AND (NOT (plan = 'pro' AND cohort = 'c2019') OR income_band IN (${bands.map((b) => `'${b}'`).join(', ')}))`);

  describe('the k threshold as an oracle', () => {
    let w: World;
    let offer: Record<string, any>;
    // a world per attack: each starts with its refusal allowance unused
    beforeEach(async () => {
      w = await newWorld(l, neighbours());
      // an exact HE release cannot drop rows: the offer's per-person cap covers the target's rows
      offer = await newOffer(w, { refusalAllowance: 3, maxRowsPerPerson: TARGET_ROWS });
    });

    it("an elimination scan over withheld results must not find the target's band", async () => {
      // one band per probe: a result without its group (withheld below k) used to cost nothing
      const buyer = await newBuyer(l);
      const candidates = new Set(BANDS);
      const log: string[] = [];
      let recorded = 0;
      for (const b of BANDS) {
        if (candidates.size <= 1) break;
        const out = await buy(w, offer, buyer, probe([b]));
        log.push(`${b}:${out.ok ? `${out.result.groups.length} group(s)` : out.type}`);
        if (out.ok && out.result.groups.length > 0) {
          for (const c of [...candidates]) if (c !== b) candidates.delete(c);
        } else if (out.ok || out.type === 'privacy-min-group-refused') {
          if (!out.ok) recorded++;
          candidates.delete(b);
        } else break;
      }
      const found = candidates.size === 1 && candidates.has(bandOf(TARGET.income));
      console.log(`      k-threshold scan (truth ${bandOf(TARGET.income)}): ${log.join(' ')}; ${recorded} recorded refusal(s); candidates left ${candidates.size}`);
      expect(found, "the scan pinned down the target's income band").to.equal(false);
    });

    it("a halving search on the k threshold must not find the target's band", async () => {
      const buyer = await newBuyer(l);
      let candidates = [...BANDS];
      const log: string[] = [];
      let recorded = 0;
      while (candidates.length > 1) {
        const half = candidates.slice(candidates.length >> 1);
        const out = await buy(w, offer, buyer, probe(half));
        log.push(`${half[0]}..${half[half.length - 1]}:${out.ok ? `${out.result.groups.length} group(s)` : out.type}`);
        // released with its group: the target is in the half; withheld (no group) or refused below k: it is not
        if (out.ok && out.result.groups.length > 0) candidates = half;
        else if (out.ok || out.type === 'privacy-min-group-refused') {
          if (!out.ok) recorded++;
          candidates = candidates.filter((c) => !half.includes(c));
        } else break;
      }
      const found = candidates.length === 1 && candidates[0] === bandOf(TARGET.income);
      console.log(`      k-threshold halving (truth ${bandOf(TARGET.income)}): ${log.join(' ')}; ${recorded} recorded refusal(s); candidates left ${candidates.length}`);
      expect(found, "the search pinned down the target's income band").to.equal(false);
      expect(candidates.length).to.be.at.least(2);
    });

    it('a group below k is a recorded, charged refusal on both paths, never a silently shorter result', async () => {
      const buyer = await newBuyer(l);
      const before = await wallet(l, buyer);
      // SQL: D6 by plan — basic holds 4 people, pro 1, plus none: no group of it may be left out silently
      const s = await buy(w, offer, buyer, sql("SELECT plan, COUNT(*) AS n FROM dataset WHERE district = 'D6' GROUP BY plan"));
      // HE: the same question over the partitioned bundle
      const h = await buy(w, offer, buyer, he([{ op: 'count' }], ['plan'], [{ column: 'district', in: ['D6'] }]));
      const after = await wallet(l, buyer);
      console.log(`      D6 by plan: SQL ${brief(s)}${s.ok ? ` ${JSON.stringify(s.result.groups)}` : ''}; HE ${brief(h)}${h.ok ? ` ${JSON.stringify(h.result.groups)}` : ''}`);
      for (const b of [s, h] as Bought[]) {
        expect(b.ok, 'a release with a group below k').to.equal(false);
        if (!b.ok) {
          expect(b.stage).to.equal('enclave');
          expect(b.type).to.equal('privacy-min-group-refused');
          expect(b.chargedFen).to.be.greaterThan(0);
        }
      }
      expect(before.availableFen - after.availableFen).to.equal(((s as { chargedFen: number }).chargedFen ?? 0) + ((h as { chargedFen: number }).chargedFen ?? 0));
      const cases = await l.http().get('/v1/trades').set(buyer.auth);
      expect((cases.body.items ?? []).filter((t: any) => t.state === 'failed')).to.have.length(2);
    });
  });

  it('an empty planned group refuses like a small one, on both paths (a missing HE partition too)', async () => {
    // D6 holds five basic customers and no one else: plus and pro are declared keys with no rows (the HE layout
    // has no partition for them), so "D6 by plan" tells an empty group from a released one unless both refuse
    const rows = telecomRows().filter((r) => r.district !== 'D6');
    for (let j = 0; j < 5; j++) {
      const income = 12_000 + j * 3000;
      rows.push({ id: `CUS-BSC${j}Q`, district: 'D6', plan: 'basic', cohort: 'c2021', band: bandOf(income), phone: `1370000002${j}`, age: 30 + j, income });
    }
    const w = await newWorld(l, rows);
    const offer = await newOffer(w, { refusalAllowance: 5 });
    const buyer = await newBuyer(l);
    const s = await buy(w, offer, buyer, sql("SELECT plan, COUNT(*) AS n FROM dataset WHERE district = 'D6' GROUP BY plan"));
    const h = await buy(w, offer, buyer, he([{ op: 'count' }], ['plan'], [{ column: 'district', in: ['D6'] }]));
    // the query itself excludes plus and pro: nothing planned is empty, so it is released
    const only = await buy(w, offer, buyer, sql("SELECT plan, COUNT(*) AS n FROM dataset WHERE district = 'D6' AND plan = 'basic' GROUP BY plan"));
    console.log(`      D6 by plan, plus and pro empty: SQL ${brief(s)}; HE ${brief(h)}; basic only ${brief(only)}`);
    for (const b of [s, h]) expect(b.ok ? 'released' : b.type).to.equal('privacy-min-group-refused');
    expect(only.ok && only.result.groups).to.deep.equal([{ key: ['basic'], values: { plan: 'basic', n: 5 } }]);
  });

  describe('people with many rows under a per-person cap above one', () => {
    it("an exact mean over k people, one of whom has most of the kept rows, must not give that person's income", async () => {
      // the offer keeps up to 40 rows per person: the target's 40 bills and four neighbours' one bill each make
      // a cell of 5 people that passes k = 5, and its exact mean would be almost the target's income
      const BILLS = 40;
      const rows = telecomRows().filter((r) => r.id !== TARGET.id && r.district !== 'D6');
      for (let j = 0; j < BILLS; j++) rows.push({ ...TARGET, band: bandOf(TARGET.income) });
      for (let j = 0; j < 4; j++) {
        const income = 25_000 + j * 5000;
        rows.push({ id: `CUS-DOM${j}Z`, district: 'D6', plan: 'pro', cohort: 'c2019', band: bandOf(income), phone: `1360000000${j}`, age: 40 + j, income });
      }
      const w = await newWorld(l, rows);
      const offer = await newOffer(w, { maxRowsPerPerson: BILLS, refusalAllowance: 5 });
      const buyer = await newBuyer(l);
      const cell = "district = 'D6' AND plan = 'pro' AND cohort = 'c2019'";
      const s = await buy(w, offer, buyer, sql(`SELECT COUNT(*) AS n, AVG(income) AS a FROM dataset WHERE ${cell}`));
      const all = await buy(w, offer, buyer, sql('SELECT AVG(income) AS a FROM dataset'));
      // the HE bundle is partitioned by district and plan: the same cell as its filters
      const h = await buy(w, offer, buyer, he([{ op: 'count' }, { op: 'mean', measure: 'income' }], [], [{ column: 'district', in: ['D6'] }, { column: 'plan', in: ['pro'] }]));
      const first = (b: Bought, name: string): number | null => (b.ok ? (b.result.groups?.[0]?.values?.[name] ?? null) : null);
      const popMean = first(all, 'a');
      const estimate = (n: number | null, a: number | null): number | null => (n === null || a === null || popMean === null ? null : (n * a - (n - BILLS) * popMean) / BILLS);
      const pro = h.ok ? h.result.groups[0] : undefined;
      const fromSql = estimate(first(s, 'n'), first(s, 'a'));
      const fromHe = pro ? estimate(Number(pro.values.count), Number(pro.values['mean(income)'])) : null;
      const err = (e: number | null): string => (e === null ? 'none' : `${e.toFixed(0)} (error ${((Math.abs(e - TARGET.income) / TARGET.income) * 100).toFixed(1)} %)`);
      console.log(`      dominance under a cap of ${BILLS} (target ${TARGET.income}): SQL ${brief(s)} → ${err(fromSql)}; HE ${brief(h)} → ${err(fromHe)}`);
      for (const e of [fromSql, fromHe]) if (e !== null) expect(Math.abs(e - TARGET.income) / TARGET.income, "estimate of the target's income").to.be.greaterThan(0.1);
    });
  });

  describe('refusals across colluding organisations', () => {
    it('each organisation gets at most its allowance of data-dependent refusals on the dataset', async () => {
      const w = await newWorld(l, neighbours());
      const ALLOWANCE = 2;
      const offer = await newOffer(w, { refusalAllowance: ALLOWANCE });
      // refused by the differencing guard whatever the target's values: the CASE set holds one person
      const refused = sql("SELECT COUNT(CASE WHEN district = 'D6' AND plan = 'pro' THEN 1 END) AS n FROM dataset");
      const outcomes: string[] = [];
      for (const org of [await newBuyer(l), await newBuyer(l)]) {
        let recorded = 0;
        for (let i = 0; i < ALLOWANCE + 2; i++) {
          const b = await buy(w, offer, org, refused);
          outcomes.push(`${org.orgId.slice(-4)}:${b.ok ? 'released' : b.type}`);
          if (!b.ok && b.type === 'privacy-differencing-refused') recorded++;
          else expect(b.ok ? 'released' : b.type).to.equal('privacy-refusal-allowance-exhausted');
        }
        // per buyer × dataset (docs/privacy.md G5): colluders together get the sum of their allowances, no more
        expect(recorded, 'data-dependent refusals one organisation received').to.equal(ALLOWANCE);
      }
      console.log(`      two organisations, allowance ${ALLOWANCE} each: ${outcomes.join(' ')}`);
    });
  });
});
