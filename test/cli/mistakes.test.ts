import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { sm2KeyPair, sm2PrivateKeyToPem } from '../../crypto/index.js';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { validateSql } from '../../query/validate.js';
import { ShuyuApiError } from '../../client-sdk/sdk/errors.js';
import { describeError } from '../../client-sdk/cli/errors.js';
import { CliUser, type TestServer, startTestServer } from './harness.js';

/**
 * Every documented command that talks to the server, given each class of mistake a person makes — a usage
 * error, an id that is not one, a server that is not there, a role that may not do it, an object that does
 * not exist — must answer with the README's exit code (2, 2, 3, 1, 1) and exactly one line on stderr that
 * says what went wrong in the user's words (no field paths such as `params.id`, no "about:blank"). One
 * real server; the commands run in-process (the harness's program from the same command modules).
 */

type Role = 'op' | 'owner' | 'buyer' | 'reviewer';
const ID = '{id}';
interface Case {
  args: string[];
  as: Role;
  /** a role the server refuses for this command */
  forbidden?: Role;
}

const NOT_FOUND = '01936a5e-7c1b-7c3e-9a51-3f0d2b8e4c10';
const NOT_AN_ID = 'not-an-id';

describe('shuyu CLI: each class of mistake on each documented command → the README exit code and one plain line', function () {
  this.timeout(180_000);
  let t: TestServer;
  let work: string;
  let closedUrl: string;
  const users = {} as Record<Role, CliUser>;
  const f = (name: string): string => join(work, name);
  let cases: Case[];

  before(async () => {
    t = await startTestServer({ enclave: true });
    work = mkdtempSync(join(tmpdir(), 'shuyu-mistakes-'));
    for (const r of ['op', 'owner', 'buyer', 'reviewer'] as const) users[r] = new CliUser(`mistakes-${r}`);
    await users.op.json(['login', '--bootstrap', t.bootstrapFile]);
    for (const role of ['owner', 'buyer', 'reviewer'] as const) {
      const org = await users.op.json(['admin', 'org', 'create', '--name', `${role} org`]);
      const u = await users.op.json(['admin', 'user', 'create', '--org', org.id, '--name', `${role}-1`, '--role', role]);
      await users[role].json(['login', '--url', t.url, '--token', u.token.token]);
    }
    // a port nothing listens on: taken from the kernel, then released
    closedUrl = await new Promise((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => res(`http://127.0.0.1:${port}`));
      });
    });
    const offer = {
      title: 'Trips', description: 'd', allowedKinds: ['aggregate'], allowedColumns: ['nights'],
      priceModel: { kind: 'per-row', fenPerThousandRows: 200, minimumFen: 100 }, platformFeeBps: 1000,
      terms: { purposes: ['tourism-planning'], validFrom: '2026-01-01T00:00:00.000Z', validUntil: '2030-12-31T23:59:59.000Z', queryQuotaPerBuyer: 10, destinations: ['CN'], minGroupSize: 5, epsilonPerQuery: 0, epsilonBudgetPerBuyer: 0, maxRowsPerPerson: 1, refusalAllowance: 3, refusalFeeBps: 10_000 },
    };
    writeFileSync(f('offer.json'), JSON.stringify(offer));
    writeFileSync(f('bad-policy.json'), JSON.stringify({ version: 'v-bad', rules: [{ id: 'NL-01', name: 'x', effect: 'maybe', when: {}, reason: { zh: '理由', en: 'reason' } }] }));
    writeFileSync(f('computation.json'), JSON.stringify({ kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [] }));
    writeFileSync(f('reviewer.pem'), sm2PrivateKeyToPem(sm2KeyPair().privateKey));
    writeFileSync(f('bad-schema.json'), JSON.stringify({
      sector: 'tourism',
      columns: [{ name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 }, { name: 'nights', type: 'integer', role: 'measure', level: 2, bounds: [0, 30] }],
    }));
    writeFileSync(f('trips.csv'), 'trip_id,nights\nT1,2\n');
    const purpose = ['--purpose', 'plan hotel capacity for next year', '--purpose-code', 'tourism-planning'];
    cases = [
      { args: ['whoami'], as: 'buyer' },
      { args: ['owner', 'datasets'], as: 'owner', forbidden: 'buyer' },
      { args: ['owner', 'uploads'], as: 'owner', forbidden: 'buyer' },
      { args: ['owner', 'offer', ID, '--file', f('offer.json')], as: 'owner', forbidden: 'buyer' },
      { args: ['owner', 'offers', ID], as: 'owner' },
      { args: ['owner', 'revise', ID, '--file', f('offer.json')], as: 'owner', forbidden: 'buyer' },
      { args: ['owner', 'withdraw', ID], as: 'owner', forbidden: 'buyer' },
      { args: ['owner', 'trades'], as: 'owner' },
      { args: ['owner', 'revenue'], as: 'owner' },
      { args: ['catalog'], as: 'buyer' },
      { args: ['catalog', 'show', ID], as: 'buyer' },
      { args: ['catalog', 'sample', ID], as: 'buyer' },
      { args: ['buyer', 'offers', ID], as: 'buyer' },
      { args: ['buyer', 'quote', ID, '--computation', f('computation.json'), ...purpose], as: 'buyer', forbidden: 'owner' },
      { args: ['buyer', 'request', ID, '--computation', f('computation.json'), ...purpose], as: 'buyer', forbidden: 'owner' },
      { args: ['buyer', 'trades'], as: 'buyer' },
      { args: ['buyer', 'trade', ID], as: 'buyer' },
      { args: ['buyer', 'cancel', ID, '--reason', 'plans changed'], as: 'buyer', forbidden: 'owner' },
      { args: ['buyer', 'result', ID, '--out', f('receipt.json')], as: 'buyer', forbidden: 'owner' },
      { args: ['buyer', 'wallet'], as: 'buyer' },
      { args: ['reviewer', 'queue'], as: 'reviewer', forbidden: 'buyer' },
      { args: ['reviewer', 'show', ID], as: 'reviewer', forbidden: 'buyer' },
      { args: ['reviewer', 'approve', ID, '--reason', 'fits the purpose', '--key', f('reviewer.pem')], as: 'reviewer', forbidden: 'buyer' },
      { args: ['reviewer', 'reject', ID, '--reason', 'does not fit'], as: 'reviewer', forbidden: 'buyer' },
      { args: ['audit', 'verify'], as: 'op', forbidden: 'buyer' },
      { args: ['audit', 'events'], as: 'op', forbidden: 'buyer' },
      { args: ['audit', 'checkpoint'], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'org', 'list'], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'user', 'list'], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'token', 'issue', ID], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'certify', ID], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'topup', ID, '--amount-fen', '100'], as: 'op', forbidden: 'buyer' },
      { args: ['admin', 'wallet', ID], as: 'op' },
      { args: ['admin', 'policy', 'show'], as: 'op' },
    ];
  });
  after(async () => {
    await t?.stop();
    for (const u of Object.values(users)) u.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  const fill = (args: string[], id: string): string[] => args.map((a) => (a === ID ? id : a));
  const oneLine = (stderr: string, what: string): string => {
    const lines = stderr.trimEnd().split('\n');
    expect(lines, `${what}: ${stderr}`).to.have.length(1);
    expect(stderr, what).to.not.match(/params\.|body\.|about:blank|TypeError|^\s+at /m);
    return lines[0]!;
  };

  it('usage: an unknown option → 2', async () => {
    for (const c of cases) {
      const what = `shuyu ${fill(c.args, NOT_FOUND).join(' ')} --no-such-option`;
      const r = await users[c.as].run([...fill(c.args, NOT_FOUND), '--no-such-option']);
      expect(r.code, what).to.equal(2);
      expect(oneLine(r.stderr, what), what).to.match(/unknown option '--no-such-option'/);
    }
  });

  it('invalid input: an id that is not one → 2, naming the argument', async () => {
    for (const c of cases.filter((x) => x.args.includes(ID))) {
      const what = `shuyu ${fill(c.args, NOT_AN_ID).join(' ')}`;
      const r = await users[c.as].run([...fill(c.args, NOT_AN_ID), '--json']);
      expect(r.code, `${what}: ${r.stderr}`).to.equal(2);
      expect(oneLine(r.stderr, what), what).to.match(/^shuyu: [a-z ]*id "not-an-id" is not a valid id/);
      expect(r.json.error, what).to.include.keys('type', 'title', 'status', 'detail');
    }
  });

  it('server unreachable → 3, saying which URL', async () => {
    for (const c of cases) {
      const what = `shuyu ${fill(c.args, NOT_FOUND).join(' ')} (no server)`;
      const r = await users[c.as].run(fill(c.args, NOT_FOUND), { SHUYU_URL: closedUrl, SHUYU_TOKEN: 'some-token' });
      expect(r.code, `${what}: ${r.stderr}`).to.equal(3);
      expect(oneLine(r.stderr, what), what).to.match(new RegExp(`^shuyu: cannot reach the server at ${closedUrl.replace(/\./g, '\\.')}`));
    }
  });

  it('forbidden: a role that may not → 1 (403)', async () => {
    for (const c of cases.filter((x) => x.forbidden)) {
      const what = `shuyu ${fill(c.args, NOT_FOUND).join(' ')} as ${c.forbidden}`;
      const r = await users[c.forbidden!].run([...fill(c.args, NOT_FOUND), '--json']);
      expect(r.code, `${what}: ${r.stderr}`).to.equal(1);
      expect(oneLine(r.stderr, what), what).to.match(/\(403 forbidden\)$|^shuyu: only (a reviewer|an operator) can /);
      expect(r.json.error.status, what).to.equal(403);
    }
  });

  it('not found: a well-formed id of nothing → 1 (404)', async () => {
    for (const c of cases.filter((x) => x.args.includes(ID))) {
      const what = `shuyu ${fill(c.args, NOT_FOUND).join(' ')}`;
      const r = await users[c.as].run([...fill(c.args, NOT_FOUND), '--json']);
      expect(r.code, `${what}: ${r.stderr}`).to.equal(1);
      expect(oneLine(r.stderr, what), what).to.match(/\(404 [a-z-]+\)$/);
      expect(r.json.error.status, what).to.equal(404);
    }
  });

  it("files: a malformed document names the file and its field; a schema's column by its name; a blank option by its name", async () => {
    const policy = await users.op.run(['admin', 'policy', 'publish', f('bad-policy.json')]);
    const line = oneLine(policy.stderr, 'bad policy');
    expect(policy.code, line).to.equal(2);
    expect(line).to.match(new RegExp(`^shuyu: ${f('bad-policy.json').replace(/[.]/g, '\\.')}: (policyId is missing|rule "NL-01" kind must be one of)`));
    const org = await users.op.run(['admin', 'org', 'create', '--name', ' ']);
    expect(org.code).to.equal(2);
    expect(oneLine(org.stderr, 'blank name')).to.match(/^shuyu: --name must not be empty/);
    const schema = await users.owner.run(['owner', 'check', f('trips.csv'), '--schema', f('bad-schema.json')]);
    expect(schema.code).to.equal(2);
    expect(oneLine(schema.stderr, 'bad schema')).to.match(/column "nights" type /);
  });

  it('terminal: control characters in a CSV cell or a file name reach the terminal as escapes, never as control codes', async () => {
    writeFileSync(f('schema.json'), JSON.stringify({ sector: 'tourism', columns: [{ name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 }, { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] }] }));
    writeFileSync(f('esc.csv'), 'trip_id,nights\nT1,\u001b[2J\u001b]0;pwned\u0007\nT2,\u202e03\n');
    const check = await users.owner.run(['owner', 'check', f('esc.csv'), '--schema', f('schema.json')]);
    expect(check.code).to.equal(1);
    expect(check.stdout).to.include('\\u001b[2J').and.include('\\u202e');
    const missing = await users.owner.run(['owner', 'check', f('gone\u001b[31m.csv'), '--schema', f('schema.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('gone\\u001b[31m.csv');
    for (const r of [check, missing]) expect(r.stdout + r.stderr).to.not.match(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  it('SQL: a misspelt keyword is a syntax error (2), not a refused statement', () => {
    const schema = DatasetSchema.parse({ sector: 'tourism', columns: [{ name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 }, { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] }] });
    const v = validateSql('SELEC COUNT(*) FROM data', schema, { mode: 'exact' } as never);
    expect(v.ok).to.equal(false);
    // the problem the server sends for it (server/trade/columns.ts)
    const e = new ShuyuApiError(422, 'https://shuyu.local/problems/sql-refused', 'SQL refused', 'statement: …', { errors: (v as { errors: unknown[] }).errors });
    const d = describeError(e, { options: { computation: 'q.json' } });
    expect(d.code).to.equal(2);
    expect(d.line).to.match(/^SQL syntax error in q\.json: "SELEC" does not start a SQL statement \(did you mean SELECT\?\)/);
    const refused = describeError(new ShuyuApiError(422, 'https://shuyu.local/problems/sql-refused', 'SQL refused', 'only SELECT', { errors: [{ clause: 'statement', rule: 'select-only', message: 'only a single SELECT is allowed; DELETE statements are refused (no PRAGMA, ATTACH, WITH, writes)' }] }));
    expect(refused.code).to.equal(1);
  });
});
