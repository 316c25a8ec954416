import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/start.js';
import { sm3Hex } from '../../crypto/index.js';
import { dropSchema, freshSchema, testDatabaseUrl } from '../store/engines.js';

const LIMIT = 12;

/** Fixed windows start on the minute: a run that would straddle one waits for the next window instead. */
async function awayFromWindowEdge(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 8_000) await new Promise((r) => setTimeout(r, left + 50));
}

const get = (url: string, path: string, token?: string) => fetch(url + path, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

/** Anonymous calls (one client address) alternated over `urls` until one is refused: the refused call's index and answer. */
async function untilRefused(urls: string[], max: number): Promise<{ allowed: number; refused: Response }> {
  for (let i = 0; i < max; i++) {
    const r = await get(urls[i % urls.length]!, '/v1/health');
    if (r.status === 429) return { allowed: i, refused: r };
    expect(r.status).to.equal(200);
    await r.arrayBuffer();
  }
  throw new Error(`no call of ${max} was refused`);
}

async function expectRateLimited(r: Response): Promise<void> {
  expect(r.status).to.equal(429);
  expect(r.headers.get('content-type')).to.match(/^application\/problem\+json/);
  expect(((await r.json()) as { type: string }).type).to.match(/rate-limited$/);
  expect(r.headers.get('ratelimit-policy')).to.equal(`${LIMIT};w=60`);
}

/**
 * What a cluster's servers must agree on without a word between them: the rate limit is counted in the
 * shared database, and a token revoked through one server is refused by the other on the next request.
 * Two real servers (HTTP listeners, their own pools and caches) on one PostgreSQL schema; the embedded
 * deployment (one server on its SQLite file) keeps its behaviour.
 */
describe('cluster: rate limits and token revocation shared by the servers', function () {
  this.timeout(120_000);
  const root = mkdtempSync(join(tmpdir(), 'shuyu-shared-'));
  const schema = freshSchema();
  const servers: RunningServer[] = [];

  before(async () => {
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startServer({
          dataDir: join(root, 'data'),
          port: 0,
          logLevel: 'silent',
          enclave: false,
          databaseUrl: testDatabaseUrl(),
          databaseSchema: schema,
          rateLimitPerMinute: LIMIT,
          env: {},
        }),
      );
    }
  });

  after(async () => {
    for (const s of servers) await s.close();
    await dropSchema(schema);
    rmSync(root, { recursive: true, force: true });
  });

  it(`two servers on one PostgreSQL allow ${LIMIT} calls in total per client and minute, then answer 429 problem+json`, async () => {
    await awayFromWindowEdge();
    const { allowed, refused } = await untilRefused(servers.map((s) => s.url), 4 * LIMIT);
    expect(allowed).to.equal(LIMIT);
    await expectRateLimited(refused);
    // both servers refuse from now on
    for (const s of servers) expect((await get(s.url, '/v1/health')).status).to.equal(429);
    const rows = await servers[0]!.db.all<{ hits: number }>('SELECT hits FROM rate_limit_hits');
    expect(rows.reduce((a, r) => a + r.hits, 0)).to.be.at.least(LIMIT + 3);
  });

  it('a token revoked through one server is refused by the other on the next request', async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    const op = JSON.parse(readFileSync(join(root, 'data', 'bootstrap.json'), 'utf8')).token as string;
    const post = (url: string, path: string, body: unknown) =>
      fetch(url + path, { method: 'POST', headers: { Authorization: `Bearer ${op}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const org = (await (await post(a.url, '/v1/orgs', { name: 'Revocation org' })).json()) as { id: string };
    const user = (await (await post(a.url, '/v1/users', { orgId: org.id, name: 'revoked buyer', role: 'buyer' })).json()) as { token: { tokenId: string; token: string } };
    const token = user.token.token;
    // B has read the token (and would reuse what it read, were it cached)
    for (let i = 0; i < 3; i++) expect((await get(b.url, '/v1/me', token)).status).to.equal(200);
    const del = await fetch(`${a.url}/v1/tokens/${user.token.tokenId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(del.status).to.equal(204);
    const r = await get(b.url, '/v1/me', token);
    expect(r.status).to.equal(401);
    expect(((await r.json()) as { type: string }).type).to.match(/token-revoked$/);
    expect((await get(a.url, '/v1/me', token)).status).to.equal(401);
  });

  it('hits counted in process below half the limit reach the shared count within a moment', async () => {
    const [a, b] = servers as [RunningServer, RunningServer];
    await awayFromWindowEdge();
    const op = JSON.parse(readFileSync(join(root, 'data', 'bootstrap.json'), 'utf8')).token as string;
    const org = (await (await fetch(`${a.url}/v1/orgs`, { method: 'POST', headers: { Authorization: `Bearer ${op}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'Counted org' }) })).json()) as { id: string };
    const user = await fetch(`${a.url}/v1/users`, { method: 'POST', headers: { Authorization: `Bearer ${op}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ orgId: org.id, name: 'counted buyer', role: 'buyer' }) });
    const token = ((await user.json()) as { token: { token: string } }).token.token;
    for (const url of [a.url, b.url, a.url, b.url, a.url]) expect((await get(url, '/v1/me', token)).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 300));
    const row = await a.db.get<{ hits: number }>('SELECT SUM(hits) AS hits FROM rate_limit_hits WHERE client_key = ?', `t:${sm3Hex(token)}`);
    expect(row!.hits).to.equal(5);
  });
});

describe('embedded: one server on its SQLite file', function () {
  this.timeout(60_000);
  const root = mkdtempSync(join(tmpdir(), 'shuyu-embedded-limit-'));
  let srv: RunningServer;

  before(async () => {
    srv = await startServer({ dataDir: join(root, 'data'), port: 0, logLevel: 'silent', enclave: false, rateLimitPerMinute: LIMIT, env: {} });
  });

  after(async () => {
    await srv.close();
    rmSync(root, { recursive: true, force: true });
  });

  it(`allows ${LIMIT} calls per client and minute, then answers 429 problem+json`, async () => {
    expect(srv.db.dialect).to.equal('sqlite');
    await awayFromWindowEdge();
    const { allowed, refused } = await untilRefused([srv.url], 4 * LIMIT);
    expect(allowed).to.equal(LIMIT);
    await expectRateLimited(refused);
  });
});
