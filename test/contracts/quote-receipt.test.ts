import { expect } from 'chai';
import { accuracyOf } from '../../contracts/pricing/accuracy.js';
import type { SqlFacts } from '../../contracts/pricing/feasibility.js';
import { runSqlComputation } from '../../enclave/sql/run.js';
import { validateSql } from '../../query/validate.js';
import { makeRows, newKeys, schema, sealRows } from '../enclave/sql/fixture.js';

/**
 * The accuracy a quote states is the accuracy the enclave's release states (and draws its noise from): the same
 * measurements, mechanism, sensitivity, noise scale and 95 % half-widths per output, clamp included.
 */
describe('contracts/pricing: a DP quote states the accuracy the enclave’s release then states', function () {
  this.timeout(60_000);
  const keys = newKeys();
  const rows = makeRows(600);
  const chunks = sealRows(rows, keys.publicKey, 300);
  const terms = { epsilonPerQuery: 0.9, maxRowsPerPerson: 2 };

  const cases: { query: string; clamp?: Record<string, [number, number]> }[] = [
    { query: 'SELECT region, COUNT(*) AS n, SUM(amount) AS s, AVG(nights) AS a FROM dataset GROUP BY region' },
    { query: "SELECT channel, MAX(nights) AS most, AVG(amount) AS a FROM dataset WHERE region = 'north' GROUP BY channel", clamp: { amount: [0, 200] } },
  ];
  for (const c of cases) {
    it(`${c.query}${c.clamp ? ` clamped ${JSON.stringify(c.clamp)}` : ''}`, async () => {
      const v = validateSql(c.query, schema, { mode: 'dp', ...(c.clamp ? { clamp: c.clamp } : {}) });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      const sql: SqlFacts = { columnsUsed: v.columnsUsed, groupBy: v.plan.groupBy, outputs: v.outputs };
      const quoted = accuracyOf({
        offer: { terms: terms as never },
        schema,
        computation: { kind: 'sql', query: c.query, ...(c.clamp ? { clamp: c.clamp } : {}) },
        rows: rows.length,
        sql,
      })!.accuracy;
      const run = await runSqlComputation({
        query: c.query,
        schema,
        ...(c.clamp ? { clamp: c.clamp } : {}),
        chunks,
        unwrapPrivateKey: keys.privateKey,
        policy: { minGroupSize: 5, dp: { epsilon: terms.epsilonPerQuery }, maxRowsPerPerson: terms.maxRowsPerPerson },
      });
      const released = run.privacy.accuracy!;
      expect(quoted.measurements).to.equal(run.privacy.measurements);
      expect(quoted.groups).to.equal(run.groups.length);
      expect(quoted.outputs.map((o) => o.output).sort()).to.deep.equal(Object.keys(released).sort());
      for (const o of quoted.outputs) {
        const r = released[o.output]!;
        expect(o.mechanism, o.output).to.equal(r.mechanism);
        for (const f of ['epsilon', 'sensitivity', 'noiseScale', 'halfWidth95', 'sumHalfWidth', 'countHalfWidth'] as const) {
          const want = (r as Record<string, unknown>)[f];
          if (want === undefined || want === null) expect(o[f], `${o.output}.${f}`).to.equal(want);
          else expect(o[f], `${o.output}.${f}`).to.be.closeTo(want as number, 1e-9 * Math.max(1, Math.abs(want as number)));
        }
      }
    });
  }
});
