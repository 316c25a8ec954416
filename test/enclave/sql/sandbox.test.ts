import { expect } from 'chai';
import type Database from 'better-sqlite3';
import { asPrivacyRefusal, runSqlComputation } from '../../../enclave/sql/run.js';
import { validateSql } from '../../../query/validate.js';
import { runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { DomainError, isDomainError } from '../../../contracts/errors.js';
import { makeRows, newKeys, referenceDb, schema, sealRows } from './fixture.js';

const EXACT = { minGroupSize: 1, mode: 'exact-for-tests' as const };

async function refusal(p: Promise<unknown>): Promise<{ type: string; message: string; detail: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (isDomainError(e)) return { type: e.type, message: e.message, detail: e.detail };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('SQL sandbox: results equal SQLite on the plaintext (gate in exact mode)', function () {
  this.timeout(90_000);
  const rows = makeRows(2_500);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 600);
  let ref: Database.Database;
  before(() => {
    ref = referenceDb(rows);
  });
  after(() => ref.close());

  const QUERIES = [
    'SELECT COUNT(*) AS n, SUM(amount) AS total, AVG(nights) AS nights, COUNT(amount) AS with_amount FROM dataset',
    "SELECT region, channel, COUNT(*) AS n, SUM(amount) AS total, TOTAL(nights) AS t FROM dataset WHERE region IN ('north', 'south', 'east') GROUP BY region, channel ORDER BY region, channel",
    "SELECT region, SUM(CASE WHEN channel = 'web' THEN amount END) AS web_total, COUNT(CASE WHEN region = 'north' OR channel = 'shop' THEN 1 END) AS c, AVG(CASE WHEN channel != 'shop' THEN nights END) AS web_nights, ROUND(AVG(amount), 2) AS avg2, SUM(amount) / COUNT(*) AS per_row FROM dataset WHERE NOT channel = 'shop' GROUP BY region",
    "SELECT channel, SUM(amount) AS s FROM dataset WHERE region = 'north' AND region = 'south' GROUP BY channel",
  ];

  for (const q of QUERIES) {
    it(q, async () => {
      const v = validateSql(q, schema, { mode: 'exact' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      const got = await runSqlComputation({ query: q, schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT, approvedHash: v.hash });
      const want = ref.prepare(v.normalized).all() as Record<string, number | string | null>[];
      expect(got.groups.length).to.equal(want.length);
      expect(got.outputs).to.deep.equal(Object.keys(want[0] ?? Object.fromEntries(got.outputs.map((o) => [o, null]))));
      got.groups.forEach((g, i) => {
        for (const name of got.outputs) {
          const a = g.values[name];
          const b = want[i]![name];
          if (typeof a === 'number' && typeof b === 'number') expect(a, name).to.be.closeTo(b, Math.abs(b) * 1e-12 + 1e-9);
          else expect(a, name).to.equal(b);
        }
      });
      expect(got.privacy.mechanism).to.equal('none (exact-for-tests)');
      expect(got.stats.rowsLoaded).to.equal(rows.length);
      expect(got.queryHash).to.equal(v.hash);
    });
  }

  it('the ungrouped query over no rows is withheld by the minimum group size, not released as zero', async () => {
    const got = await runSqlComputation({ query: "SELECT COUNT(*) AS n, SUM(amount) AS s FROM dataset WHERE region = 'north' AND region = 'south'", schema, chunks, unwrapPrivateKey: keys.privateKey, policy: { minGroupSize: 1 } });
    expect(got.groups).to.deep.equal([]); // absent, like an empty group: a withheld key is never listed
    expect(got).to.not.have.property('suppressed');
  });

  it('counts k on distinct people, not rows', async () => {
    // people P000000..: ids repeat (0.9 × row), so the 'north' rows of one person count once
    const got = await runSqlComputation({ query: 'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: { minGroupSize: 1, mode: 'exact-for-tests' } });
    const want = ref.prepare('SELECT region, COUNT(DISTINCT person_id) AS p FROM dataset GROUP BY region').all() as { region: string; p: number }[];
    const k = Math.max(...want.map((w) => w.p)); // only the biggest group by people survives
    const gated = await runSqlComputation({ query: 'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: { minGroupSize: k, mode: 'exact-for-tests' } });
    expect(gated.privacy.basis).to.equal('subjects');
    expect(gated.groups.map((g) => g.key[0])).to.deep.equal(want.filter((w) => w.p >= k).map((w) => w.region));
    expect(got.groups.length).to.equal(want.length);
  });

  it('decides k from row counts only when that equals the decision on exact distinct-identifier counts', async () => {
    const q = "SELECT region, channel, COUNT(*) AS n FROM dataset WHERE channel = 'web' OR region = 'north' GROUP BY region, channel";
    const v = validateSql(q, schema, { mode: 'exact' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const people = ref.prepare(`SELECT region, channel, COUNT(DISTINCT person_id) AS p, COUNT(*) AS n FROM dataset WHERE channel = 'web' OR region = 'north' GROUP BY region, channel`).all() as { p: number; n: number }[];
    const seen = new Set<string>();
    // k values below, between and above the groups' sizes: bounds decide some runs, exact counts the others
    for (const k of [1, 2, Math.min(...people.map((x) => x.n)), Math.floor(people[0]!.n / 2) + 1, people[0]!.p, people[0]!.p + 1, Math.max(...people.map((x) => x.n)) + 1]) {
      const out = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], minGroupSize: k });
      seen.add(out.stats.subjectsCount!);
      const subj = out.columns.indexOf('__subjects');
      expect(out.rows.map((r) => Number(r[subj]) >= k), `k=${k}`).to.deep.equal(people.map((x) => x.p >= k));
      if (out.stats.subjectsCount === 'exact') expect(out.rows.map((r) => r[subj])).to.deep.equal(people.map((x) => x.p));
    }
    expect([...seen].sort()).to.deep.equal(['bound', 'exact']);
  });

  it('opens chunks the same in the worker, in one helper thread or in two (results, rows, errors)', async () => {
    const v = validateSql('SELECT region, channel, COUNT(*) AS n, SUM(amount) AS s, AVG(nights) AS a FROM dataset GROUP BY region, channel', schema, { mode: 'exact' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const tampered = chunks.map((c) => ({ ...c }));
    const box = Uint8Array.from(tampered[2]!.sealed.box);
    box[10]! ^= 1;
    tampered[2] = { sealed: { ...tampered[2]!.sealed, box }, aad: tampered[2]!.aad };
    const results: unknown[] = [];
    for (const unsealThreads of [0, 1, 2]) {
      const out = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: [...v.columnsUsed, 'person_id'], unsealThreads });
      expect(out.stats.rowsLoaded).to.equal(rows.length);
      expect(out.stats.unsealThread).to.equal(unsealThreads === 0 ? 'worker' : 'helper');
      results.push(out.rows);
      const bad = await refusal(runSqlInSandbox({ schema, chunks: tampered, unwrapPrivateKey: keys.privateKey, plan: v.plan, unsealThreads }));
      expect(bad.type).to.equal('row-chunk-invalid');
      expect(bad.message).to.match(/row chunk 2 /);
    }
    expect(results[1]).to.deep.equal(results[0]);
    expect(results[2]).to.deep.equal(results[0]);
  });

  it('refuses a query that fails the rules, naming them, before anything is unsealed', async () => {
    const r = await refusal(runSqlComputation({ query: 'SELECT MIN(person_id) FROM dataset', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT }));
    // naming the identifier breaks the language before MIN's own privacy rule; both are named
    expect(r.type).to.equal('sql-refused');
    expect(r.message).to.contain('identifier-column');
  });

  it('refuses a query that is not the approved one', async () => {
    const r = await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT, approvedHash: '0'.repeat(64) }));
    expect(r.type).to.equal('computation-hash-mismatch');
  });

  it('refuses exact MIN/MAX (one person\'s value) and row-level arithmetic unless the release is differentially private', async () => {
    for (const [query, rule] of [
      ['SELECT MAX(amount) FROM dataset', 'privacy-order-statistic-needs-dp'],
      ['SELECT SUM(amount*(1-COALESCE((nights-7)/(nights-7),0))) AS v, SUM(1-COALESCE((nights-7)/(nights-7),0)) AS n FROM dataset', 'exact-row-expression'],
      ['SELECT SUM(CASE WHEN nights = 7 THEN amount END) AS v FROM dataset', 'exact-condition-column'],
    ]) {
      for (const policy of [{ minGroupSize: 5 }, EXACT]) {
        const r = await refusal(runSqlComputation({ query: query!, schema, chunks, unwrapPrivateKey: keys.privateKey, policy }));
        // the type the quote gives too: a privacy rule's own type where one fired, else sql-refused
        expect(r.type).to.equal(rule === 'privacy-order-statistic-needs-dp' ? rule : 'sql-refused');
        expect((r.detail.errors as { rule: string }[]).map((e) => e.rule)).to.include(rule);
      }
    }
  });

  it('a tampered chunk, a chunk from another position, or the wrong key is a typed error', async () => {
    const tampered = chunks.map((c) => ({ ...c }));
    const box = Uint8Array.from(tampered[1]!.sealed.box);
    box[box.length - 40]! ^= 1;
    tampered[1] = { sealed: { ...tampered[1]!.sealed, box }, aad: tampered[1]!.aad };
    expect((await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks: tampered, unwrapPrivateKey: keys.privateKey, policy: EXACT }))).type).to.equal('row-chunk-invalid');
    const swapped = [chunks[1]!, chunks[0]!, ...chunks.slice(2)].map((c, i) => ({ sealed: c.sealed, aad: chunks[i]!.aad }));
    expect((await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks: swapped, unwrapPrivateKey: keys.privateKey, policy: EXACT }))).type).to.equal('row-chunk-invalid');
    expect((await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks, unwrapPrivateKey: newKeys().privateKey, policy: EXACT }))).type).to.equal('row-chunk-invalid');
  });

  it('stops the worker at the wall-time limit and at the SQLite memory limit', async () => {
    expect((await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT, limits: { timeoutMs: 5 } }))).type).to.equal('sql-timeout');
    // at start-up, while loading, and in the query: each a resource-limit refusal that says what to do
    for (const mb of [0.05, 0.2, 0.3]) {
      const r = await refusal(runSqlComputation({ query: 'SELECT region, COUNT(*) FROM dataset GROUP BY region', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT, limits: { maxSqliteHeapMb: mb } }));
      expect(r.type, `${mb} MB`).to.equal('sql-resource-limit');
      expect(r.message).to.match(/memory limit/i);
    }
  });

  it('an error while the query runs over the rows is a generic execution failure, a privacy refusal for the release', async () => {
    // a plan whose executed text raises only on some data (the validator never builds one: cannot-raise.test.ts)
    const v = validateSql("SELECT region, COUNT(*) AS n FROM dataset GROUP BY region", schema, { mode: 'exact' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const raising = v.plan.executed.replace('COUNT(*) AS "n"', 'ABS(COUNT(*) - COUNT(*) - 9223372036854775807 - 1) AS "n"');
    expect(raising).to.not.equal(v.plan.executed);
    let caught: unknown;
    try {
      await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: { ...v.plan, executed: raising }, columns: [...v.columnsUsed, 'person_id'] });
    } catch (e) {
      caught = e;
    }
    expect(isDomainError(caught) && caught.type, String(caught)).to.equal('sql-execution-failed');
    expect((caught as Error).message, "SQLite's text never leaves the sandbox").to.not.match(/overflow|integer|ABS/i);
    const refused = asPrivacyRefusal(caught);
    expect(isDomainError(refused) && refused.type).to.equal('privacy-execution-refused');
    expect((refused as Error).message).to.not.match(/overflow/i);
    // resource limits and other failures keep their own types
    const limit = await refusal(runSqlComputation({ query: 'SELECT COUNT(*) FROM dataset', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT, limits: { timeoutMs: 5 } }));
    expect(limit.type).to.equal('sql-timeout');
    const invalid = new DomainError('row-chunk-invalid', 'x');
    expect(asPrivacyRefusal(invalid)).to.equal(invalid);
  });

  it('the worker sees an empty environment', async () => {
    process.env.SHUYU_MASTER_SECRET_CANARY = 'must-not-be-visible';
    try {
      const got = await runSqlComputation({ query: 'SELECT COUNT(*) AS n FROM dataset', schema, chunks, unwrapPrivateKey: keys.privateKey, policy: EXACT });
      expect(got.stats.envKeys).to.equal(0);
    } finally {
      delete process.env.SHUYU_MASTER_SECRET_CANARY;
    }
  });
});

