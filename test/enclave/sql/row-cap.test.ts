import { expect } from 'chai';
import { validateSql } from '../../../query/validate.js';
import { mapRowsInSandbox, runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { runSqlComputation, type SqlRunResult } from '../../../enclave/sql/run.js';
import { keptRows } from '../../../enclave/privacy/differencing.js';
import type { OutputPolicy } from '../../../enclave/privacy/gate.js';
import { PersonRowCap } from '../../../enclave/sandbox/raw-load.js';
import { newKeys, schema, sealRows } from './fixture.js';

/**
 * The per-person row cap (exact and DP releases), decided while loading: exactly the first m rows (dataset
 * order) of each person reach the query, whatever the table layout, the unseal thread, or the chunk boundaries.
 */
describe('SQL sandbox: the per-person row cap keeps exactly each person’s first m rows', function () {
  this.timeout(60_000);
  const keys = newKeys();
  // person Z: 5 rows, the only person in 'east', amounts 1, 2, 4, 8, 16 in dataset order, spread over
  // chunks of 4 rows; the others: one or two rows each (untouched by m = 2), one without an identifier
  const rows: (string | number | null)[][] = [];
  const z = [1, 2, 4, 8, 16];
  for (let i = 0; i < 30; i++) {
    if (i % 6 === 3) rows.push(['Z', 'east', 'web', z.shift()!, 1, `z${i}`]);
    else rows.push([i === 7 ? null : `P${Math.floor(i / 2)}`, i % 2 ? 'north' : 'south', 'shop', 100 + i, 2, `p${i}`]);
  }
  const chunks = sealRows(rows, keys.publicKey, 4);
  const q = 'SELECT region, COUNT(*) AS n, SUM(amount) AS s FROM dataset GROUP BY region';
  const v = validateSql(q, schema, { mode: 'dp' });
  if (!v.ok) throw new Error(JSON.stringify(v.errors));

  const expected = (m: number): Record<string, [number, number]> => {
    const seen = new Map<string, number>();
    const out: Record<string, [number, number]> = {};
    for (const r of rows) {
      const id = r[0] as string | null;
      if (id !== null) {
        seen.set(id, (seen.get(id) ?? 0) + 1);
        if (seen.get(id)! > m) continue;
      }
      const g = (out[r[1] as string] ??= [0, 0]);
      g[0]++;
      g[1] += r[3] as number;
    }
    return out;
  };
  const byRegion = (out: { columns: string[]; rows: (string | number | null)[][] }): Record<string, [number, number]> =>
    Object.fromEntries(out.rows.map((r) => [r[out.columns.indexOf('region')] as string, [Number(r[out.columns.indexOf('n')]), Number(r[out.columns.indexOf('s')])]]));

  for (const [label, extra] of [
    ['grouped table, unseal helper', {}],
    ['rowid table, unsealed in the worker', { tableLayout: 'rowid' as const, unsealThreads: 0 }],
  ] as const) {
    it(`a person with 5 rows and m = 2: rows 1–2 of that person count, others untouched (${label})`, async () => {
      const out = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: 2, ...extra });
      const got = byRegion(out);
      expect(got.east).to.deep.equal([2, 1 + 2]); // Z's first two rows, not any other two
      expect(got).to.deep.equal(expected(2));
      expect(out.stats.rowsCapped).to.equal(3);
      expect(out.stats.rowsLoaded).to.equal(rows.length);
      const one = byRegion(await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: 1, ...extra }));
      expect(one.east).to.deep.equal([1, 1]);
      expect(one).to.deep.equal(expected(1));
    });
  }

  it('keeps counting across a table that turns from grouped to rowid mid-load (a NULL key in a later chunk)', async () => {
    const withNull = rows.map((r, i) => (i === 25 ? [r[0], null, ...r.slice(2)] : r));
    const sealed = sealRows(withNull, keys.publicKey, 4);
    const out = await runSqlInSandbox({ schema, chunks: sealed, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: 2 });
    expect(out.stats.tableLayout).to.equal('rowid');
    expect(byRegion(out).east).to.deep.equal([2, 3]); // Z's later rows stay out, the last one loaded after the switch
    expect(out.stats.rowsCapped).to.equal(3);
  });

  it("an exact release keeps each person's first m rows too (the offer's cap); only a test enclave's exact-for-tests reads every row", async () => {
    const exact = (policy: OutputPolicy) => runSqlComputation({ query: q, schema, chunks, unwrapPrivateKey: keys.privateKey, policy });
    const counts = (out: SqlRunResult) => Object.fromEntries(out.groups.map((g) => [g.key[0], g.values.n]));
    // north keeps only its row without an identifier, which k (distinct identifiers) does not count: withheld
    expect(counts(await exact({ minGroupSize: 1 }))).to.deep.equal({ east: expected(1).east![0], south: expected(1).south![0] });
    expect(counts(await exact({ minGroupSize: 1, maxRowsPerPerson: 2 })).east).to.equal(2);
    expect(counts(await exact({ minGroupSize: 1, mode: 'exact-for-tests' })).east).to.equal(5);
  });

  it("the guard's rows (first m rows per subject of the row map) are exactly the rows the sandbox keeps", async () => {
    const map = await mapRowsInSandbox({ schema, layout: { partitionBy: [], partitions: [{ key: [] }] }, chunks, unwrapPrivateKey: keys.privateKey });
    const regions = schema.columns.find((c) => c.name === 'region')!.values!;
    const codes = map.dimensions!.find((d) => d.name === 'region')!.codes;
    for (const m of [1, 2, 3]) {
      const kept = keptRows(map.subjects, rows.length, m)!;
      const fromMap: Record<string, number> = {};
      for (let r = 0; r < rows.length; r++) if (kept[r]) fromMap[regions[codes[r]!]!] = (fromMap[regions[codes[r]!]!] ?? 0) + 1;
      const out = byRegion(await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: m }));
      expect(fromMap, `m = ${m}`).to.deep.equal(Object.fromEntries(Object.entries(out).map(([k, [n]]) => [k, n])));
    }
  });

  it('compares identifier values as stored: by bytes, a 32-bit integer as its digits, exactly (no hash merging)', () => {
    const cap = new PersonRowCap(0, 1);
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    const keep = (s: string): boolean => {
      const b = enc(`..${s}..`); // inside a larger buffer, as in a chunk's text
      return cap.keepText(b, 2, b.length - 2);
    };
    expect(keep('7')).to.equal(true);
    expect(cap.keepNumber(7)).to.equal(false); // 7 is stored as the text '7': the same person
    expect(cap.keepNumber(7.5)).to.equal(true);
    expect(keep('7.5')).to.equal(true); // a non-integer number is kept apart from text
    expect(keep('é')).to.equal(true);
    expect(keep('é')).to.equal(false);
    expect(keep('')).to.equal(true);
    expect(keep('')).to.equal(false);
    // many values, through several rehashes: each first row kept, each second one dropped
    const ids = Array.from({ length: 50_000 }, (_, i) => `person-${i}`);
    expect(ids.every((s) => keep(s))).to.equal(true);
    expect(ids.some((s) => keep(s))).to.equal(false);
    expect(cap.dropped).to.equal(3 + ids.length);
    cap.wipe();
    expect(keep('7')).to.equal(true);
  });
});
