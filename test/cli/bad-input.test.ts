import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { sm2KeyPair, sm2PrivateKeyToPem, sm2PublicKeyToPem, sm2Sign } from '../../crypto/index.js';
import { CliUser, type TestServer, startTestServer } from './harness.js';

/**
 * Every `shuyu` command that takes a path, given each kind of bad input — a directory, a missing file, a file
 * that cannot be opened, a path through a file, a file with a NUL byte, one that is not UTF-8, an empty one — and
 * the other commands given bad arguments: the exit code the README's table gives (2 usage: a path that cannot be
 * used or a malformed input file; 1: a CSV that fails its check, an invalid signature or receipt), at most one
 * line on stderr, never a stack trace, and no temporary bundle or output directory left behind. In-process (the
 * harness's program from the same command modules), against one real server for the commands that need one.
 */

type Kind = 'dir' | 'missing' | 'unreadable' | 'under-a-file' | 'nul' | 'not-utf8' | 'empty';
const KINDS: Kind[] = ['dir', 'missing', 'unreadable', 'under-a-file', 'nul', 'not-utf8', 'empty'];
const PATH_KINDS: Kind[] = ['dir', 'missing', 'unreadable', 'under-a-file'];

/** What a path is to its command, and so the exit code each kind of input gets (undefined: a valid input there, not run). */
type Role = 'csv' | 'json' | 'key' | 'data' | 'signed' | 'receipt' | 'secret' | 'out-file' | 'out-dir';
const EXPECT: Record<Role, Partial<Record<Kind, number>>> = {
  // the CSV's content is checked: a failed check is 1
  csv: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 1, 'not-utf8': 1, empty: 1 },
  // schemas, offers, computations, policies, bootstrap files, PEM keys, secrets: a malformed file is a usage error
  json: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 2, 'not-utf8': 2, empty: 2 },
  key: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 2, 'not-utf8': 2, empty: 2 },
  secret: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 2, 'not-utf8': 2, empty: 2 },
  // bytes to hash or sign: any content is data
  data: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 0, 'not-utf8': 0, empty: 0 },
  // a signed file or a signature, a receipt: other bytes are an invalid signature or receipt
  signed: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 1, 'not-utf8': 1, empty: 1 },
  receipt: { dir: 2, missing: 2, unreadable: 2, 'under-a-file': 2, nul: 1, 'not-utf8': 1, empty: 1 },
  // where output goes: a directory (or a path that cannot be one) for a file, a file for a directory
  'out-file': { dir: 2, unreadable: 2, 'under-a-file': 2 },
  'out-dir': { unreadable: 2, 'under-a-file': 2, nul: 2, 'not-utf8': 2, empty: 2 },
};

