import { expect } from 'chai';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { DatasetRef } from '../../contracts/index.js';
import { calibrate, meanHalfWidth95 } from '../../contracts/privacy/calibration.js';
import { assertCanRun, sqlRefusal, type SqlFacts } from '../../contracts/pricing/feasibility.js';
import { quoteSignatureValid } from '../../contracts/pricing/quote.js';
import { computationHash } from '../../contracts/computation.js';
import { validateSql } from '../../query/validate.js';
import { checkVerifyComputation } from '../../enclave/verify/verify.js';
import { offerInput, schema } from './fixtures.js';
import { world } from './world.js';
import { onEngines } from '../store/engines.js';

const dpTerms = (over: Record<string, unknown> = {}) => ({ ...offerInput().terms, destinations: ['CN'], epsilonPerQuery: 0.5, maxRowsPerPerson: 2, refusalFeeBps: 2_500, refusalAllowance: 4, ...over });
const purpose = { code: 'statistics', statement: 'county cost trends' };
const typeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'no error', (e) => (e as { type?: string }).type ?? String(e));

async function quote(w: Awaited<ReturnType<typeof world>>, offerId: string, computation: unknown, extra: Record<string, unknown> = {}, dataset: DatasetRef = w.dataset) {
  return await w.contracts.quote({ request: { offerId, computation, purpose, destination: 'CN', ...extra }, dataset, buyer: w.buyer });
}

