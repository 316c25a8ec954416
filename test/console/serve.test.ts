/**
 * The server serves the built console on its own origin: / → /console/, index.html and the bundle with
 * the console's strict Content-Security-Policy, a plain 503 saying how to build it when it is missing,
 * and the API untouched beside it.
 */
import { expect } from 'chai';
import express from 'express';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startServer, type RunningServer } from '../../server/start.js';
import { CONSOLE_CSP, consoleRouter } from '../../server/console/serve.js';

describe('console: served on the API origin', function () {
  this.timeout(30_000);
  let dir: string;
  let srv: RunningServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-console-serve-'));
    srv = await startServer({ dataDir: join(dir, 'data'), port: 0, enclave: false, logDestination: { write: () => {} } });
  });
  after(async () => {
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the real app redirects / to /console/ and /console to /console/, and leaves /v1 to the API', async () => {
    const root = await request(srv.url).get('/');
    expect(root.status).to.equal(302);
    expect(root.headers.location).to.equal('/console/');
    const bare = await request(srv.url).get('/console');
    expect(bare.status).to.equal(301);
    expect(bare.headers.location).to.equal('/console/');
    const health = await request(srv.url).get('/v1/health');
    expect(health.status).to.equal(200);
    const missing = await request(srv.url).get('/console/no-such-file.js');
    expect(missing.status).to.equal(404);
    expect(missing.headers['content-type']).to.match(/problem\+json/);
  });

  it('serves index.html and assets with the strict CSP, and a 503 that says how to build when missing', async () => {
    const dist = mkdtempSync(join(dir, 'dist-'));
    const app = express().use(consoleRouter({ distDir: dist }));
    const notBuilt = await request(app).get('/console/');
    expect(notBuilt.status).to.equal(503);
    expect(notBuilt.text).to.include('npm run build:console');
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dist, 'app.js'), 'export {};');
    const index = await request(app).get('/console/');
    expect(index.status).to.equal(200);
    expect(index.headers['content-security-policy']).to.equal(CONSOLE_CSP);
    expect(index.headers['cache-control']).to.equal('no-cache');
    const js = await request(app).get('/console/app.js');
    expect(js.status).to.equal(200);
    expect(js.headers['content-type']).to.match(/javascript/);
    expect(js.headers['content-security-policy']).to.equal(CONSOLE_CSP);
    for (const d of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"]) expect(CONSOLE_CSP).to.include(d);
    expect((await request(app).get('/console/../package.json')).status).to.not.equal(200);
  });
});
