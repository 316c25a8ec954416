/**
 * The production shape: `npm run build` compiles the product into dist/, and the built tree runs on plain
 * node with only the production dependencies installed. The tree under test is a copy of dist/ beside a
 * node_modules holding exactly what `npm ci --omit=dev` installs (the lock's non-dev packages, linked from
 * this checkout): tsx and esbuild are absent, so any run-time use of them fails the trade. An aggregate,
 * an SQL and a verification trade run end to end over HTTP, so the enclave process, the HE worker and the
 * SQL sandbox worker all start from compiled code; the dataset is sealed by the compiled SDK (its sealing
 * and HE encryption workers) in a node process of the same tree.
 * SHUYU_DIST_TREE=DIR runs the same checks on a tree installed for real (dist/, package.json and the lock
 * copied to DIR, then `npm ci --omit=dev` there).
 */
import { expect } from 'chai';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { buildDist, DIST } from '../../scripts/build.js';
import { verifyReceipt } from '../../formats/receipt.js';
import { operatorFromBootstrap } from './harness.js';
import { market, offerInput, quoteAndSubmit, approve, waitForTrade, TOURISM_SCHEMA, type Live, type Market, type SealedFixture } from './fixture.js';
import { enclavePidOf } from '../faults/process.js';

const repo = resolve(fileURLToPath(import.meta.url), '../../..');
const DEV_ONLY = ['tsx', 'esbuild', 'typescript', 'mocha'];

/** node_modules as `npm ci --omit=dev` lays it out: every top-level package the lock does not mark dev. */
function productionNodeModules(app: string): void {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [key, info] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || key.includes('/node_modules/', 1) || info.dev) continue;
    const from = join(repo, key);
    if (!existsSync(from)) continue; // an optional package for another platform
    mkdirSync(dirname(join(app, key)), { recursive: true });
    symlinkSync(from, join(app, key), 'dir');
  }
}

/** A process's command line, from /proc (Linux). */
const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