onEngines('contracts/pricing: a quote states accuracy and refusal cost, and refuses what can never run', () => {
  const metrics = [{ op: 'count' }, { op: 'sum', measure: 'cost' }, { op: 'mean', measure: 'cost' }];
  const agg = { kind: 'aggregate', metrics, groupBy: ['county'], filters: [] };

  it('a DP quote states each output’s mechanism, scale and 95 % half-width, exactly as calibration.ts computes them', async () => {
    const w = await world();
    const offer = await w.listOffer({ priceModel: { kind: 'fixed', perQueryFen: 1_999 }, terms: dpTerms() });
    const q = await quote(w, offer.id, agg);
    expect(quoteSignatureValid(q, w.platform.publicKeyPem)).to.equal(true);
    const st = q.statement;
    expect(st.type).to.equal('shuyu.quote.v2');
    // a privacy refusal costs ⌊1999 × 2500 / 10000⌋ = 499 fen; the allowance is the offer's
    expect(st).to.deep.include({ priceFen: 1_999, refusalChargeFen: 499, refusalAllowance: 4 });
    const acc = st.accuracy!;
    // the mean is computed from the released count and sum(cost): 2 measurements, ε split evenly
    expect(acc).to.deep.include({ epsilon: 0.5, delta: 0, maxRowsPerPerson: 2, measurements: 2, groups: 3 });
    const cal = (kind: 'count' | 'sum' | 'mean', bounds: [number, number], scale: number, measurements = 2) =>
      calibrate({ kind, bounds, scale, maxRowsPerPerson: 2, epsilon: 0.5, delta: 0, measurements, ...(kind === 'mean' ? { partScales: { sum: 2, count: 0 } } : {}) });
    const byName = Object.fromEntries(acc.outputs.map((o) => [o.output, o]));
    expect(Object.keys(byName)).to.deep.equal(['count', 'sum(cost)', 'mean(cost)']);
    const count = cal('count', [0, 1], 0);
    expect(byName.count).to.deep.include({ mechanism: 'discrete-laplace', sensitivity: count.sensitivity, noiseScale: count.noiseScale, halfWidth95: count.halfWidth95 });
    const sum = cal('sum', [0, 100_000], 2);
    expect(byName['sum(cost)']).to.deep.include({ bounds: [0, 100_000], sensitivity: 200_000.02, noiseScale: sum.noiseScale, halfWidth95: sum.halfWidth95 });
    // t = Δ/ε' with Δ = m·max|bound| plus m grid units (0.01) for rounding each group's sum onto the grid
    expect(sum.noiseScale).to.be.closeTo(200_000.02 / (0.5 / 2), 1e-6);
    const mean = cal('mean', [0, 100_000], 6);
    // asked alone, the mean needs its own hidden sum and count: still 2 measurements; with a variance of the
    // same measure, the sum of squares is a third
    expect((await quote(w, offer.id, { ...agg, metrics: [{ op: 'mean', measure: 'cost' }] })).statement.accuracy!.measurements).to.equal(2);
    expect((await quote(w, offer.id, { ...agg, metrics: [{ op: 'mean', measure: 'cost' }, { op: 'variance', measure: 'cost' }] })).statement.accuracy!.measurements).to.equal(3);
    expect(byName['mean(cost)']).to.deep.include({ halfWidth95: null, sumHalfWidth: mean.sumHalfWidth, countHalfWidth: mean.countHalfWidth });
    // the mean's interval is stated as a formula in n, with the numbers
    const S = mean.sumHalfWidth!;
    const C = mean.countHalfWidth!;
    expect(byName['mean(cost)']!.formula).to.include(`(${S} + 100000·${C}) / (n − ${C})`);
    expect(meanHalfWidth95(mean, [0, 100_000], 10_000)).to.be.closeTo((S + 100_000 * C) / (10_000 - C), 1e-6);
  });

  // SQL facts as the server derives them: the enclave's own validator in the offer's mode, with the clamp
  const facts = (query: string, mode: 'exact' | 'dp', clamp?: Record<string, [number, number]>): SqlFacts => {
    const v = validateSql(query, schema, { mode, ...(clamp ? { clamp } : {}) });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    return { columnsUsed: v.columnsUsed, groupBy: v.plan.groupBy, outputs: v.outputs };
  };
  const sumSql = { kind: 'sql', query: 'SELECT county, SUM(cost) AS total, AVG(cost) AS avg_cost FROM dataset GROUP BY county' };
  const sqlOffer = async (w: Awaited<ReturnType<typeof world>>, over: Record<string, unknown> = {}) =>
    await w.listOffer({ allowedKinds: ['aggregate', 'sql'], terms: dpTerms({ queryQuotaPerBuyer: 50, ...over }) });

  it('a buyer’s narrower clamp gives a smaller half-width, is part of the computation hash, and must be submitted as quoted', async () => {
    const w = await world();
    const offer = await sqlOffer(w);
    const wide = await quote(w, offer.id, sumSql, { sql: facts(sumSql.query, 'dp') });
    const narrow = await quote(w, offer.id, sumSql, { clamp: { cost: [0, 1_000] }, sql: facts(sumSql.query, 'dp', { cost: [0, 1_000] }) });
    const hw = (q: typeof wide, name: string) => q.statement.accuracy!.outputs.find((o) => o.output === name)!;
    expect(hw(narrow, 'total').halfWidth95!).to.be.lessThan(hw(wide, 'total').halfWidth95! / 50);
    expect(hw(narrow, 'avg_cost').sumHalfWidth!).to.be.lessThan(hw(wide, 'avg_cost').sumHalfWidth!);
    expect(hw(narrow, 'total').bounds).to.deep.equal([0, 1_000]);
    expect(hw(narrow, 'avg_cost').countHalfWidth).to.equal(hw(wide, 'avg_cost').countHalfWidth); // a count does not depend on bounds
    const clamped = { ...sumSql, clamp: { cost: [0, 1_000] } };
    expect(narrow.statement.computationHash).to.equal(computationHash(clamped as never)).and.not.equal(wide.statement.computationHash);
    // the clamp may also come inside the computation: same hash
    expect((await quote(w, offer.id, clamped, { sql: facts(sumSql.query, 'dp', { cost: [0, 1_000] }) })).statement.computationHash).to.equal(narrow.statement.computationHash);
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 100_000, idempotencyKey: 'c', actor: 'operator' });
    const submit = async (computation: unknown) => await w.contracts.submitTrade({ request: { quote: narrow, computation, columnsUsed: ['cost', 'county'] }, dataset: w.dataset, buyer: w.buyer });
    expect(await typeOf(Promise.resolve().then(() => submit(sumSql)))).to.equal('quote-mismatch');
    expect((await submit(clamped)).computation).to.deep.include({ clamp: { cost: [0, 1_000] } });
  });

  it('a clamp outside the schema’s bounds, on a measure the query does not read, on an aggregate or on an exact offer is refused', async () => {
    const w = await world();
    const dp = await sqlOffer(w);
    const countSql = { kind: 'sql', query: 'SELECT county, COUNT(*) AS n FROM dataset GROUP BY county' };
    const dpFacts = facts(sumSql.query, 'dp');
    expect(await typeOf(quote(w, dp.id, sumSql, { clamp: { cost: [-1, 10] }, sql: dpFacts }))).to.equal('invalid-clamp');
    expect(await typeOf(quote(w, dp.id, sumSql, { clamp: { cost: [0, 100_001] }, sql: dpFacts }))).to.equal('invalid-clamp');
    expect(await typeOf(quote(w, dp.id, countSql, { clamp: { cost: [0, 10] }, sql: facts(countSql.query, 'dp') }))).to.equal('invalid-clamp');
    expect(await typeOf(quote(w, dp.id, sumSql, { clamp: { cost: [10, 0] }, sql: dpFacts }))).to.equal('invalid-request');
    expect(await typeOf(quote(w, dp.id, { ...sumSql, clamp: { cost: [0, 5] } }, { clamp: { cost: [0, 6] }, sql: dpFacts }))).to.equal('invalid-clamp');
    // sums of sealed rows cannot be clamped row by row: the homomorphic path takes no clamp
    expect(await typeOf(quote(w, dp.id, agg, { clamp: { cost: [0, 10] } }))).to.equal('invalid-clamp');
    expect(await typeOf(quote(w, dp.id, { ...agg, clamp: { cost: [0, 10] } }))).to.equal('invalid-request');
    const exact = await w.listOffer({ allowedKinds: ['aggregate', 'sql'], terms: dpTerms({ epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0 }) });
    expect(await typeOf(quote(w, exact.id, sumSql, { clamp: { cost: [0, 10] }, sql: facts(sumSql.query, 'exact') }))).to.equal('invalid-clamp');
  });

  it('an exact quote states no noise, but does state the refusal charge', async () => {
    const w = await world();
    const exact = await w.listOffer({ priceModel: { kind: 'fixed', perQueryFen: 1_000 }, terms: dpTerms({ epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0, refusalFeeBps: 3_333 }) });
    const st = (await quote(w, exact.id, agg)).statement;
    expect(st.accuracy).to.equal(undefined);
    expect(st.warnings).to.deep.equal([]);
    expect(st.refusalChargeFen).to.equal(333);
  });

  it('warns when an output’s interval is wider than its range, and names the group size from which a mean fits', async () => {
    const w = await world();
    const tiny = await w.listOffer({ terms: dpTerms({ epsilonPerQuery: 0.001, queryQuotaPerBuyer: 50 }) });
    const small: DatasetRef = { ...w.dataset, rowCount: 300 };
    const st = (await quote(w, tiny.id, agg, {}, small)).statement;
    const warned = st.warnings.map((x) => x.output).sort();
    expect(warned).to.deep.equal(['count', 'mean(cost)', 'sum(cost)']);
    const mw = st.warnings.find((x) => x.output === 'mean(cost)')!;
    expect(mw.code).to.equal('noise-exceeds-range');
    expect(mw.groupRows).to.equal(100);
    expect(mw.groupRowsNeeded).to.be.greaterThan(100);
    // groups too small for the count's noise: the mean's interval is unbounded
    const three: DatasetRef = { ...w.dataset, rowCount: 3 };
    expect((await quote(w, tiny.id, agg, {}, three)).statement.warnings.find((x) => x.output === 'mean(cost)')!.intervalWidth).to.equal(null);
    // filters with no value in common: a release of no group, quoted without noise to warn about
    const none = (await quote(w, tiny.id, { ...agg, filters: [{ column: 'county', in: ['dali'] }, { column: 'county', in: ['lijiang'] }] })).statement;
    expect(none.accuracy!.groups).to.equal(0);
    // generous ε on many rows: nothing to warn about
    const w2 = await world();
    const generous = await w2.listOffer({ terms: dpTerms({ epsilonPerQuery: 8, epsilonBudgetPerBuyer: 10 }) });
    const big: DatasetRef = { ...w2.dataset, rowCount: 3_000_000 };
    expect((await quote(w2, generous.id, agg, {}, big)).statement.warnings).to.deep.equal([]);
  });

  it('refuses at quote time, with the enclave’s own problem types, what can never run', async () => {
    const w = await world();
    const wide = DatasetSchema.parse({
      ...schema,
      columns: [...schema.columns, { name: 'town', type: 'category', role: 'dimension', level: 1, values: Array.from({ length: 100 }, (_, i) => `t${i}`) }, { name: 'street', type: 'category', role: 'dimension', level: 1, values: Array.from({ length: 50 }, (_, i) => `s${i}`) }],
    });
    const ds: DatasetRef = { ...w.dataset, schema: wide };
    const allCols = ['county', 'sex', 'cost', 'town', 'street'];
    const dp = await w.listOffer({ allowedKinds: ['aggregate', 'sql'], allowedColumns: allCols, terms: dpTerms({ queryQuotaPerBuyer: 100 }) }, ds);
    const exact = await w.listOffer({ allowedKinds: ['aggregate', 'sql'], allowedColumns: allCols, terms: dpTerms({ epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0 }) }, ds);
    const verifyOnly = await w.listOffer({ allowedKinds: ['verify'], allowedColumns: ['county', 'cost', 'patient_id'], terms: dpTerms({ queryQuotaPerBuyer: 100 }) }, ds);
    const q = (offerId: string, c: unknown, extra: Record<string, unknown> = {}) => typeOf(quote(w, offerId, c, extra, ds));

    // kinds and columns the offer does not sell
    expect(await q(verifyOnly.id, agg)).to.equal('computation-not-offered');
    expect(await q(dp.id, { ...agg, groupBy: ['birth_year'] })).to.equal('computation-not-offered');
    // aggregate filters on undeclared values, or on a non-dimension
    expect(await q(dp.id, { ...agg, filters: [{ column: 'county', in: ['kunming', 'atlantis'] }] })).to.equal('computation-invalid');
    expect(await q(dp.id, { ...agg, groupBy: [], filters: [{ column: 'cost', in: ['1'] }] })).to.equal('computation-invalid');
    expect(await q(dp.id, { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'county' }] })).to.equal('computation-invalid');
    // a DP grouping of 100 × 50 keys; narrowed by a filter it fits
    expect(await q(dp.id, { ...agg, groupBy: ['town', 'street'] })).to.equal('dp-domain-too-large');
    expect(await q(dp.id, { ...agg, groupBy: ['town', 'street'], filters: [{ column: 'town', in: ['t1', 't2'] }] })).to.equal('no error');
    expect(await q(exact.id, { ...agg, groupBy: ['town', 'street'] })).to.equal('no error'); // exact releases list only groups with rows
    // verify shapes the enclave refuses
    expect(await q(verifyOnly.id, { kind: 'verify', match: { cost: '12.00' } })).to.equal('verify-refused');
    expect(await q(verifyOnly.id, { kind: 'verify', match: { county: 'dali' }, perAttribute: true })).to.equal('verify-refused');
    expect(await q(verifyOnly.id, { kind: 'verify', match: { patient_id: 'p-1' }, perAttribute: true })).to.equal('verify-refused');
    expect(await q(verifyOnly.id, { kind: 'verify', match: { patient_id: 'p-1', county: 'dali' }, perAttribute: true })).to.equal('no error');
    // SQL needs the validator's findings; with them, MIN/MAX in an exact release is refused as the enclave does
    const maxFacts: SqlFacts = { columnsUsed: ['cost', 'county'], groupBy: ['county'], outputs: [{ name: 'county', kind: 'dimension', column: 'county', bounds: null, scale: 0 }, { name: 'max_cost', kind: 'aggregate', aggregate: 'max', column: 'cost', bounds: [0, 100_000], scale: 2 }] };
    const sql = { kind: 'sql', query: 'SELECT county, MAX(cost) AS max_cost FROM dataset GROUP BY county' };
    expect(await q(exact.id, sql)).to.equal('invalid-request');
    expect(await q(exact.id, sql, { sql: maxFacts })).to.equal('privacy-order-statistic-needs-dp');
    const dpMax = await quote(w, dp.id, sql, { sql: maxFacts }, ds);
    const maxAcc = dpMax.statement.accuracy!.outputs;
    expect(maxAcc.map((o) => o.output)).to.deep.equal(['max_cost']);
    expect(maxAcc[0]!.halfWidth95).to.equal(calibrate({ kind: 'max', bounds: [0, 100_000], scale: 2, maxRowsPerPerson: 2, epsilon: 0.5, measurements: 1 }).halfWidth95);
    expect(dpMax.statement.warnings.map((x) => x.output)).to.deep.equal(['max_cost']); // ±(range × 2 / 0.5 × 3) swamps [0, 100000]
    const derived: SqlFacts = { ...maxFacts, outputs: [{ name: 'ratio', kind: 'derived', bounds: null, scale: 4 }] };
    expect(await q(dp.id, sql, { sql: derived })).to.equal('privacy-unsupported-output');
  });

  it('bounds at the edge of the doubles are refused as privacy-invalid-parameter, never signed as a non-number', async () => {
    const w = await world();
    const huge = DatasetSchema.parse({ ...schema, columns: schema.columns.map((c) => (c.name === 'cost' ? { ...c, bounds: [-1e308, 1e308] } : c)) });
    const ds: DatasetRef = { ...w.dataset, schema: huge };
    const offer = await w.listOffer({ terms: dpTerms({ epsilonPerQuery: 10, epsilonBudgetPerBuyer: 10 }) }, ds);
    for (const metrics of [[{ op: 'sum', measure: 'cost' }], [{ op: 'count' }, { op: 'stddev', measure: 'cost' }]]) {
      expect(await typeOf(quote(w, offer.id, { ...agg, metrics }, {}, ds)), JSON.stringify(metrics)).to.equal('privacy-invalid-parameter');
    }
  });

  it('the validator’s refusals keep their own privacy type when only such rules fired, else sql-refused, with every error', () => {
    const order = sqlRefusal([{ clause: 'SELECT', rule: 'privacy-order-statistic-needs-dp', message: 'MAX()' }]);
    expect(order.type).to.equal('privacy-order-statistic-needs-dp');
    const mixed = sqlRefusal([{ clause: 'SELECT', rule: 'identifier-column', message: 'x' }, { clause: 'SELECT', rule: 'privacy-order-statistic-needs-dp', message: 'MIN()' }]);
    expect(mixed.type).to.equal('sql-refused');
    expect((mixed.detail.errors as unknown[]).length).to.equal(2);
    expect(sqlRefusal([{ clause: 'GROUP BY', rule: 'dp-domain-too-large', message: 'y' }]).type).to.equal('dp-domain-too-large');
    expect(sqlRefusal([{ clause: 'statement', rule: 'select-only', message: 'z' }]).type).to.equal('sql-refused');
  });

  it('verify shapes: the quote refuses exactly what the enclave’s own check refuses, with the same message', () => {
    const shapes: Record<string, string>[] = [{}, { cost: '1' }, { county: 'dali' }, { patient_id: 'p' }, { patient_id: 'p', county: 'dali' }, { nope: 'x' }];
    for (const match of shapes) {
      for (const perAttribute of [false, true]) {
        const c = { kind: 'verify' as const, match, perAttribute };
        const enclave = (() => {
          try {
            checkVerifyComputation(c, schema);
            return 'ok';
          } catch (e) {
            return `${(e as { type: string }).type}: ${(e as Error).message}`;
          }
        })();
        const quoted = (() => {
          try {
            assertCanRun({ offer: { terms: dpTerms() as never }, schema, computation: c });
            return 'ok';
          } catch (e) {
            return `${(e as { type: string }).type}: ${(e as Error).message}`;
          }
        })();
        expect(quoted, JSON.stringify(c)).to.equal(enclave);
      }
    }
  });
});
