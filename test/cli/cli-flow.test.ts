import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { demoDataset, writeDemoCsv } from '../../cli/demo/data.js';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { DEMO_TRADES } from '../../cli/demo/scenario.js';
import { validMobile, validResidentId } from '../sdk/pii-gen.js';
import { CliUser, type TestServer, startTestServer } from './harness.js';

/**
 * Every `shuyu` command of the SDK side, spawned as a user runs it, against one real server
 * (startServer, temp data dir, the real enclave process), each asserted on its --json output:
 * operator set-up, owner check/seal/upload/offers, catalogue, buyer quote/request/result, reviewer
 * approve/reject, verify, audit, exit codes, and `shuyu server start` itself.
 */
describe('shuyu CLI against a real server: every command, --json asserted', function () {
  this.timeout(240_000);
  let t: TestServer;
  const op = new CliUser('operator');
  const owner = new CliUser('owner');
  const buyer = new CliUser('buyer');
  const reviewer = new CliUser('reviewer');
  const ids: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const tourism = DEMO_TRADES.find((d) => d.dataset === 'tourism')!;
  const dir = (u: CliUser, ...p: string[]) => join(u.configHome, ...p);

  before(async () => {
    t = await startTestServer();
    const ds = demoDataset('tourism');
    await writeDemoCsv(dir(owner, 'tourism.csv'), ds, 200);
    writeFileSync(dir(owner, 'tourism.schema.json'), JSON.stringify(ds.schema));
    writeFileSync(dir(owner, 'tourism.offer.json'), JSON.stringify(tourism.offer));
    // by origin: an exact release lists every group or none, and on 200 generated rows some prefectures hold
    // fewer than k visitors from outside Yunnan (the demo's 20,000 rows hold enough in every one)
    writeFileSync(dir(buyer, 'computation.json'), JSON.stringify({ ...tourism.computation, groupBy: ['origin'] }));
  });
  after(async () => {
    await t?.stop();
    for (const u of [op, owner, buyer, reviewer]) u.cleanup();
  });

  it('operator: login --bootstrap (0600 profile, key kept), whoami, profiles without tokens', async () => {
    const r = await op.json(['login', '--bootstrap', t.bootstrapFile], {}, 'spawned');
    expect(r.user.role).to.equal('operator');
    expect(r.enclaveFingerprint).to.match(/^[0-9a-f]{64}$/);
    expect(statSync(r.path).mode & 0o777).to.equal(0o600);
    expect((await op.json(['whoami'], {}, 'spawned')).user.id).to.equal(t.bootstrap.userId);
    const profiles = await op.json(['profiles']);
    expect(profiles.profiles[0].keyFile).to.be.a('string');
    expect(JSON.stringify(profiles)).not.to.contain(t.bootstrap.token);
  });

  it('admin org create/list and user create/list give each role its first token', async () => {
    for (const [k, name] of [['ownerOrg', '云南文旅数据有限公司'], ['buyerOrg', '滇中旅游规划研究院'], ['reviewerOrg', '数据合规审查办公室']] as const) {
      const o = await op.json(['admin', 'org', 'create', '--name', name, '--region', 'CN-53']);
      expect(o).to.include({ name, region: 'CN-53' });
      ids[k] = o.id;
    }
    expect((await op.json(['admin', 'org', 'list'])).items.map((o: { id: string }) => o.id)).to.include.members([ids.ownerOrg, ids.buyerOrg]);
    for (const role of ['owner', 'buyer', 'reviewer'] as const) {
      const r = await op.json(['admin', 'user', 'create', '--org', ids[`${role}Org`]!, '--name', `${role}-1`, '--role', role]);
      expect(r.user.role).to.equal(role);
      ids[role] = r.user.id;
      tokens[role] = r.token.token;
    }
    const users = await op.json(['admin', 'user', 'list', '--org', ids.buyerOrg!]);
    expect(users.items.map((u: { id: string }) => u.id)).to.deep.equal([ids.buyer]);
  });

  it('users log in with url + token; a reviewer registers a key (shuyu sm2 keygen) and the operator certifies it', async () => {
    for (const [u, role] of [[owner, 'owner'], [buyer, 'buyer'], [reviewer, 'reviewer']] as const) {
      const r = await u.json(['login', '--url', t.url, '--token', tokens[role]!]);
      expect(r.user.id).to.equal(ids[role]);
    }
    await reviewer.json(['sm2', 'keygen', '--out', dir(reviewer, 'keys')]);
    const reg = await reviewer.json(['key', 'register', '--key', dir(reviewer, 'keys', 'private.pem')]);
    expect(reg.userId).to.equal(ids.reviewer);
    const cert = await op.json(['admin', 'certify', ids.reviewer!, '--days', '30']);
    expect(cert.fingerprint).to.equal(reg.keyFingerprint);
  });

  it('login refuses an enclave key that changed since it was pinned, unless --repin', async () => {
    const file = JSON.parse(readFileSync(dir(buyer, 'shuyu', 'profiles.json'), 'utf8'));
    const real = file.profiles.default.enclave;
    const other = sm2KeyPair().publicKey;
    file.profiles.default.enclave = { publicKeyPem: sm2PublicKeyToPem(other), fingerprint: sm2Fingerprint(other), pinnedAt: real.pinnedAt };
    writeFileSync(dir(buyer, 'shuyu', 'profiles.json'), JSON.stringify(file));
    const refused = await buyer.run(['login', '--url', t.url, '--token', tokens.buyer!, '--json']);
    expect(refused.code).to.equal(1);
    expect(refused.json.error.type).to.equal('enclave-key-changed');
    const repinned = await buyer.json(['login', '--url', t.url, '--token', tokens.buyer!, '--repin']);
    expect(repinned.enclaveFingerprint).to.equal(real.fingerprint);
  });

  it('admin token issue/revoke: SHUYU_URL/SHUYU_TOKEN work until the token is revoked (then exit 1, 401)', async () => {
    const tok = await op.json(['admin', 'token', 'issue', ids.buyer!, '--days', '1']);
    const env = { SHUYU_URL: t.url, SHUYU_TOKEN: tok.token };
    expect((await buyer.json(['whoami'], env)).user.id).to.equal(ids.buyer);
    expect((await op.json(['admin', 'token', 'revoke', tok.tokenId])).revoked).to.equal(tok.tokenId);
    const refused = await buyer.spawned(['whoami', '--json'], env);
    expect(refused.code).to.equal(1);
    expect(refused.json.error.status).to.equal(401);
  });

  it('admin topup, wallet and policy show', async () => {
    const txn = await op.json(['admin', 'topup', ids.buyerOrg!, '--amount-fen', '500000', '--memo', 'test funds']);
    expect(txn.kind).to.be.a('string');
    expect((await op.json(['admin', 'wallet', ids.buyerOrg!])).availableFen).to.equal(500_000);
    const policy = await op.json(['admin', 'policy', 'show']);
    expect(policy.rules.map((r: { id: string }) => r.id)).to.include('NL-05');
  });

  it('owner describe drafts a schema; owner check: a clean CSV passes (exit 0); one with ID and phone numbers is flagged with levels (exit 1)', async () => {
    const draft = await owner.json(['owner', 'describe', dir(owner, 'tourism.csv'), '--sector', 'tourism', '--out', dir(owner, 'draft.json')]);
    expect(draft.schema.columns.find((c: { name: string }) => c.name === 'trip_id').role).to.equal('identifier');
    expect(JSON.parse(readFileSync(dir(owner, 'draft.json'), 'utf8')).sector).to.equal('tourism');
    const ok = await owner.json(['owner', 'check', dir(owner, 'tourism.csv'), '--schema', dir(owner, 'tourism.schema.json')]);
    expect(ok.ok).to.equal(true);
    expect(ok.validation.rows).to.equal(200);
    expect(ok.pii.flagged).to.deep.equal([]);
    const schema = {
      sector: 'tourism',
      columns: [
        { name: 'guest', type: 'text', role: 'attribute', level: 2 },
        { name: 'phone', type: 'text', role: 'attribute', level: 2 },
        { name: 'spend', type: 'int', role: 'measure', level: 2, bounds: [0, 10_000] },
      ],
    };
    const idsCol = fc.sample(validResidentId, { numRuns: 40, seed: 3 });
    const phones = fc.sample(validMobile, { numRuns: 40, seed: 3 });
    writeFileSync(dir(owner, 'guests.schema.json'), JSON.stringify(schema));
    writeFileSync(dir(owner, 'guests.csv'), 'guest,phone,spend\n' + idsCol.map((id, i) => `${id},${phones[i]},${i * 10}`).join('\n') + '\n');
    const bad = await owner.run(['owner', 'check', dir(owner, 'guests.csv'), '--schema', dir(owner, 'guests.schema.json'), '--json']);
    expect(bad.code).to.equal(1);
    expect(bad.json.ok).to.equal(false);
    expect(bad.json.validation.ok).to.equal(true);
    expect(bad.json.pii.flagged).to.deep.equal(['guest', 'phone']);
    expect(bad.json.pii.suggestedLevel).to.equal(3);
    expect(bad.json.pii.columns[0].suggestedTags).to.deep.equal(['personal', 'sensitive-personal']);
    // upload refuses the same file before anything is sealed or sent
    const refused = await owner.run(['owner', 'upload', dir(owner, 'guests.csv'), '--schema', dir(owner, 'guests.schema.json'), '--title', 'guests', '--json']);
    expect(refused.code).to.equal(1);
    expect(refused.json.error.type).to.equal('check-failed');
  });

  it('owner seal writes a bundle and reports rows/s; owner upload checks, seals and uploads; owner datasets lists it', async () => {
    const sealed = await owner.json(['owner', 'seal', dir(owner, 'tourism.csv'), '--schema', dir(owner, 'tourism.schema.json'), '--out', dir(owner, 'bundle')]);
    expect(sealed.rows).to.equal(200);
    expect(sealed.rowsPerSecond).to.be.greaterThan(0);
    expect(existsSync(dir(owner, 'bundle', 'manifest.json'))).to.equal(true);
    const up = await owner.json([
      'owner', 'upload', dir(owner, 'tourism.csv'), '--schema', dir(owner, 'tourism.schema.json'), '--title', '游客消费 tourist spending',
      '--sector', 'tourism', '--keywords', '旅游,spending',
    ]);
    expect(up.dataset.rowCount).to.equal(200);
    expect(up.dataset.sector).to.equal('tourism');
    expect(up.sealing.rows).to.equal(200);
    ids.dataset = up.dataset.id;
    const list = await owner.json(['owner', 'datasets']);
    expect(list.items.map((d: { id: string }) => d.id)).to.deep.equal([ids.dataset]);
  });

  it('owner offer/offers/revise/withdraw', async () => {
    const w = await owner.json(['owner', 'offer', ids.dataset!, '--file', dir(owner, 'tourism.offer.json')]);
    expect(w.offer.version).to.equal(1);
    expect(w.screening.decision).to.equal('allow');
    ids.offer = w.offer.id;
    const second = await owner.json(['owner', 'offer', ids.dataset!, '--file', dir(owner, 'tourism.offer.json')]);
    const revised = await owner.json(['owner', 'revise', ids.offer!, '--file', dir(owner, 'tourism.offer.json')]);
    expect(revised.offer.version).to.equal(2);
    const withdrawn = await owner.json(['owner', 'withdraw', second.offer.id]);
    expect(withdrawn.status).to.equal('withdrawn');
    const offers = await owner.json(['owner', 'offers', ids.dataset!]);
    expect(offers.items.map((o: { id: string }) => o.id)).to.deep.equal([ids.offer]);
  });

  it('catalog search/show/sample and buyer offers', async () => {
    const c = await buyer.json(['catalog', '--sector', 'tourism', '--q', '游客']);
    expect(c.items.map((d: { id: string }) => d.id)).to.deep.equal([ids.dataset]);
    expect(c.items[0].activeOffers).to.equal(1);
    const show = await buyer.json(['catalog', 'show', ids.dataset!]);
    expect(show.schema.columns.map((x: { name: string }) => x.name)).to.include('spend_yuan');
    const sample = await buyer.json(['catalog', 'sample', ids.dataset!, '--rows', '3']);
    expect(sample.generated).to.equal(true);
    expect(sample.rows).to.have.length(3);
    const offers = await buyer.json(['buyer', 'offers', ids.dataset!]);
    expect(offers.items[0].id).to.equal(ids.offer);
  });

  it('buyer quote, request (a reused Idempotency-Key never holds twice), cancel', async () => {
    const args = ['--computation', dir(buyer, 'computation.json'), '--purpose', tourism.purpose.statement, '--destination', 'CN-53'];
    const q = await buyer.json(['buyer', 'quote', ids.offer!, ...args]);
    expect(q.statement.priceFen).to.be.a('number').greaterThan(0);
    expect(q.statement.purpose.code).to.equal('tourism-planning');
    const r = await buyer.json(['buyer', 'request', ids.offer!, ...args, '--idempotency-key', 'cli-test-request-0001']);
    expect(r.trade.state).to.equal('under_review');
    ids.trade = r.trade.id;
    // a re-run with the same key never makes a second trade or hold (the new quote differs → 409)
    const rerun = await buyer.run(['buyer', 'request', ids.offer!, ...args, '--idempotency-key', 'cli-test-request-0001', '--json']);
    expect(rerun.code).to.equal(1);
    expect(rerun.json.error.status).to.equal(409);
    const again = await buyer.json(['buyer', 'request', ids.offer!, ...args, '--idempotency-key', 'cli-test-request-0002']);
    const cancelled = await buyer.json(['buyer', 'cancel', again.trade.id, '--reason', 'asked twice by mistake']);
    expect(cancelled.state).to.equal('cancelled');
    const toReject = await buyer.json(['buyer', 'request', ids.offer!, ...args]);
    ids.rejectTrade = toReject.trade.id;
    const missingPurpose = await buyer.run(['buyer', 'request', ids.offer!, '--computation', dir(buyer, 'computation.json'), '--json']);
    expect(missingPurpose.code).to.equal(2);
  });

  it('reviewer queue/show/approve (signed with the registered key) and reject', async () => {
    const queue = await reviewer.json(['reviewer', 'queue']);
    expect(queue.items.map((x: { id: string }) => x.id)).to.include.members([ids.trade, ids.rejectTrade]);
    const c = await reviewer.json(['reviewer', 'show', ids.trade!]);
    expect(c.trade.id).to.equal(ids.trade);
    expect(c.approvalTemplate.reviewerId).to.equal(ids.reviewer);
    const approved = await reviewer.json(['reviewer', 'approve', ids.trade!, '--reason', 'aggregate by origin; purpose fits the offer']);
    expect(approved.state).to.be.oneOf(['approved', 'executing', 'delivered', 'settled']);
    const rejected = await reviewer.json(['reviewer', 'reject', ids.rejectTrade!, '--reason', 'duplicate request; not needed']);
    expect(rejected.state).to.equal('rejected');
  });

  it('buyer result --wait verifies and writes the receipt; shuyu verify accepts it against the login pin', async () => {
    const out = dir(buyer, 'receipt.json');
    const r = await buyer.json(['buyer', 'result', ids.trade!, '--wait', '--timeout', '180', '--out', out], {}, 'spawned');
    expect(r.verified).to.equal(true);
    expect(r.payload.tradeId).to.equal(ids.trade);
    expect(JSON.parse(readFileSync(out, 'utf8')).algorithm).to.equal('SM2-SM3');
    const v = await buyer.json(['verify', out]);
    expect(v.valid).to.equal(true);
    // the README's OpenSSL recipe, against the key `shuyu enclave --out` exports from the pin
    const pem = dir(buyer, 'enclave.pem');
    const e = await buyer.json(['enclave', '--out', pem]);
    expect(e.fingerprint).to.equal(r.pinnedFingerprint);
    const receipt = JSON.parse(readFileSync(out, 'utf8'));
    writeFileSync(dir(buyer, 'payload.txt'), receipt.payload);
    writeFileSync(dir(buyer, 'sig.der'), Buffer.from(receipt.signature, 'base64'));
    const ossl = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-digest', 'sm3', '-pkeyopt', 'distid:1234567812345678', '-in', dir(buyer, 'payload.txt'), '-sigfile', dir(buyer, 'sig.der')], { encoding: 'utf8' });
    expect(ossl.stdout + ossl.stderr).to.match(/Signature Verified Successfully/);
    const tr = await buyer.json(['buyer', 'trade', ids.trade!]);
    expect(tr.state).to.be.oneOf(['delivered', 'settled']);
    expect(tr.transitions.map((x: { to: string }) => x.to)).to.include('approved');
    const list = await buyer.json(['buyer', 'trades']);
    expect(list.items).to.have.length(3);
    const wallet = await buyer.json(['buyer', 'wallet']);
    expect(wallet.wallet.availableFen).to.equal(500_000 - tr.priceFen);
    expect(wallet.wallet.heldFen).to.equal(0);
  });

  it('owner trades and revenue show the delivered trade and its share', async () => {
    const tr = await owner.json(['owner', 'trades']);
    const delivered = tr.items.find((x: { id: string }) => x.id === ids.trade);
    expect(delivered.ownerShareFen).to.be.greaterThan(0);
    const rev = await owner.json(['owner', 'revenue']);
    expect(rev.wallet.revenueFen).to.equal(delivered.ownerShareFen);
  });

  it('audit checkpoint/events/verify', async () => {
    const cp = await op.json(['audit', 'checkpoint']);
    expect(cp).to.be.an('object');
    const ev = await op.json(['audit', 'events', '--entity', ids.trade!]);
    expect(ev.events.length).to.be.greaterThan(3);
    const v = await op.json(['audit', 'verify']);
    expect(v.ok).to.equal(true);
    expect(v.checkpoints).to.be.greaterThan(0);
  });

  it('exit codes: not logged in 2, bad option 2, role refused 1 (403)', async () => {
    const nobody = new CliUser('nobody');
    try {
      const r = await nobody.spawned(['whoami', '--json']);
      expect(r.code).to.equal(2);
      expect(r.json.error.type).to.equal('not-logged-in');
      expect((await nobody.spawned(['catalog', '--sector', 'moon'])).code).to.equal(2);
      expect((await nobody.run(['catalog', '--sector', 'moon'])).code).to.equal(2);
      const forbidden = await buyer.spawned(['admin', 'org', 'list', '--json']);
      expect(forbidden.code).to.equal(1);
      expect(forbidden.json.error.status).to.equal(403);
    } finally {
      nobody.cleanup();
    }
  });

  it('shuyu server start --json listens, answers, and stops on SIGTERM with exit 0', async () => {
    const dataDir = dir(op, 'srv');
    mkdirSync(dataDir);
    const child = spawn(process.execPath, [resolve('bin/shuyu.js'), 'server', 'start', '--data-dir', dataDir, '--port', '0', '--json'], {
      env: { ...process.env, SHUYU_LOG_LEVEL: 'warn', SHUYU_MASTER_SECRET: 'cli-server-start-test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const started = Date.now();
    while (!stdout.trim().endsWith('}') && Date.now() - started < 120_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    const info = JSON.parse(stdout);
    expect(info.bootstrap.created).to.equal(true);
    const health = (await (await fetch(`${info.url}/v1/health`)).json()) as { status: string };
    expect(health.status).to.be.oneOf(['ok', 'degraded']);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).to.equal(0);
    expect(statSync(join(dataDir, 'bootstrap.json')).mode & 0o777).to.equal(0o600);
  });
});
