import { expect } from 'chai';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { DimPredicate } from '../../../query/predicates.js';
import { exactReleaseSets, validateSql } from '../../../query/validate.js';
import { schema } from './fixture.js';

/**
 * The differencing guard reads an exact query's rows as dimension predicates (validate.ts selection and
 * exactReleaseSets). For generated exact conditions, the predicate must select exactly the declared cells
 * SQLite selects with the same WHERE and CASE.
 */
const region = schema.columns.find((c) => c.name === 'region')!.values!;
const channel = schema.columns.find((c) => c.name === 'channel')!.values!;
const holds = (p: DimPredicate, cell: Record<string, string>): boolean => {
  if ('all' in p) return true;
  if ('dim' in p) return p.in.includes(cell[p.dim]!);
  if ('and' in p) return p.and.every((q) => holds(q, cell));
  if ('or' in p) return p.or.some((q) => holds(q, cell));
  return !holds(p.not, cell);
};

const atom = fc.oneof(
  fc.tuple(fc.constantFrom('region', 'channel'), fc.constantFrom('=', '!=', '<>', '==')).chain(([col, op]) =>
    fc.constantFrom(...(col === 'region' ? region : channel)).map((v) => `${col} ${op} '${v}'`),
  ),
  fc.tuple(fc.constantFrom('region', 'channel'), fc.constantFrom('IN', 'NOT IN')).chain(([col, op]) =>
    fc.subarray(col === 'region' ? region : channel, { minLength: 1 }).map((vs) => `${col} ${op} (${vs.map((v) => `'${v}'`).join(', ')})`),
  ),
);
const condition: fc.Arbitrary<string> = fc.letrec<{ c: string }>((tie) => ({
  c: fc.oneof(
    { depthSize: 'small' },
    atom,
    fc.tuple(tie('c'), fc.constantFrom('AND', 'OR'), tie('c')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('c').map((c) => `NOT (${c})`),
    fc.tuple(tie('c'), fc.constantFrom('AND', 'OR'), tie('c')).map(([a, op, b]) => `${a} ${op} ${b}`),
  ),
})).c;

describe('exact SQL: the release sets select exactly the cells SQLite selects', () => {
  it('WHERE ∧ group key ∧ CASE condition, for generated conditions', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE dataset (region TEXT, channel TEXT, amount REAL)');
    // one row per cell, amount 2^i: a sum over selected rows names exactly the cells selected
    const ins = db.prepare('INSERT INTO dataset VALUES (?, ?, ?)');
    const cells = region.flatMap((r) => channel.map((c) => `${r}/${c}`));
    cells.forEach((cell, i) => ins.run(cell.split('/')[0], cell.split('/')[1], 2 ** i));
    const cellsOf = (mask: number | null) => cells.filter((_, i) => Math.floor((mask ?? 0) / 2 ** i) % 2 === 1).sort();
    fc.assert(
      fc.property(condition, condition, fc.boolean(), (where, cond, grouped) => {
        const q = `SELECT ${grouped ? 'channel, ' : ''}SUM(amount) AS t, SUM(CASE WHEN ${cond} THEN amount END) AS s FROM dataset WHERE ${where}${grouped ? ' GROUP BY channel' : ''}`;
        const v = validateSql(q, schema, { mode: 'exact' });
        if (!v.ok) throw new Error(`${q}: ${JSON.stringify(v.errors)}`);
        // the normalised text, as SQLite runs it
        const ran = db.prepare(v.normalized).all() as Record<string, number | string | null>[];
        const keys = grouped ? channel.map((c) => [c]) : [[]];
        for (const key of keys) {
          const [all, withCase] = exactReleaseSets(v.plan, key);
          const groupSql = grouped ? ` AND channel = '${key[0]}'` : '';
          const want = (extra: string) =>
            (db.prepare(`SELECT region, channel FROM dataset WHERE (${where})${groupSql}${extra} ORDER BY region, channel`).all() as Record<string, string>[]).map((r) => `${r.region}/${r.channel}`);
          const got = (p: DimPredicate) =>
            region
              .flatMap((r) => channel.map((c) => ({ region: r, channel: c })))
              .filter((cell) => holds(p, cell))
              .map((c) => `${c.region}/${c.channel}`)
              .sort();
          expect(got(all!), q).to.deep.equal(want('').sort());
          expect(got(withCase!), q).to.deep.equal(want(` AND (${cond})`).sort());
          const row = ran.find((r) => !grouped || r.channel === key[0]);
          expect(got(all!), v.normalized).to.deep.equal(cellsOf((row?.t as number | null) ?? null));
          expect(got(withCase!), v.normalized).to.deep.equal(cellsOf((row?.s as number | null) ?? null));
        }
      }),
      { numRuns: 300 },
    );
    db.close();
  });
});
