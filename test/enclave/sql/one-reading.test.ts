import { expect } from 'chai';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import NodeSqlParser from 'node-sql-parser';
import { DatasetSchema } from '../../../contracts/dataset/schema.js';
import { validateSql } from '../../../query/validate.js';
import { schema } from './fixture.js';

/**
 * One reading of the SQL: for every query the validator accepts, the string literals SQLite compiles (the
 * String8 operands of its own EXPLAIN program) are exactly the literals the checked parse tree holds. A text
 * the two tokenise differently — e.g. `'x\' OR nights = 77 OR name = \'y'`, one literal to node-sql-parser and
 * a literal, an OR and more to SQLite — fails this property unless the validator refuses it.
 */
const parser = new NodeSqlParser.Parser();

function parserLiterals(sql: string): string[] {
  const out: string[] = [];
  const walk = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    const node = n as { type?: string; value?: unknown };
    if (node.type === 'single_quote_string' && typeof node.value === 'string') out.push(node.value.replaceAll("''", "'"));
    for (const v of Object.values(n)) walk(v);
  };
  walk(parser.astify(sql, { database: 'sqlite' }));
  return [...new Set(out)].sort();
}

function sqliteLiterals(db: Database.Database, sql: string): string[] {
  const program = db.prepare(`EXPLAIN ${sql}`).all() as { opcode: string; p4: unknown }[];
  return [...new Set(program.filter((op) => op.opcode === 'String8').map((op) => String(op.p4)))].sort();
}

describe('SQL validator: the tokens SQLite runs are the ones checked', () => {
  let db: Database.Database;
  before(() => {
    db = new Database(':memory:');
    db.exec('CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)');
  });
  after(() => db.close());

  const check = (q: string, mode: 'exact' | 'dp', s = schema): boolean => {
    const v = validateSql(q, s, { mode });
    if (!v.ok) return false;
    const want = parserLiterals(v.normalized);
    for (const sql of [v.normalized, v.plan.executed]) expect(sqliteLiterals(db, sql), `${q}\n→ ${sql}`).to.deep.equal(want);
    return true;
  };

  it('the backslash example is refused (it is read differently)', () => {
    expect(check("SELECT COUNT(CASE WHEN name = 'x\\' OR nights = 77 OR name = \\'y' THEN 1 END) AS c FROM dataset", 'dp')).to.equal(false);
    expect(check("SELECT COUNT(CASE WHEN name = 'a\\' OR name = 'b' THEN 1 END) AS c FROM dataset", 'dp')).to.equal(false);
  });

  it('literals with doubled quotes, non-ASCII text and declared values with quotes read the same (fast-check)', () => {
    const fragments = ['a', 'b', '7', ' ', "'", "''", '\\', "\\'", '"', ' OR ', ' OR nights > 3 OR name = ', '--', '/*', ';', ')', '(', '中文', 'é', '\u0000', '\n', '\t', '\u202e', '\u00a0', '%', '_'];
    const literal = fc.array(fc.constantFrom(...fragments), { maxLength: 8 }).map((p) => p.join(''));
    let accepted = 0;
    fc.assert(
      fc.property(literal, literal, (a, b) => {
        if (check(`SELECT COUNT(CASE WHEN name = '${a}' OR name IN ('${b}', 'z') THEN 1 END) AS c FROM dataset WHERE region != 'west'`, 'dp')) accepted++;
      }),
      { numRuns: 600 },
    );
    expect(accepted).to.be.greaterThan(50); // the property was exercised on accepted queries, not only refusals
    const quoted = DatasetSchema.parse({
      sector: 'tourism',
      columns: [
        { name: 'region', type: 'category', role: 'dimension', level: 1, values: ["O'Brien", '北京', 'west'] },
        { name: 'amount', type: 'int', role: 'measure', level: 1, bounds: [0, 10] },
      ],
    });
    expect(check("SELECT region, SUM(amount) AS s FROM dataset WHERE region IN ('O''Brien', '北京') GROUP BY region", 'exact', quoted)).to.equal(true);
  });
});
