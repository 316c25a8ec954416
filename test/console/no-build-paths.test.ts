/**
 * The built console hands out nothing of the machine that built it: the production bundle has no source
 * map, no asset names an absolute path of the build, the server never serves a .map file, and the server
 * started by the CLI serves the bundle `npm start` builds.
 */
import { expect } from 'chai';
import express from 'express';
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { buildConsole, consoleIsCurrent } from '../../scripts/build-console.js';
import { consoleRouter } from '../../server/console/serve.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');

describe('console: no build paths served', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-console-assets-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const absolutePaths = (text: string): string[] =>
    [root, dir, '/home/', '/root/', '/tmp/', '/work/', 'C:\\\\'].filter((p) => text.includes(p));

  it('the production bundle has no source map and no absolute path in any asset', async () => {
    const built = await buildConsole({ outDir: join(dir, 'prod') });
    const assets = readdirSync(built.outDir);
    expect(assets).to.include.members(['index.html', 'app.js', 'app.css']);
    expect(assets.filter((f) => f.endsWith('.map'))).to.deep.equal([]);
    // every asset the server serves (the build record .inputs.json is not served: see below)
    for (const f of assets.filter((x) => !x.startsWith('.'))) expect(absolutePaths(readFileSync(join(built.outDir, f), 'utf8')), f).to.deep.equal([]);
    expect(readFileSync(join(built.outDir, 'app.js'), 'utf8')).to.not.match(/sourceMappingURL/);
  });

  it('a debugging build writes maps whose sources are relative to the repository', async () => {
    const built = await buildConsole({ outDir: join(dir, 'debug'), sourcemap: true });
    const maps = readdirSync(built.outDir).filter((f) => f.endsWith('.map'));
    expect(maps).to.include('app.js.map');
    for (const f of maps) {
      const text = readFileSync(join(built.outDir, f), 'utf8');
      expect(absolutePaths(text), f).to.deep.equal([]);
      for (const s of JSON.parse(text).sources as string[]) expect(s, f).to.not.match(/^(\/|[A-Za-z]:|[\w-]+:)/);
    }
  });

  it('the server serves the bundle but never a source map or the build record', async () => {
    const out = join(dir, 'served');
    await buildConsole({ outDir: out, sourcemap: true });
    writeFileSync(join(out, 'extra.css.map'), '{}');
    const app = express().use(consoleRouter({ distDir: out })).use((_req, res) => void res.status(404).send('none'));
    expect((await request(app).get('/console/app.js')).status).to.equal(200);
    for (const p of ['/console/app.js.map', '/console/APP.JS.MAP', '/console/extra.css.map', '/console/.inputs.json']) {
      expect((await request(app).get(p)).status, p).to.equal(404);
    }
  });

  it('a bundle is current until one of its inputs changes', async () => {
    const out = join(dir, 'current');
    await buildConsole({ outDir: out });
    expect(await consoleIsCurrent(out)).to.equal(true);
    const inputs = JSON.parse(readFileSync(join(out, '.inputs.json'), 'utf8')) as string[];
    expect(inputs).to.include('console/main.ts');
    const later = join(dir, 'later.ts');
    writeFileSync(later, '');
    utimesSync(later, new Date(), new Date(Date.now() + 60_000));
    writeFileSync(join(out, '.inputs.json'), JSON.stringify([...inputs, relative(root, later)]));
    expect(await consoleIsCurrent(out)).to.equal(false);
    expect(await consoleIsCurrent(join(dir, 'never-built'))).to.equal(false);
  });

  it('`shuyu server start` builds and serves the same console as `npm start`', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).to.match(/^npm run build &&/);
    expect(readFileSync(join(root, 'scripts/build.ts'), 'utf8')).to.match(/import \{ ensureConsole \} from '\.\/build-console\.js'/);
    const cli = readFileSync(join(root, 'server/cli/commands.ts'), 'utf8');
    expect(cli).to.match(/import\('..\/..\/scripts\/build-console\.js'\)\)\.ensureConsole\(\)/);
  });
});