describe('shuyu CLI: bad paths and bad input files are one-line errors with the README exit codes', function () {
  this.timeout(180_000);
  let t: TestServer;
  let root: string;
  const user = new CliUser('bad-input');
  const p = (...parts: string[]) => join(root, ...parts);
  let runTmp: string;
  const inputs = {} as Record<Kind, string>;
  let outNo = 0;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'shuyu-bad-input-'));
    runTmp = p('tmp');
    mkdirSync(runTmp);
    mkdirSync(p('a-directory'));
    writeFileSync(p('plain-file'), 'x');
    // as root a mode-000 file still opens; a symbolic link to itself fails for everyone (ELOOP)
    symlinkSync(p('loop'), p('loop'));
    if (process.getuid?.() !== 0) {
      writeFileSync(p('mode-000.csv'), 'a\n1\n');
      chmodSync(p('mode-000.csv'), 0);
    }
    Object.assign(inputs, {
      dir: p('a-directory'),
      missing: p('missing.csv'),
      unreadable: process.getuid?.() !== 0 ? p('mode-000.csv') : p('loop'),
      'under-a-file': p('plain-file', 'x.csv'),
      nul: p('nul.csv'),
      'not-utf8': p('not-utf8.csv'),
      empty: p('empty.csv'),
    });
    // the content cases are CSVs that match the schema but for their bytes, so the check reaches them
    writeFileSync(inputs.nul, 'trip_id,nights\nT1,2\nT\u00002,3\n');
    writeFileSync(inputs['not-utf8'], Buffer.concat([Buffer.from('trip_id,nights\nT1,2\nT'), Buffer.of(0xc3, 0x28), Buffer.from(',3\n')]));
    writeFileSync(inputs.empty, '');
    writeFileSync(p('good.csv'), 'trip_id,nights\nT1,2\nT2,3\n');
    writeFileSync(p('schema.json'), JSON.stringify({ sector: 'tourism', columns: [{ name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 }, { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 100] }] }));
    const kp = sm2KeyPair();
    writeFileSync(p('private.pem'), sm2PrivateKeyToPem(kp.privateKey));
    writeFileSync(p('public.pem'), sm2PublicKeyToPem(kp.publicKey));
    writeFileSync(p('msg'), 'signed bytes');
    writeFileSync(p('msg.sig'), sm2Sign(kp.privateKey, Buffer.from('signed bytes')));
    writeFileSync(p('receipt.json'), '{"not":"a receipt"}');
    writeFileSync(p('computation.json'), '{}');
    mkdirSync(p('empty-data-dir'));
    writeFileSync(p('secret.txt'), 'a-new-master-secret-of-enough-bytes\n');
    t = await startTestServer();
  });
  after(async () => {
    await t?.stop();
    user.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  /** Commands with the path under test as X, and what X is to them. */
  const commands = (): { args: (x: string) => string[]; role: Role }[] => {
    const out = () => p('out', String(++outNo));
    const purpose = ['--purpose', 'road planning for the province'];
    return [
      { role: 'csv', args: (x) => ['owner', 'describe', x, '--sector', 'tourism'] },
      { role: 'csv', args: (x) => ['owner', 'check', x, '--schema', p('schema.json')] },
      { role: 'csv', args: (x) => ['owner', 'seal', x, '--schema', p('schema.json'), '--out', out()] },
      { role: 'csv', args: (x) => ['owner', 'upload', x, '--schema', p('schema.json'), '--title', 'bad input'] },
      { role: 'json', args: (x) => ['owner', 'check', p('good.csv'), '--schema', x] },
      { role: 'json', args: (x) => ['owner', 'seal', p('good.csv'), '--schema', x, '--out', out()] },
      { role: 'json', args: (x) => ['owner', 'upload', p('good.csv'), '--schema', x, '--title', 'bad input'] },
      { role: 'json', args: (x) => ['owner', 'offer', 'dataset-1', '--file', x] },
      { role: 'json', args: (x) => ['owner', 'revise', 'offer-1', '--file', x] },
      { role: 'json', args: (x) => ['buyer', 'quote', 'offer-1', '--computation', x, ...purpose] },
      { role: 'json', args: (x) => ['buyer', 'request', 'offer-1', '--computation', x, ...purpose] },
      { role: 'json', args: (x) => ['admin', 'policy', 'publish', x] },
      { role: 'json', args: (x) => ['login', '--bootstrap', x] },
      { role: 'key', args: (x) => ['login', '--url', t.url, '--token', 'not-a-token', '--key', x] },
      { role: 'key', args: (x) => ['key', 'register', '--key', x] },
      { role: 'key', args: (x) => ['reviewer', 'approve', 'trade-1', '--reason', 'fine', '--key', x] },
      { role: 'key', args: (x) => ['admin', 'certify', 'user-1', '--key', x] },
      { role: 'key', args: (x) => ['sm2', 'sign', '--key', x, '--in', p('msg'), '--out', p('out.sig')] },
      { role: 'key', args: (x) => ['sm2', 'verify', '--pub', x, '--in', p('msg'), '--sig', p('msg.sig')] },
      { role: 'key', args: (x) => ['verify', p('receipt.json'), '--pub', x] },
      { role: 'data', args: (x) => ['sm2', 'sign', '--key', p('private.pem'), '--in', x, '--out', p('out.sig')] },
      { role: 'data', args: (x) => ['sm3', x] },
      { role: 'signed', args: (x) => ['sm2', 'verify', '--pub', p('public.pem'), '--in', x, '--sig', p('msg.sig')] },
      { role: 'signed', args: (x) => ['sm2', 'verify', '--pub', p('public.pem'), '--in', p('msg'), '--sig', x] },
      { role: 'receipt', args: (x) => ['verify', x, '--pub', p('public.pem')] },
      { role: 'secret', args: (x) => ['server', 'rotate-master-secret', '--new-secret-file', x, '--data-dir', p('empty-data-dir')] },
      { role: 'out-file', args: (x) => ['owner', 'describe', p('good.csv'), '--sector', 'tourism', '--out', x] },
      { role: 'out-file', args: (x) => ['buyer', 'result', 'trade-1', '--out', x] },
      { role: 'out-file', args: (x) => ['enclave', '--out', x] },
      { role: 'out-file', args: (x) => ['sm2', 'sign', '--key', p('private.pem'), '--in', p('msg'), '--out', x] },
      { role: 'out-dir', args: (x) => ['owner', 'seal', p('good.csv'), '--schema', p('schema.json'), '--out', x] },
      { role: 'out-dir', args: (x) => ['owner', 'upload', p('good.csv'), '--schema', p('schema.json'), '--title', 'bad input', '--bundle-dir', x] },
      { role: 'out-dir', args: (x) => ['sm2', 'keygen', '--out', x] },
      { role: 'out-dir', args: (x) => ['server', 'start', '--data-dir', x] },
      { role: 'out-dir', args: (x) => ['server', 'rotate-master-secret', '--new-secret-file', p('secret.txt'), '--data-dir', x] },
    ];
  };

  /** Other commands with bad arguments: all usage errors. */
  const badArguments = (): string[][] => [
    ['frobnicate'],
    ['sm2', 'frobnicate'],
    ['owner', 'check'],
    ['owner', 'check', p('good.csv')],
    ['owner', 'check', p('good.csv'), '--schema', p('schema.json'), '--bogus'],
    ['owner', 'check', p('good.csv'), '--schema', p('schema.json'), '--max-errors', 'lots'],
    ['owner', 'describe', p('good.csv'), '--sector', 'mars'],
    ['owner', 'describe', p('good.csv'), '--sector', 'tourism', '--min-people', '0'],
    ['catalog', '--level', 'x'],
    ['catalog', '--limit', '-3'],
    ['catalog', 'sample', 'dataset-1', '--rows', '1.5'],
    ['admin', 'topup', 'org-1', '--amount-fen', '12.5'],
    ['admin', 'user', 'create', '--org', 'o', '--name', 'n', '--role', 'king'],
    ['audit', 'events', '--after', 'abc'],
    ['reviewer', 'approve', 'trade-1', '--reason', 'r', '--valid-hours', 'soon'],
    ['buyer', 'result', 'trade-1', '--out', p('r.json'), '--timeout', '0'],
    ['server', 'start', '--port', 'eighty'],
    ['server', 'start', '--port', '99999'],
    ['login'],
    ['profiles', 'use', 'nobody'],
    ['whoami', '--profile', 'ghost'],
    ['sm2', 'sign', '--key', p('private.pem')],
  ];

  const env = () => ({ TMPDIR: runTmp, SHUYU_URL: t.url, SHUYU_TOKEN: t.bootstrap.token });

  /** Runs one command; asserts the exit code, one line at most on stderr, no stack trace, nothing left in the temp dir. */
  async function expectOutcome(args: string[], code: number, label: string, extraEnv: NodeJS.ProcessEnv = env()): Promise<string> {
    const r = await user.run(args, extraEnv);
    const where = `${label}: shuyu ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    expect(r.code, where).to.equal(code);
    expect(r.stderr.trimEnd().split('\n').length, where).to.be.at.most(1);
    expect(r.stderr + r.stdout, where).to.not.match(/^\s+at /m);
    expect(readdirSync(runTmp), where).to.deep.equal([]);
    return r.stderr + r.stdout;
  }

  it('every command that takes a path, with every kind of bad input', async () => {
    let runs = 0;
    const byCommand = commands();
    for (const c of byCommand) {
      for (const kind of KINDS) {
        const code = EXPECT[c.role][kind];
        if (code === undefined) continue;
        const args = c.args(inputs[kind]);
        const text = await expectOutcome(args, code, `${c.role} × ${kind}`);
        runs++;
        if (code === 2 && PATH_KINDS.includes(kind)) expect(text, args.join(' ')).to.include(inputs[kind]);
        // a CSV refused for its bytes says which row and column
        if (c.role === 'csv' && kind === 'nul') expect(text, args.join(' ')).to.match(/row 2, column trip_id: holds a NUL byte/);
        if (c.role === 'csv' && kind === 'not-utf8') expect(text, args.join(' ')).to.match(/row 2, column trip_id: is not valid UTF-8 \(byte 0xC3/);
      }
    }
    // nothing was sealed anywhere: no bundle directory of a failed seal is left
    expect(existsSync(p('out')) ? readdirSync(p('out')) : []).to.deep.equal([]);
    const args = badArguments();
    // not logged in here: a profile that does not exist is not made up for by SHUYU_URL/SHUYU_TOKEN
    for (const a of args) await expectOutcome(a, 2, 'bad arguments', { TMPDIR: runTmp });
    process.stdout.write(`      cli bad-input sweep: ${byCommand.length} commands × ${KINDS.length} inputs (${runs} runs) + ${args.length} bad argument lists, 0 stack traces\n`);
  });

  it('a BOM with CRLF line ends reads as the plain file; a 3 MB line is one row’s error; every command answers in one line', async () => {
    writeFileSync(p('bom-crlf.csv'), Buffer.concat([Buffer.of(0xef, 0xbb, 0xbf), Buffer.from('trip_id,nights\r\nT1,2\r\nT2,3\r\n')]));
    writeFileSync(p('huge-line.csv'), `trip_id,nights\n${'x'.repeat(3_000_000)}\n`);
    const plain = await user.run(['owner', 'check', p('good.csv'), '--schema', p('schema.json')], env());
    const bom = await user.run(['owner', 'check', p('bom-crlf.csv'), '--schema', p('schema.json')], env());
    expect([plain.code, bom.code]).to.deep.equal([0, 0]);
    expect(bom.stdout).to.equal(plain.stdout);
    const huge = await user.run(['owner', 'check', p('huge-line.csv'), '--schema', p('schema.json')], env());
    expect(huge.code, huge.stdout + huge.stderr).to.equal(1);
    expect(huge.stdout).to.match(/row 1: has 1 fields, the schema has 2 columns/);
    expect(huge.stdout.length, 'the line is named, not echoed').to.be.below(10_000);
    // every path-taking command, given each: an exit code of the README's, one line at most on stderr, no stack trace
    let runs = 0;
    for (const c of commands()) {
      for (const file of [p('bom-crlf.csv'), p('huge-line.csv')]) {
        if (c.role === 'out-dir' || c.role === 'out-file') continue; // these files are inputs, not places to write
        const args = c.args(file);
        const r = await user.run(args, env());
        const where = `shuyu ${args.join(' ').slice(0, 300)}\nstderr: ${r.stderr.slice(0, 500)}`;
        expect(r.code, where).to.be.oneOf([0, 1, 2]);
        expect(r.stderr.trimEnd().split('\n').length, where).to.be.at.most(1);
        expect(r.stderr.length, where).to.be.below(10_000);
        expect(r.stderr + r.stdout, where).to.not.match(/^\s+at /m);
        runs++;
      }
    }
    process.stdout.write(`      cli BOM/CRLF and 3 MB-line sweep: ${runs} runs, 0 stack traces\n`);
  });

  it('the real binary: a directory, a NUL byte, an unknown option — one line each, no stack trace', async () => {
    // a temp dir of their own: tsx keeps its cache there
    const spawnTmp = p('spawn-tmp');
    mkdirSync(spawnTmp);
    const spawnEnv = { ...env(), TMPDIR: spawnTmp };
    const runs = await Promise.all([
      user.spawned(['owner', 'check', inputs.dir, '--schema', p('schema.json')], spawnEnv),
      user.spawned(['owner', 'upload', inputs.nul, '--schema', p('schema.json'), '--title', 'bad input'], spawnEnv),
      user.spawned(['owner', 'describe', inputs.dir, '--sector', 'tourism', '--bogus'], spawnEnv),
    ]);
    expect(runs.map((r) => r.code)).to.deep.equal([2, 1, 2]);
    for (const r of runs) {
      expect(r.stderr.trimEnd().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.not.match(/^\s+at /m);
    }
    expect(runs[0]!.stderr).to.match(/^shuyu: cannot read CSV .*a-directory: it is a directory, not a file$/m);
    expect(runs[1]!.stderr).to.match(/row 2, column trip_id: holds a NUL byte/);
    expect(readdirSync(spawnTmp).filter((f) => f.startsWith('shuyu-'))).to.deep.equal([]);
  });
});
