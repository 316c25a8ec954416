import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { CliUser, type TestServer, startTestServer } from './harness.js';

/**
 * Ctrl-C during `shuyu owner upload`, as a person does it: the real binary uploads through a slow link (a
 * throttling TCP proxy in front of the real server), gets SIGINT once it has printed the upload id, and must
 * exit 130 with the command that resumes it, keeping its temporary bundle. `owner uploads` lists the upload
 * with what it misses; running the printed command (straight to the server) finishes it and removes the bundle.
 */

const ROOT = resolve(import.meta.dirname, '../..');

/** A TCP proxy that passes the client's bytes on at most `bytesPerSecond` (the answers unthrottled). */
function slowProxy(target: URL, bytesPerSecond: number): Promise<{ url: string; server: Server; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      client.pause();
      upstream.write(chunk);
      setTimeout(() => client.resume(), Math.ceil((chunk.length / bytesPerSecond) * 1000));
    });
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      res({ url: `http://127.0.0.1:${port}`, server, close: () => (sockets.forEach((s) => s.destroy()), server.close()) });
    }),
  );
}

/** The words of a command line as a POSIX shell splits them (bare words and single quotes, as the CLI prints them). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  return words;
}

describe('shuyu owner upload: Ctrl-C keeps the bundle and prints the resume command, which finishes the upload', function () {
  this.timeout(180_000);
  let t: TestServer;
  const owner = new CliUser('upload-interrupt');
  let work: string;
  let spawnTmp: string;

  before(async () => {
    t = await startTestServer();
    work = mkdtempSync(join(tmpdir(), 'shuyu-interrupt-'));
    spawnTmp = join(work, 'tmp');
    mkdirSync(spawnTmp);
    const op = new CliUser('upload-interrupt-op');
    try {
      await op.json(['login', '--bootstrap', t.bootstrapFile]);
      const org = await op.json(['admin', 'org', 'create', '--name', 'Interrupted Uploads Co']);
      const u = await op.json(['admin', 'user', 'create', '--org', org.id, '--name', 'owner-1', '--role', 'owner']);
      await owner.json(['login', '--url', t.url, '--token', u.token.token]);
    } finally {
      op.cleanup();
    }
    writeFileSync(join(work, 'schema.json'), JSON.stringify({
      sector: 'tourism',
      columns: [
        { name: 'trip_id', type: 'identifier', role: 'identifier', level: 3 },
        { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] },
        { name: 'city', type: 'category', role: 'dimension', level: 1, values: ['kunming', 'dali', 'lijiang'] },
      ],
    }));
    const rows = ['trip_id,nights,city'];
    for (let i = 0; i < 20_000; i++) rows.push(`T${i},${i % 30},${['kunming', 'dali', 'lijiang'][i % 3]}`);
    writeFileSync(join(work, 'trips.csv'), rows.join('\n') + '\n');
  });
  after(async () => {
    await t?.stop();
    owner.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('SIGINT mid-upload → exit 130, upload id and resume command; owner uploads shows what is missing; the command resumes it', async () => {
    const proxy = await slowProxy(new URL(t.url), 64 * 1024);
    let stderr = '';
    let stdout = '';
    const code = await new Promise<number | null>((res) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/shuyu.js'), 'owner', 'upload', join(work, 'trips.csv'), '--schema', join(work, 'schema.json'), '--title', "Trips (owner's copy)"], {
        cwd: ROOT,
        env: { ...process.env, XDG_CONFIG_HOME: owner.configHome, SHUYU_URL: proxy.url, SHUYU_TOKEN: '', SHUYU_PROFILE: '', TMPDIR: spawnTmp },
      });
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/^upload \S+ started/m.test(stderr) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => res(c));
    }).finally(() => proxy.close());

    expect(code, stderr).to.equal(130);
    expect(stdout).to.equal('');
    const started = /^upload (\S+) started: .*; bundle folder (\S+)$/m.exec(stderr);
    expect(started, stderr).to.not.equal(null);
    const [, uploadId, bundleDir] = started!;
    const interrupted = /^shuyu: upload (\S+) interrupted; resume with: (shuyu owner upload .*)$/m.exec(stderr);
    expect(interrupted, stderr).to.not.equal(null);
    expect(interrupted![1]).to.equal(uploadId);
    expect(existsSync(join(bundleDir!, 'manifest.json')), 'the temporary bundle is kept').to.equal(true);

    const open = await owner.json(['owner', 'uploads']);
    const listed = open.items.find((u: { id: string }) => u.id === uploadId);
    expect(listed, JSON.stringify(open)).to.not.equal(undefined);
    expect(listed.state).to.equal('open');
    expect(listed.missing.length).to.be.greaterThan(0);
    const human = await owner.run(['owner', 'uploads']);
    expect(human.stdout).to.contain(uploadId).and.to.match(/\d+ of \d+ blobs/);

    // the printed command, as the user would paste it (straight to the server: the profile's URL)
    const words = shellWords(interrupted![2]!);
    expect(words.slice(0, 3)).to.deep.equal(['shuyu', 'owner', 'upload']);
    expect(words).to.include.members(['--resume', uploadId!, '--bundle-dir', bundleDir!]);
    const resumed = await owner.spawned([...words.slice(1), '--json'], { TMPDIR: spawnTmp });
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect(resumed.json.upload.id).to.equal(uploadId);
    expect(resumed.json.dataset.rowCount).to.equal(20_000);
    expect((await owner.json(['owner', 'uploads'])).items).to.deep.equal([]);
    expect(readdirSync(spawnTmp).filter((f) => f.startsWith('shuyu-bundle-')), 'the temporary bundle is removed once the upload finished').to.deep.equal([]);
  });

  it('--resume without --bundle-dir is a usage error (exit 2, one line) before any request', async () => {
    const r = await owner.run(['owner', 'upload', join(work, 'trips.csv'), '--schema', join(work, 'schema.json'), '--title', 'x', '--resume', '01936a5e-7c1b-7c3e-9a51-3f0d2b8e4c10']);
    expect(r.code).to.equal(2);
    expect(r.stderr.trimEnd().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^shuyu: --resume needs --bundle-dir DIR/);
  });
});
