import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { sm2KeyPair, sm2PrivateKeyToPem } from '../../enclave/crypto/index.js';
import { writeFileSync } from 'node:fs';
import { CliUser, type TestServer, startTestServer } from './harness.js';

/**
 * The operator's and every user's session commands against a real server: login (bootstrap file and
 * url+token), whoami, profiles, admin org/user/token/certify, key register, catalog, exit codes.
 */
describe('shuyu CLI: sessions and admin (real server)', function () {
  this.timeout(180_000);
  let t: TestServer;
  const op = new CliUser('operator');
  const reviewer = new CliUser('reviewer');
  let orgId: string;
  let reviewerId: string;
  let reviewerToken: string;
  let reviewerTokenId: string;

  before(async () => {
    t = await startTestServer({ enclave: process.env.F_NO_ENCLAVE ? false : true });
  });
  after(async () => {
    await t?.stop();
    op.cleanup();
    reviewer.cleanup();
  });

  it('login --bootstrap stores a 0600 profile with the operator key, and whoami reads it back', async () => {
    const r = await op.json(['login', '--bootstrap', t.bootstrapFile]);
    expect(r.user.role).to.equal('operator');
    expect(r.url).to.equal(t.url);
    expect(statSync(r.path).mode & 0o777).to.equal(0o600);
    const who = await op.json(['whoami']);
    expect(who.user.id).to.equal(t.bootstrap.userId);
    const profiles = await op.json(['profiles']);
    expect(profiles.profiles).to.have.length(1);
    expect(JSON.stringify(profiles)).not.to.contain(t.bootstrap.token);
  });

  it('admin org create / list', async () => {
    const org = await op.json(['admin', 'org', 'create', '--name', '滇西审查中心', '--region', 'CN-53']);
    expect(org).to.include({ name: '滇西审查中心', region: 'CN-53' });
    orgId = org.id;
    const list = await op.json(['admin', 'org', 'list']);
    expect(list.items.map((o: { id: string }) => o.id)).to.include(orgId);
  });

  it('admin user create prints the first token; user list shows the user', async () => {
    const r = await op.json(['admin', 'user', 'create', '--org', orgId, '--name', 'reviewer-li', '--role', 'reviewer']);
    expect(r.user.role).to.equal('reviewer');
    expect(r.token.token).to.be.a('string');
    reviewerId = r.user.id;
    reviewerToken = r.token.token;
    const list = await op.json(['admin', 'user', 'list', '--org', orgId]);
    expect(list.items).to.have.length(1);
    expect(list.items[0].id).to.equal(reviewerId);
  });

  it('a reviewer logs in with url+token, registers a key; the operator certifies it', async () => {
    const login = await reviewer.json(['login', '--url', t.url, '--token', reviewerToken]);
    expect(login.user.id).to.equal(reviewerId);
    const dir = join(reviewer.configHome, 'keys');
    mkdirSync(dir);
    const keyFile = join(dir, 'reviewer.pem');
    writeFileSync(keyFile, sm2PrivateKeyToPem(sm2KeyPair().privateKey), { mode: 0o600 });
    const reg = await reviewer.json(['key', 'register', '--key', keyFile]);
    expect(reg.keyFingerprint).to.match(/^[0-9a-f]{64}$/);
    const cert = await op.json(['admin', 'certify', reviewerId]);
    expect(cert.reviewerId).to.equal(reviewerId);
    expect(cert.fingerprint).to.equal(reg.keyFingerprint);
  });

  it('admin token issue / revoke: a revoked token is refused (exit 1 with the problem type)', async () => {
    const tok = await op.json(['admin', 'token', 'issue', reviewerId, '--days', '1']);
    reviewerTokenId = tok.tokenId;
    const viaEnv = await reviewer.json(['whoami'], { SHUYU_URL: t.url, SHUYU_TOKEN: tok.token });
    expect(viaEnv.user.id).to.equal(reviewerId);
    const rev = await op.json(['admin', 'token', 'revoke', reviewerTokenId]);
    expect(rev.revoked).to.equal(reviewerTokenId);
    const refused = await reviewer.run(['whoami', '--json'], { SHUYU_URL: t.url, SHUYU_TOKEN: tok.token });
    expect(refused.code).to.equal(1);
    expect(refused.json.error.status).to.equal(401);
    expect(refused.json.error.type).to.match(/token-revoked|unauthenticated/);
  });

  it('catalog answers (empty before any upload) with --json', async () => {
    const c = await reviewer.json(['catalog', '--sector', 'tourism']);
    expect(c.items).to.deep.equal([]);
    expect(c.nextCursor).to.equal(null);
  });

  it('exit codes: 2 for usage errors and when not logged in, 1 for a refused request', async () => {
    const nobody = new CliUser('nobody');
    try {
      const notLoggedIn = await nobody.run(['whoami', '--json']);
      expect(notLoggedIn.code).to.equal(2);
      expect(notLoggedIn.json.error.type).to.equal('not-logged-in');
      const badOption = await nobody.run(['catalog', '--sector', 'moon']);
      expect(badOption.code).to.equal(2);
      const forbidden = await reviewer.run(['admin', 'org', 'list', '--json']);
      expect(forbidden.code).to.equal(1);
      expect(forbidden.json.error.status).to.equal(403);
    } finally {
      nobody.cleanup();
    }
  });
});
