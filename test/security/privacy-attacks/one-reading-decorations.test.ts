import { expect } from 'chai';
import Database from 'better-sqlite3';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { schema } from '../../enclave/sql/fixture.js';

/**
 * One reading of the SQL (docs/privacy.md G7): the checker reads some fields of each parse-tree node, and the
 * parser's printer prints every field. Fields the checker never looked at reached the normalised text, so an
 * accepted (quoted, approved) query was one SQLite reads differently:
 *
 * - a literal's MySQL prefix: `region = BINARY 'north'` was checked as `region = 'north'` and printed with
 *   `BINARY`, which SQLite reads as a column name followed by a stray string;
 * - a function name's schema: `main.SUM(amount)` was checked as `SUM(amount)`; SQLite has no qualified
 *   function names;
 * - `NOT(a, b)`: each argument was checked as a condition; SQLite reads a row value, and the exact plan's
 *   predicate reader threw instead of refusing.
 *
 * Today each of these only fails to compile in SQLite (refused before any row, uncharged), but the checker's
 * verdict was about a different query than the one that runs. They are refused at the checker now, as a class:
 * any printer-only decoration on a node (literal prefix or suffix, COLLATE, qualified function name, an
 * aggregate's FILTER, WITHIN GROUP or separator) is refused.
 */
describe('security: the checker refuses parse-tree decorations it does not read (one reading)', () => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)');
  after(() => db.close());

  const compiles = (sql: string): boolean => {
    try {
      db.prepare(sql);
      return true;
    } catch {
      return false;
    }
  };

  const divergent: [SqlMode, string][] = [
    ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE region = BINARY 'north'"],
    ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE region IN ('south', BINARY 'north')"],
    ['exact', "SELECT SUM(CASE WHEN region = BINARY 'north' THEN amount END) AS s FROM dataset"],
    ['exact', "SELECT SUM(amount) + BINARY 'north' AS s FROM dataset"],
    ['exact', 'SELECT main.SUM(amount) AS s FROM dataset'],
    ['exact', 'SELECT main.ABS(SUM(amount)) AS s FROM dataset'],
    ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE NOT(region = 'north', channel = 'web')"],
    ['dp', "SELECT SUM(CASE WHEN name = BINARY 'x' THEN amount END) AS s FROM dataset"],
    ['dp', 'SELECT SUM(main.COALESCE(amount, 0)) AS s FROM dataset'],
    ['dp', "SELECT COUNT(*) AS n FROM dataset WHERE NOT(region = 'north', channel = 'web')"],
  ];

  it('each is refused by the checker, never thrown, in the mode it targets', () => {
    for (const [mode, q] of divergent) {
      let v: ReturnType<typeof validateSql> | undefined;
      expect(() => (v = validateSql(q, schema, { mode })), q).not.to.throw();
      expect(v!.ok, q).to.equal(false);
    }
  });

  it('what the checker accepts, SQLite compiles as the same tokens (the plain spellings still pass)', () => {
    const plain: [SqlMode, string][] = [
      ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE region = 'north'"],
      ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE region IN ('south', 'north')"],
      ['exact', 'SELECT ABS(SUM(amount)) AS s, "SUM"(nights) AS t FROM dataset'],
      ['exact', "SELECT SUM(amount) AS s FROM dataset WHERE NOT (region = 'north') AND NOT(channel = 'web')"],
      ['dp', 'SELECT SUM(COALESCE(amount, 0)) AS s FROM dataset'],
      ['dp', "SELECT SUM(CASE WHEN name = 'x' THEN amount END) AS s FROM dataset"],
    ];
    for (const [mode, q] of plain) {
      const v = validateSql(q, schema, { mode });
      if (!v.ok) throw new Error(`${q}: ${JSON.stringify(v.errors)}`);
      expect(compiles(v.normalized), v.normalized).to.equal(true);
      expect(compiles(v.plan.executed), v.plan.executed).to.equal(true);
    }
  });
});
