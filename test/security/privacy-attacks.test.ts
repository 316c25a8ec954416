import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveServer, liveActor, certify, uploadBundle, offerInput, topUp, approve, waitForTrade, idemKey, type Live, type Market, type SealedFixture } from '../server/fixture.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { Rng } from './lib.js';
import { planted, plantRows } from './planted.js';

/**
 * Privacy attacks end to end: a buyer buys computations over the API, gets them approved by a
 * reviewer, and tries to learn about individuals from the signed results. Each attack has a pass criterion
 * and prints the figure it reached. Health-style data: region × age band × sex are quasi-identifiers,
 * `condition` is the sensitive 0/1 attribute, `cost` a measure.
 */
const SCHEMA: DatasetSchema = {
  sector: 'health',
  columns: [
    { name: 'patient_id', type: 'identifier', role: 'identifier', level: 4, tags: ['personal', 'sensitive-personal'] },
    { name: 'region', type: 'category', role: 'dimension', level: 1, tags: [], values: ['North', 'South', 'East'] },
    { name: 'age_band', type: 'category', role: 'dimension', level: 2, tags: ['personal'], values: ['18-39', '40-64', '65+'] },
    { name: 'sex', type: 'category', role: 'dimension', level: 2, tags: ['personal'], values: ['F', 'M'] },
    { name: 'condition', type: 'int', role: 'measure', level: 3, tags: ['sensitive-personal'], bounds: [0, 1] },
    { name: 'cost', type: 'decimal(2)', role: 'measure', level: 2, tags: ['financial'], bounds: [0, 50000] },
  ],
};

const MIN_GROUP = 5;
const EPS = 0.5;
const BUDGET = 2;
const purpose = { code: 'public-health', statement: 'Plan regional health services and budgets' };

