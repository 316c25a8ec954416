import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { openEnclaveState } from '../../../enclave/state/state.js';
import { answerVerify, checkVerifyComputation, verifyQuery } from '../../../enclave/verify/verify.js';
import { assertCanRun } from '../../../contracts/pricing/feasibility.js';
import { VerifyCallLog } from '../../../enclave/verify/calls.js';
import { isDomainError } from '../../../contracts/errors.js';
import { makeRows, newKeys, schema, sealRows } from '../sql/fixture.js';
import { runSqlInSandbox } from '../../../enclave/sandbox/sandbox.js';

describe('query-verification (核验)', function () {
  this.timeout(60_000);
  const rows = makeRows(300);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 300);
  const ask = (match: Record<string, string>, perAttribute = false) =>
    answerVerify({ computation: { kind: 'verify', match, perAttribute }, schema, chunks, unwrapPrivateKey: keys.privateKey });
  const [pid, region, channel, , , name] = rows[10]! as string[];

  it('answers yes/no and per-attribute flags for the identifier\'s record — nothing else', async () => {
    const yes = await ask({ person_id: pid!, region: region!, name: name! }, true);
    expect(yes).to.deep.equal({ kind: 'verify', match: true, perAttribute: { region: true, name: true } });
    const partly = await ask({ person_id: pid!, region: region === 'north' ? 'south' : 'north', channel: channel! }, true);
    expect(partly).to.deep.equal({ kind: 'verify', match: false, perAttribute: { region: false, channel: true } });
    expect(await ask({ person_id: 'P999999' })).to.deep.equal({ kind: 'verify', match: false });
    expect(await ask({ person_id: pid!, name: name! })).to.deep.equal({ kind: 'verify', match: true });
  });

  it('loads only the rows of the identifier it names, and answers what the whole table answers', async () => {
    // identifiers as strings (some with two rows), 32-bit integers, other numbers, non-ASCII and empty text
    const odd = [...rows.slice(0, 60), ['张三', 'north', 'web', 1, 1, '甲'], ['', 'south', 'shop', 1, 1, 'e'], ['张三', 'east', 'web', 1, 1, '乙']];
    // 0.1 + 0.2 and 3e9 are stored by SQLite as the text '0.3' and '3000000000.0': SQLite decides those
    const numeric = [...Array.from({ length: 40 }, (_, i) => [i % 2 ? 1000 + i : 0.5 + i, 'west', 'web', 1, 1, `n${i}`]), [0.1 + 0.2, 'west', 'web', 1, 1, 'z'], [3e9, 'west', 'web', 1, 1, 'y']];
    const mixed = [...sealRows(odd, keys.publicKey, 20), ...sealRows(numeric, keys.publicKey, 20)];
    const asks: Record<string, string>[] = [
      ...odd.slice(0, 12).map((r) => ({ person_id: String(r[0]), region: String(r[1]) })),
      { person_id: '张三', name: '乙' }, { person_id: '张三', region: 'south' }, { person_id: '', channel: 'shop' },
      { person_id: '1001', name: 'n1' }, { person_id: '1001', name: 'n2' }, { person_id: '2.5', name: 'n2' }, { person_id: '0.5', name: 'n0' }, { person_id: 'P0', region: 'north' },
      { person_id: '0.3', name: 'z' }, { person_id: '3000000000.0', name: 'y' },
    ];
    let matched = 0;
    for (const match of asks) {
      const c = { kind: 'verify' as const, match, perAttribute: true };
      const q = verifyQuery(c, schema);
      const base = { schema, chunks: mixed, unwrapPrivateKey: keys.privateKey, plan: { executed: q.sql, groupBy: [], aggregates: 0, hidden: [] }, params: q.params, columns: Object.keys(match) };
      const whole = await runSqlInSandbox(base);
      const answer = await answerVerify({ computation: c, schema, chunks: mixed, unwrapPrivateKey: keys.privateKey });
      expect(answer.match, JSON.stringify(match)).to.equal(whole.rows[0]![0] === 1);
      expect(Object.values(answer.perAttribute!), JSON.stringify(match)).to.deep.equal(whole.rows[0]!.slice(1).map((x) => x === 1));
      if (answer.match) matched++;
    }
    expect(matched).to.be.greaterThan(14);
    // the table holds one record's rows: SQLite's memory does not follow the dataset
    const many = makeRows(100_000).map((r, i) => [...r.slice(0, 5), `${'a long name to fill pages '.repeat(8)}${i}`]);
    const big = sealRows(many, keys.publicKey, 10_000);
    const c = { kind: 'verify' as const, match: { person_id: String(many[77_777]![0]), name: String(many[77_777]![5]) }, perAttribute: false };
    const q = verifyQuery(c, schema);
    const input = { schema, chunks: big, unwrapPrivateKey: keys.privateKey, plan: { executed: q.sql, groupBy: [], aggregates: 0, hidden: [] }, params: q.params, columns: Object.keys(c.match) };
    const looked = await runSqlInSandbox({ ...input, lookup: { column: 'person_id', text: c.match.person_id } });
    const whole = await runSqlInSandbox(input);
    expect(looked.rows).to.deep.equal([[1]]);
    expect(whole.rows).to.deep.equal([[1]]);
    expect(looked.stats.wasmMemoryBytes!, `${looked.stats.wasmMemoryBytes} against ${whole.stats.wasmMemoryBytes}`).to.be.below(whole.stats.wasmMemoryBytes! / 2);
  });

  it('binds the buyer\'s values as parameters (an injection attempt is just a value that does not match)', async () => {
    const q = verifyQuery({ kind: 'verify', match: { person_id: pid!, name: "x' OR 1=1 --" }, perAttribute: false }, schema);
    expect(q.sql).to.not.contain('OR 1=1');
    expect(q.params).to.deep.equal([pid!, "x' OR 1=1 --"]);
    expect(await ask({ person_id: pid!, name: "x' OR 1=1 --" })).to.deep.equal({ kind: 'verify', match: false });
  });

  it('refuses measures, unknown columns, and per-attribute flags without an identifier', async () => {
    for (const [match, per] of [[{ amount: '10' }, false], [{ nosuch: 'x' }, false], [{ name: 'x', region: 'north' }, true], [{}, false]] as const) {
      let err: unknown;
      try {
        await ask(match as Record<string, string>, per);
      } catch (e) {
        err = e;
      }
      expect(isDomainError(err) && err.type, JSON.stringify(match)).to.equal('verify-refused');
    }
  });

  it('refuses a match that does not name the identifier: no cell-emptiness oracle without k', async () => {
    const refusal = async (match: Record<string, string>, s = schema) => {
      try {
        await answerVerify({ computation: { kind: 'verify', match, perAttribute: false }, schema: s, chunks, unwrapPrivateKey: keys.privateKey });
        return 'answered';
      } catch (e) {
        return isDomainError(e) ? `${e.type}: ${e.message}` : String(e);
      }
    };
    // a cell of dimensions (and an attribute) alone is refused, however many rows it holds
    expect(await refusal({ region: region!, channel: channel! })).to.match(/^verify-refused: .*identifier "person_id"/);
    expect(await refusal({ name: name! })).to.match(/^verify-refused: .*identifier "person_id"/);
    expect(() => verifyQuery({ kind: 'verify', match: { region: 'north' }, perAttribute: false }, schema)).to.throw(/identifier/);
    // a schema without an identifier cannot be verified at all
    const anonymous = { ...schema, columns: schema.columns.filter((c) => c.role !== 'identifier') };
    expect(await refusal({ region: region!, channel: channel! }, anonymous)).to.match(/^verify-refused: this dataset has no identifier column/);
    // the same shapes agree with the quote's check (one implementation)
    for (const [match, s] of [[{ region: 'north' }, schema], [{ region: 'north' }, anonymous], [{ person_id: 'P1', region: 'north' }, schema]] as const) {
      const quoted = (() => {
        try {
          assertCanRun({ offer: { terms: { epsilonPerQuery: 0 } as never }, schema: s, computation: { kind: 'verify', match, perAttribute: false } });
          return 'ok';
        } catch (e) {
          return isDomainError(e) ? `${e.type}: ${e.message}` : String(e);
        }
      })();
      const enclave = (() => {
        try {
          checkVerifyComputation({ kind: 'verify', match, perAttribute: false }, s);
          return 'ok';
        } catch (e) {
          return isDomainError(e) ? `${e.type}: ${e.message}` : String(e);
        }
      })();
      expect(quoted, JSON.stringify(match)).to.equal(enclave);
    }
  });

  it('records every call and rate-limits per buyer and dataset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-verify-'));
    const state = await openEnclaveState({ location: join(dir, 'p.sqlite') });
    try {
      const log = new VerifyCallLog(state.store);
      const t0 = new Date('2026-01-01T00:00:00Z');
      const limit = { maxCalls: 3, windowMs: 60_000 };
      const call = (buyer: string, ms: number) => log.admit({ tradeId: `t-${ms}`, buyerOrgId: buyer, datasetId: 'ds', columns: ['person_id'], now: new Date(t0.getTime() + ms), limit });
      await call('b1', 0);
      await call('b1', 1000);
      await call('b1', 2000);
      expect(await call('b1', 3000).then(() => 'ok', (e: unknown) => (isDomainError(e) ? e.type : 'other'))).to.equal('verify-rate-limited');
      await call('b2', 3000); // another buyer has its own allowance
      await call('b1', 61_000); // the window slid past the first call
      const calls = await log.calls('b1', 'ds');
      expect(calls.map((c) => c.outcome)).to.deep.equal(['answered', 'answered', 'answered', 'rate-limited', 'answered']);
      expect(calls[0]!.columns).to.deep.equal(['person_id']);
    } finally {
      await state.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