describe('SQL sandbox: DP runs cap rows per person and clamp in the executed SQL', function () {
  this.timeout(90_000);
  // people P000000..: ids repeat (0.9 × row), so some people have two rows; the first 300 rows are 100 people of three
  const rows = makeRows(1_500, 11).map((r, i) => (i < 300 ? [`Q${Math.floor(i / 3)}`, ...r.slice(1)] : r));
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 400);
  let ref: Database.Database;
  before(() => {
    ref = referenceDb(rows);
  });
  after(() => ref.close());

  const q = "SELECT region, COUNT(*) AS n, SUM(amount) AS s, AVG(CASE WHEN channel = 'web' THEN nights END) AS a FROM dataset GROUP BY region";

  for (const m of [1, 2]) {
    it(`keeps the first ${m} row(s) of each person, in dataset order, before the query runs`, async () => {
      const v = validateSql(q, schema, { mode: 'dp' });
      if (!v.ok) throw new Error(JSON.stringify(v.errors));
      const out = await runSqlInSandbox({ schema, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: m });
      const capped = `(SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY __row) AS rn FROM dataset) WHERE rn <= ${m})`;
      const want = ref.prepare(v.plan.executed.replace('FROM "dataset"', `FROM ${capped}`) + ' ORDER BY region').raw().all() as unknown[][];
      const dropped = (ref.prepare(`SELECT COUNT(*) AS d FROM (SELECT ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY __row) AS rn FROM dataset) WHERE rn > ${m}`).get() as { d: number }).d;
      expect(dropped).to.be.greaterThan(0);
      expect(out.stats.rowsCapped).to.equal(dropped);
      expect(out.stats.rowsLoaded).to.equal(rows.length);
      const sorted = [...out.rows].sort((x, y) => String(x[0]).localeCompare(String(y[0])));
      expect(sorted.length).to.equal(want.length);
      sorted.forEach((r, i) => r.forEach((x, j) => (typeof x === 'number' ? expect(x).to.be.closeTo(want[i]![j] as number, 1e-6) : expect(x).to.equal(want[i]![j]))));
      expect(out.columns).to.include.members(['__s2', '__c2']); // the mean's parts over the rows its CASE selects
      expect(out.columns).to.not.include('__subjects');
    });
  }

  it('without an identifier every row is a person: nothing is dropped', async () => {
    const noId = { ...schema, columns: schema.columns.map((c) => (c.role === 'identifier' ? { ...c, type: 'text' as const, role: 'attribute' as const } : c)) };
    const v = validateSql(q, noId, { mode: 'dp' });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const out = await runSqlInSandbox({ schema: noId, chunks, unwrapPrivateKey: keys.privateKey, plan: v.plan, columns: v.columnsUsed, maxRowsPerPerson: 1 });
    expect(out.stats.rowsCapped).to.equal(0);
    const n = out.rows.reduce((acc, r) => acc + Number(r[out.columns.indexOf('n')]), 0);
    expect(n).to.equal(rows.length);
  });

  it('a DP release answers every key of the public domain with the outputs only (no hidden parts, no exact sizes)', async () => {
    const policy = { minGroupSize: 5, dp: { epsilon: 1 }, maxRowsPerPerson: 1 };
    const got = await runSqlComputation({ query: "SELECT region, COUNT(*) AS n, AVG(amount) AS a FROM dataset WHERE channel = 'web' GROUP BY region", schema, chunks, unwrapPrivateKey: keys.privateKey, policy });
    expect(got.groups.map((g) => g.key)).to.deep.equal([['north'], ['south'], ['east'], ['west']]);
    for (const g of got.groups) {
      expect(Object.keys(g.values).sort()).to.deep.equal(['a', 'n', 'region']);
      expect(g.values.n).to.be.a('number');
      expect(g.values.a).to.be.a('number');
    }
    // the DP language is the one checked: a range on a measure runs, a range on text does not
    const r = await refusal(runSqlComputation({ query: "SELECT COUNT(CASE WHEN name >= 'name-5' THEN 1 END) AS c FROM dataset", schema, chunks, unwrapPrivateKey: keys.privateKey, policy }));
    expect((r.detail.errors as { rule: string }[]).map((e) => e.rule)).to.deep.equal(['dp-text-range']);
  });
});