describe('security: privacy attacks end to end over the API', function () {
  this.timeout(300_000);
  let l: Live;
  let m: Market;
  let dpOffer: Record<string, any>;
  let rows: { id: string; region: string; age: string; sex: string; condition: number; cost: number }[];
  const rng = new Rng(77);

  before(async () => {
    l = await liveServer();
    // 60 patients: most in North/South 18-64; a few rare quasi-identifier combinations (one 65+ man in East)
    rows = [];
    for (let i = 0; i < 60; i++) {
      const rare = i >= 57;
      rows.push({
        id: `PAT-${(911_000 + i * 37).toString(36).toUpperCase()}`,
        region: rare ? 'East' : i % 2 ? 'North' : 'South',
        age: rare ? (i === 59 ? '65+' : '40-64') : i % 3 ? '18-39' : '40-64',
        sex: i === 59 ? 'M' : i % 5 ? 'F' : 'M',
        condition: rng.int(2),
        cost: 1000 + rng.int(400_000) / 100,
      });
    }
    const dir = mkdtempSync(join(l.dir, 'privacy-'));
    const csv = join(dir, 'patients.csv');
    writeFileSync(csv, ['patient_id,region,age_band,sex,condition,cost', ...rows.map((r) => [r.id, r.region, r.age, r.sex, r.condition, r.cost.toFixed(2)].join(','))].join('\n') + '\n');
    const sealed = await sealDataset({ input: csv, schema: SCHEMA, enclave: l.enclaveInfo as any, outDir: join(dir, 'bundle'), threads: 1, rowsPerChunk: 16 });
    const fixture = { csv, rows: [], manifest: sealed.manifest as any, blobDir: sealed.blobDir, secrets: rows.map((r) => r.id) } as SealedFixture;
    const owner = await liveActor(l, 'owner');
    const buyer = await liveActor(l, 'buyer');
    const reviewer = await liveActor(l, 'reviewer');
    await certify(l, reviewer);
    const dataset = await uploadBundle(l, owner, fixture, 'Patients by region');
    // one dataset for every attack below: room for all of their refusals
    const terms = { ...(offerInput().terms as object), purposes: ['public-health'], destinations: ['CN'], minGroupSize: MIN_GROUP, refusalAllowance: 50 };
    const o = await l.http().post(`/v1/datasets/${dataset.id}/offers`).set(owner.auth).send(
      offerInput({ title: 'Patient costs (exact)', allowedKinds: ['aggregate', 'sql'], allowedColumns: ['region', 'age_band', 'sex', 'cost'], terms }),
    );
    expect(o.status, JSON.stringify(o.body)).to.equal(201);
    // the sensitive attribute is sold only under differential privacy (the negative list denies it exact)
    const exactCondition = await l.http().post(`/v1/datasets/${dataset.id}/offers`).set(owner.auth).send(
      offerInput({ title: 'Conditions (exact)', allowedKinds: ['aggregate'], allowedColumns: ['region', 'age_band', 'sex', 'condition'], terms }),
    );
    expect(exactCondition.status).to.equal(422);
    const dp = await l.http().post(`/v1/datasets/${dataset.id}/offers`).set(owner.auth).send(
      offerInput({
        title: 'Conditions (differentially private)', allowedKinds: ['aggregate', 'sql'], allowedColumns: ['region', 'age_band', 'sex', 'condition'],
        terms: { ...terms, epsilonPerQuery: EPS, epsilonBudgetPerBuyer: BUDGET },
      }),
    );
    expect(dp.status, JSON.stringify(dp.body)).to.equal(201);
    dpOffer = dp.body.offer;
    await topUp(l, buyer.orgId, 10_000_000);
    m = { owner, buyer, reviewer, fixture, dataset, offer: o.body.offer };
    plantRows(rows.map((r) => r.id)); // costs are short numbers a released sum may contain by chance
    for (const a of [owner, buyer, reviewer]) planted.tokens.add(a.token);
  });

  /** Quote, submit, approve, wait: the released result, or the refusal (at quote, submit or in the enclave). */
  async function buy(computation: Record<string, unknown>, offer = m.offer, buyer = m.buyer): Promise<{ ok: true; result: any } | { ok: false; stage: string; reason: string }> {
    const q = await l.http().post(`/v1/offers/${offer.id}/quotes`).set(buyer.auth).send({ computation, purpose, destination: 'CN' });
    if (q.status !== 201) return { ok: false, stage: 'quote', reason: `${q.body.type} ${q.body.detail}` };
    const t = await l.http().post('/v1/trades').set(buyer.auth).set('Idempotency-Key', idemKey()).send({ quote: q.body, computation });
    if (t.status !== 201) return { ok: false, stage: 'submit', reason: `${t.body.type} ${t.body.detail}` };
    if (t.body.state !== 'under_review') return { ok: false, stage: 'screening', reason: t.body.state };
    const a = await approve(l, { ...m, offer, buyer }, t.body.id);
    if (a.status !== 200) return { ok: false, stage: 'review', reason: JSON.stringify(a.body) };
    const done = await waitForTrade(l, buyer.auth, t.body.id, ['settled', 'failed'], 120_000);
    if (done.state !== 'settled') return { ok: false, stage: 'enclave', reason: JSON.stringify(done.job ?? done).slice(0, 300) };
    const r = await l.http().get(`/v1/trades/${t.body.id}/result`).set(buyer.auth);
    return { ok: true, result: r.body.result };
  }

  const cellCount = (keyOf: (r: (typeof rows)[number]) => string, where: (r: (typeof rows)[number]) => boolean = () => true) => {
    const c = new Map<string, number>();
    for (const r of rows.filter(where)) c.set(keyOf(r), (c.get(keyOf(r)) ?? 0) + 1);
    return c;
  };

  it(`small cells: group-by over quasi-identifiers never releases a group under ${MIN_GROUP} (HE aggregate and SQL)`, async () => {
    // HE: North and East by age band; East's cells (3 patients) are below k, so the release is refused whole.
    // SQL: every region × age × sex cell, refused whole too when a cell is below k. Whatever is released holds
    // no group under k and never names a withheld key.
    const heBuyer = await liveActor(l, 'buyer');
    await topUp(l, heBuyer.orgId, 10_000_000);
    const agg = await buy({ kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'cost' }], groupBy: ['region', 'age_band'], filters: [{ column: 'region', in: ['North', 'East'] }] }, m.offer, heBuyer);
    const sql = await buy({ kind: 'sql', query: 'SELECT region, age_band, sex, COUNT(*) AS n, SUM(cost) AS c FROM dataset GROUP BY region, age_band, sex' });
    for (const b of [agg, sql]) if (!b.ok) expect(b.reason).to.match(/fewer than 5 people/);
    const truthA = cellCount((r) => `${r.region}|${r.age}`, (r) => r.region !== 'South');
    const truthS = cellCount((r) => `${r.region}|${r.age}|${r.sex}`);
    const small = (t: Map<string, number>) => [...t.values()].filter((n) => n < MIN_GROUP).length;
    const groupsOf = (b: typeof agg): any[] => (b.ok ? b.result.groups : []);
    const releasedSmallA = groupsOf(agg).filter((g: any) => (truthA.get(g.key.join('|')) ?? 0) < MIN_GROUP).length;
    const releasedSmallS = groupsOf(sql).filter((g: any) => (truthS.get(g.key.join('|')) ?? 0) < MIN_GROUP).length;
    console.log(
      `      small-cell attack: region×age ${small(truthA)} true cells < ${MIN_GROUP} → ${releasedSmallA} released of ${groupsOf(agg).length}; region×age×sex ${small(truthS)} true cells < ${MIN_GROUP} → ${sql.ok ? `${releasedSmallS} released of ${groupsOf(sql).length}` : 'query refused by the differencing guard'}`,
    );
    expect(releasedSmallA).to.equal(0);
    expect(releasedSmallS).to.equal(0);
    // withheld groups are absent, like empty ones: no list of withheld keys comes back
    for (const b of [agg, sql]) if (b.ok) expect(JSON.stringify(b.result)).to.not.match(/"(suppressed|withheld)"\s*:/);
    // a release is whole: every group of the query or none
    if (agg.ok) expect(groupsOf(agg).length).to.equal(truthA.size);
    else expect(small(truthA)).to.be.greaterThan(0);
    // released groups are exact (no noise bought): the protection is the threshold, not error
    for (const g of groupsOf(agg)) expect(g.values.count).to.equal(truthA.get(g.key.join('|')));
  });

  it('small cells (HE aggregate, exact): a grouping whose withheld cells hold fewer than k patients in all is refused', async () => {
    // over the whole table, East's withheld cells would be "total minus the released groups" = 3 patients
    const buyer = await liveActor(l, 'buyer');
    await topUp(l, buyer.orgId, 10_000_000);
    const out = await buy({ kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'cost' }], groupBy: ['region', 'age_band'], filters: [] }, m.offer, buyer);
    console.log(`      HE grouping whose withheld cells are 3 patients: ${out.ok ? 'released' : `refused at ${out.stage}: ${out.reason.slice(0, 120)}`}`);
    expect(out.ok).to.equal(false);
    expect((out as { reason: string }).reason).to.match(/fewer than 5 people/);
  });

  it('differencing (SQL, exact): the second query that would single out one patient is refused', async () => {
    const target = rows.find((r) => r.age === '65+')!;
    const all = await buy({ kind: 'sql', query: 'SELECT SUM(cost) AS c FROM dataset' });
    const rest = await buy({ kind: 'sql', query: "SELECT SUM(cost) AS c FROM dataset WHERE age_band IN ('18-39', '40-64')" });
    const learned = all.ok && rest.ok ? Number(all.result.groups[0].values.c) - Number(rest.result.groups[0].values.c) : null;
    console.log(`      SQL differencing attack on one patient's cost (${target.cost.toFixed(2)}): ${learned === null ? `refused at ${(rest as { stage: string }).stage}` : `learned ${learned.toFixed(2)}`}`);
    expect(all.ok).to.equal(true);
    expect(rest.ok, 'the differencing query is refused').to.equal(false);
  });

  it('differencing (HE aggregate, exact): a filter that leaves out one patient is refused', async () => {
    const target = rows.find((r) => r.age === '65+')!;
    // a buyer of its own: the shared buyer's earlier refusals count towards its refusal allowance, and the
    // two trades below run in either order
    const buyer = await liveActor(l, 'buyer');
    await topUp(l, buyer.orgId, 10_000_000);
    const [all, rest] = await Promise.all([
      buy({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'cost' }], groupBy: [], filters: [] }, m.offer, buyer),
      buy({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'cost' }], groupBy: [], filters: [{ column: 'age_band', in: ['18-39', '40-64'] }] }, m.offer, buyer),
    ]);
    const learned = all.ok && rest.ok ? Number(all.result.groups[0].values['sum(cost)']) - Number(rest.result.groups[0].values['sum(cost)']) : null;
    const refusal = [all, rest].find((a) => !a.ok) as { stage: string; reason: string } | undefined;
    console.log(
      `      HE differencing attack on one patient's cost (${target.cost.toFixed(2)}): ${learned === null ? `refused at ${refusal?.stage}: ${refusal?.reason.slice(0, 120)}` : `learned ${learned.toFixed(2)} (error ${Math.abs(learned - target.cost).toFixed(2)})`}`,
    );
    expect(all.ok || rest.ok, 'one of the two is released').to.equal(true);
    expect(learned, 'the pair is never both released').to.equal(null);
    expect(refusal!.reason).to.match(/single out fewer than/);
  });

  it('differencing across paths (exact): an HE total and a SQL query leaving out one patient', async () => {
    const buyer = await liveActor(l, 'buyer');
    await topUp(l, buyer.orgId, 10_000_000);
    const all = await buy({ kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'cost' }], groupBy: [], filters: [] }, m.offer, buyer);
    const rest = await buy({ kind: 'sql', query: "SELECT COUNT(*) AS n, SUM(cost) AS c FROM dataset WHERE age_band IN ('18-39', '40-64')" }, m.offer, buyer);
    console.log(`      HE total then SQL without one patient: ${all.ok ? 'HE released' : 'HE refused'}, SQL ${rest.ok ? 'released' : `refused at ${rest.stage}`}`);
    expect(all.ok, JSON.stringify(all).slice(0, 300)).to.equal(true);
    expect(rest.ok).to.equal(false);
    expect((rest as { reason: string }).reason).to.match(/single out fewer than/);
  });

  it(`averaging: repeating a differentially private query stops at the ε budget (${BUDGET} / ${EPS} per query), even when sent all at once`, async () => {
    const q = { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'condition' }], groupBy: [], filters: [] };
    const answers = await Promise.all(Array.from({ length: 6 }, () => buy(q, dpOffer)));
    const got = answers.filter((a) => a.ok).map((a) => Number((a as { result: any }).result.groups[0].values['sum(condition)']));
    const truth = rows.reduce((acc, r) => acc + r.condition, 0);
    const mean = got.reduce((a, x) => a + x, 0) / Math.max(1, got.length);
    const refusals = answers.filter((a) => !a.ok).map((a) => `${(a as { stage: string }).stage}: ${(a as { reason: string }).reason.slice(0, 160)}`);
    console.log(`      averaging attack: ${got.length} answers of 6 (refused at ${JSON.stringify(refusals)}); true ${truth}, averaged ${mean.toFixed(2)} (error ${Math.abs(mean - truth).toFixed(2)}; one exact answer would have error 0)`);
    expect(got.length).to.be.at.most(Math.floor(BUDGET / EPS));
    expect(got.length, 'some answers are released: the budget, not something else, stops the attack').to.be.at.least(1);
    expect(refusals.length).to.be.at.least(6 - Math.floor(BUDGET / EPS));
  });

  it('reconstruction: random subset queries for the sensitive bit, stopped by the budget, reconstruct no better than guessing', async () => {
    const buyer = await liveActor(l, 'buyer');
    await topUp(l, buyer.orgId, 10_000_000);
    const vals = { region: ['North', 'South', 'East'], age_band: ['18-39', '40-64', '65+'], sex: ['F', 'M'] } as const;
    const subsets = Array.from({ length: 10 }, () => {
      const pick = (xs: readonly string[]) => {
        const s = xs.filter(() => rng.bool());
        return s.length ? s : [rng.pick(xs)];
      };
      return { region: pick(vals.region), age_band: pick(vals.age_band), sex: pick(vals.sex) };
    });
    const inSubset = (r: (typeof rows)[number], s: (typeof subsets)[number]) => s.region.includes(r.region) && s.age_band.includes(r.age) && s.sex.includes(r.sex);
    const answers = await Promise.all(
      subsets.map((s) =>
        buy({ kind: 'sql', query: `SELECT COUNT(*) AS n, SUM(condition) AS c FROM dataset WHERE ${Object.entries(s).map(([col, vs]) => `${col} IN (${vs.map((v) => `'${v}'`).join(', ')})`).join(' AND ')}` }, dpOffer, buyer),
      ),
    );
    // the attacker's estimate for each patient: the mean noisy rate of the answered subsets that contain them
    const est = rows.map((r) => {
      const rates = answers.flatMap((a, i) => {
        if (!a.ok || !inSubset(r, subsets[i]!)) return [];
        const g = a.result.groups[0];
        return g ? [Number(g.values.c) / Math.max(1, Number(g.values.n))] : [];
      });
      return rates.length ? rates.reduce((x, y) => x + y, 0) / rates.length : 0.5;
    });
    const ones = rows.filter((r) => r.condition === 1).length;
    const baseline = Math.max(ones, rows.length - ones) / rows.length;
    const majority = ones * 2 >= rows.length ? 1 : 0;
    const accuracy = rows.filter((r, i) => (est[i]! === 0.5 ? majority : est[i]! > 0.5 ? 1 : 0) === r.condition).length / rows.length;
    const answered = answers.filter((a) => a.ok).length;
    const why = [...new Set(answers.flatMap((a) => (a.ok ? [] : [`${a.stage}: ${a.reason.slice(0, 160)}`])))];
    console.log(`      reconstruction attack: ${subsets.length} random-subset queries, ${answered} answered; accuracy ${(accuracy * 100).toFixed(0)}% vs ${(baseline * 100).toFixed(0)}% by always guessing the majority; refusals ${JSON.stringify(why)}`);
    expect(answered).to.be.at.most(Math.floor(BUDGET / EPS));
    expect(accuracy).to.be.at.most(baseline + 0.15);
  });
});
