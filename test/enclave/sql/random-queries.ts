import { expect } from 'chai';
import fc from 'fast-check';
import type { SandboxOutput } from '../../../enclave/sandbox/sandbox.js';

/** Random rows of the fixture's schema and random query parts the validator accepts (property tests of the sandbox). */
export type Row = (string | number | null)[];

/** A row of the fixture schema whose identifier is drawn from `person` (null: no identifier). */
export const sqlRow = (person: fc.Arbitrary<string>): fc.Arbitrary<Row> =>
  fc.tuple(
    fc.option(person, { freq: 10 }),
    fc.constantFrom('north', 'south', 'east', 'west'),
    fc.constantFrom('web', 'shop'),
    fc.option(fc.double({ min: -100, max: 1000, noNaN: true }).map((x) => Math.round(x * 100) / 100), { freq: 8 }),
    fc.option(fc.integer({ min: 0, max: 30 }), { freq: 10 }),
    fc.constantFrom('n1', 'n2'),
  );

export const WHERE = fc.constantFrom('', " WHERE region = 'west'", " WHERE region IN ('north', 'south')", " WHERE NOT channel = 'shop'");
export const GROUP_BY = fc.constantFrom('', 'region', 'channel', 'region, channel');
const measure = fc.constantFrom('amount', 'nights');
/** an aggregate's argument: a measure, or a measure selected by a dimension condition */
export const AGG_ARG = fc.oneof(measure, fc.tuple(fc.constantFrom("channel = 'web'", "NOT region = 'north'"), measure).map(([c, m]) => `CASE WHEN ${c} THEN ${m} END`));

/** Outputs the exact language accepts: COUNT, SUM, AVG, TOTAL of a selected measure, and arithmetic on them. */
export const EXACT_OUTPUT = fc.oneof(
  fc.constant('COUNT(*)'),
  fc.tuple(fc.constantFrom('SUM', 'AVG', 'COUNT', 'TOTAL'), AGG_ARG).map(([f, a]) => `${f}(${a})`),
  fc.tuple(fc.constantFrom('SUM', 'COUNT'), AGG_ARG).map(([f, a]) => `ROUND(${f}(${a}) / 3.0, 2)`),
);

/** Outputs a DP plan computes before noise, all of which decompose into slices: clamped sums, means, MIN, MAX, counts. */
export const DP_OUTPUT = fc.oneof(fc.tuple(fc.constantFrom('SUM', 'TOTAL', 'AVG', 'MIN', 'MAX', 'COUNT'), AGG_ARG).map(([f, a]) => `${f}(${a})`), fc.constant('COUNT(*)'));

/** The query of `outputs` with a WHERE and GROUP BY part. */
export const queryOf = (outputs: string[], where: string, groupBy: string): string =>
  `SELECT ${groupBy ? `${groupBy}, ` : ''}${outputs.map((e, i) => `${e} AS v${i}`).join(', ')} FROM dataset${where}${groupBy ? ` GROUP BY ${groupBy}` : ''}`;

/**
 * `numRuns` random queries (1–3 of `outputs`, a WHERE, a GROUP BY) over random `data`, each given to `compare`
 * (which asserts; undefined: the validator refused the query); the answers of the accepted ones.
 */
export async function compareRandomQueries<D, O>(outputs: fc.Arbitrary<string>, data: fc.Arbitrary<D>, compare: (q: string, d: D) => Promise<O | undefined>, numRuns: number): Promise<O[]> {
  const accepted: O[] = [];
  await fc.assert(
    fc.asyncProperty(fc.array(outputs, { minLength: 1, maxLength: 3 }), WHERE, GROUP_BY, data, async (outs, w, g, d) => {
      const out = await compare(queryOf(outs, w, g), d);
      if (out !== undefined) accepted.push(out);
    }),
    { numRuns },
  );
  return accepted;
}

/**
 * The same groups and values, in any row order; floating values within 1e-12 relative (a sum merged from
 * slices or passes adds in another order than one database), everything else identical.
 */
export function expectSameRows(q: string, a: Pick<SandboxOutput, 'columns' | 'rows'>, b: Pick<SandboxOutput, 'columns' | 'rows'>): void {
  expect(a.columns, q).to.deep.equal(b.columns);
  const key = (r: unknown[]): string => JSON.stringify(r.map((x) => (typeof x === 'number' && !Number.isInteger(x) ? 0 : x)));
  const x = [...a.rows].sort((p, s) => key(p).localeCompare(key(s)));
  const y = [...b.rows].sort((p, s) => key(p).localeCompare(key(s)));
  expect(x.length, q).to.equal(y.length);
  x.forEach((r, i) =>
    r.forEach((v, j) => {
      const w = y[i]![j];
      if (typeof v === 'number' && typeof w === 'number' && !(Number.isInteger(v) && Number.isInteger(w))) expect(v, `${q} ${a.columns[j]}`).to.be.closeTo(w, Math.abs(w) * 1e-12 + 1e-9);
      else expect(v, `${q} ${a.columns[j]}`).to.equal(w);
    }),
  );
}