describe('dist build: the compiled server on plain node with production dependencies only', function () {
  this.timeout(90_000);
  let root: string;
  let app: string;
  let dataDir: string;
  let server: ChildProcess;
  let output = '';
  let l: Live;
  let m: Market;

  before(async function () {
    root = mkdtempSync(join(tmpdir(), 'shuyu-dist-'));
    dataDir = join(root, 'data');
    if (process.env.SHUYU_DIST_TREE) app = resolve(process.env.SHUYU_DIST_TREE);
    else {
      await buildDist();
      app = join(root, 'app');
      // not another build's work in progress (this build's, or the console's: dist/console.building-…)
      cpSync(DIST, join(app, 'dist'), { recursive: true, filter: (src) => !/\.building-|\.old(-|$)/.test(basename(src)) });
      cpSync(join(repo, 'package.json'), join(app, 'package.json'));
      productionNodeModules(app);
    }

    const env: NodeJS.ProcessEnv = { ...process.env, SHUYU_MASTER_SECRET: 'dist-build-master-secret-0123456789', SHUYU_ENCLAVE_TEST_MODE: '1', SHUYU_JOB_POLL_MS: '100', SHUYU_LOG_LEVEL: 'info' };
    delete env.NODE_OPTIONS; // nothing of this test runner's loader
    server = spawn(process.execPath, ['dist/server/main.js', '--data-dir', dataDir, '--port', '0'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout!.on('data', (d) => (output += d));
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`the built server did not start:\n${output.slice(-2000)}`)), 60_000);
      server.once('exit', (code) => rej(new Error(`the built server exited ${code}:\n${output.slice(-2000)}`)));
      server.stderr!.on('data', (d) => {
        output += d;
        const found = /listening on (http:\/\/[^\s"]+)/.exec(output);
        if (found) clearTimeout(t), res(found[1]!);
      });
    });
    const http = () => request(url);
    l = { srv: { url } as Live['srv'], dir: root, logs: [], http, enclaveInfo: (await http().get('/v1/enclave')).body, operator: operatorFromBootstrap(join(dataDir, 'bootstrap.json')) };
    m = await market(l, { fixture: await sealWithCompiledSdk() });
  });

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const gone = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The fixture's tourism rows, sealed by dist/client-sdk in a node process of the built tree (split: its sealing workers run). */
  async function sealWithCompiledSdk(): Promise<SealedFixture> {
    const regions = ['Kunming', 'Dali', 'Lijiang'];
    const rows = Array.from({ length: 60 }, (_, i) => [`VIS-d-${(1_000_003 + i * 7717).toString(36).toUpperCase()}Q`, regions[i % 3]!, (31_000 + ((i * 7919) % 60_000)).toFixed(2), String((i * 5) % 30), `Hometownd${i}X`]);
    const csv = join(root, 'data.csv');
    writeFileSync(csv, ['visitor_id,region,spend,nights,hometown', ...rows.map((r) => r.join(','))].join('\n') + '\n');
    const job = join(root, 'seal-job.json');
    writeFileSync(job, JSON.stringify({ input: csv, schema: TOURISM_SCHEMA, enclave: l.enclaveInfo, outDir: join(root, 'bundle'), threads: 2, rowsPerChunk: 32, split: true }));
    const script = join(app, `seal-${process.pid}.mjs`);
    writeFileSync(
      script,
      "import { readFileSync } from 'node:fs';\nimport { sealDataset } from './dist/client-sdk/dataset/seal.js';\n" +
        'const r = await sealDataset(JSON.parse(readFileSync(process.argv[2], "utf8")));\n' +
        'process.stdout.write(JSON.stringify({ manifest: r.manifest, blobDir: r.blobDir, execArgv: process.execArgv }));\n',
    );
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const out = await new Promise<string>((res, rej) =>
      execFile(process.execPath, [script, job], { cwd: app, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout))),
    );
    rmSync(script);
    const sealed = JSON.parse(out) as { manifest: Record<string, any>; blobDir: string; execArgv: string[] };
    expect(sealed.execArgv).to.deep.equal([]);
    return { csv, rows, manifest: sealed.manifest, blobDir: sealed.blobDir, secrets: [] };
  }

  it('is what `npm start` runs, and tsx is a development dependency only', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(pkg.scripts.build).to.match(/scripts\/build\.ts/);
    expect(pkg.scripts.start).to.match(/^npm run build && node dist\/server\/main\.js/);
    for (const dev of DEV_ONLY) {
      expect(pkg.dependencies, dev).not.to.have.property(dev);
      expect(existsSync(join(app, 'node_modules', dev)), dev).to.equal(false);
    }
  });

  it('runs the server and its enclave process on plain node, with no TypeScript loader', () => {
    const serverArgs = cmdline(server.pid!);
    expect(serverArgs.slice(1)).to.deep.equal(['dist/server/main.js', '--data-dir', dataDir, '--port', '0']);
    const enclave = enclavePidOf(server.pid!);
    expect(enclave, 'the enclave child').to.be.a('number');
    const enclaveArgs = cmdline(enclave!);
    expect(enclaveArgs.slice(1)).to.deep.equal(['--expose-gc', join(app, 'dist/enclave/process/entry.js')]);
    expect(readFileSync(`/proc/${enclave}/environ`, 'utf8')).not.to.match(/(^|\0)NODE_OPTIONS=/);
    expect([...serverArgs, ...enclaveArgs].join(' ')).not.to.match(/tsx|esbuild|loader/);
  });

  for (const [kind, computation] of [
    ['aggregate (HE worker)', undefined],
    ['SQL (sandbox worker)', { kind: 'sql', query: 'SELECT region, COUNT(*) AS n, SUM(spend) AS total FROM dataset GROUP BY region' }],
  ] as const) {
    it(`delivers an ${kind} trade with a receipt that verifies`, async () => {
      const s = await quoteAndSubmit(l, m, computation ? { computation } : {});
      expect(s.status, JSON.stringify(s.body)).to.equal(201);
      const decided = await approve(l, m, s.trade.id);
      expect(decided.status, JSON.stringify(decided.body)).to.equal(200);
      const done = await waitForTrade(l, m.buyer.auth, s.trade.id, ['settled', 'failed'], 40_000);
      expect(done.state, `${JSON.stringify(done.failure)}\n${output.slice(-3000)}`).to.equal('settled');
      const res = await l.http().get(`/v1/trades/${s.trade.id}/result`).set(m.buyer.auth);
      expect(res.status).to.equal(200);
      expect(verifyReceipt(res.body.receipt, { pinnedPublicKeyPem: l.enclaveInfo.signing.publicKeyPem })).to.deep.include({ valid: true });
      expect(res.body.receipt.payload).to.include(s.trade.id);
      for (const region of ['Kunming', 'Dali', 'Lijiang']) {
        const mine = m.fixture.rows.filter((r) => r[1] === region);
        const g = res.body.result.groups.find((x: { key: string[] }) => x.key[0] === region);
        expect(g, JSON.stringify(res.body.result)).to.exist;
        expect(Object.values(g.values).map(Number)).to.include(mine.length);
      }
    });
  }

  it('delivers a verification (核验) trade', async () => {
    const vo = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth)
      .send(offerInput({ title: 'Visitor id check', allowedKinds: ['verify'], allowedColumns: ['visitor_id'], priceModel: { kind: 'fixed', perQueryFen: 100 } }));
    expect(vo.status, JSON.stringify(vo.body)).to.equal(201);
    const vm = { ...m, offer: vo.body.offer };
    const v = await quoteAndSubmit(l, vm, { computation: { kind: 'verify', match: { visitor_id: m.fixture.rows[7]![0]! }, perAttribute: false } });
    expect(v.status, JSON.stringify(v.body)).to.equal(201);
    expect((await approve(l, vm, v.trade.id)).status).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, v.trade.id, ['settled', 'failed'], 40_000);
    expect(done.state, `${JSON.stringify(done.failure)}\n${output.slice(-3000)}`).to.equal('settled');
    const res = await l.http().get(`/v1/trades/${v.trade.id}/result`).set(m.buyer.auth);
    expect(res.body.result.kind).to.equal('verify');
    expect(JSON.stringify(res.body.result.answer)).to.match(/true/);
    expect(verifyReceipt(res.body.receipt, { pinnedPublicKeyPem: l.enclaveInfo.signing.publicKeyPem })).to.deep.include({ valid: true });
  });

  const errorLines = (): string[] => output.split('\n').filter((s) => /"level":50|"status":5\d\d/.test(s));
  it('logged no server error', () => {
    expect(errorLines()).to.deep.equal([]);
  });
});
