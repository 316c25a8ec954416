import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fromB64 } from '../../crypto/index.js';
import { liveServer, liveActor, market, quoteAndSubmit, approve, waitForTrade, offerInput, topUp, type Live, type Market, releaseLive } from './fixture.js';

const buyerSupplied: string[] = [];
const wallet = async (l: Live, auth: Record<string, string>) => (await l.http().get('/v1/ledger/wallet').set(auth)).body;

describe('server: the whole trade over real HTTP (upload → offer → quote → submit → screen → review → job → receipt → settlement)', function () {
  this.timeout(180_000);
  let l: Live;
  let m: Market;
  before(async () => {
    l = await liveServer();
    m = await market(l, { tag: 'full' });
  });
  after(() => releaseLive());

  it('delivers a receipt that verifies with openssl, and the ledger shows hold → capture with owner share and fee', async () => {
    const before = await wallet(l, m.buyer.auth);
    expect(before.availableFen).to.equal(100_000);
    const { quote, trade, status } = await quoteAndSubmit(l, m);
    expect(status, JSON.stringify(trade)).to.equal(201);
    expect(trade.state).to.equal('under_review');
    expect(trade.priceFen).to.equal(5000);
    const held = await wallet(l, m.buyer.auth);
    expect(held.availableFen).to.equal(95_000);
    expect(held.heldFen).to.equal(5000);

    // the reviewer's queue shows it, with its findings and price
    const queue = await l.http().get('/v1/reviews').set(m.reviewer.auth);
    expect(queue.body.items.map((t: { id: string }) => t.id)).to.include(trade.id);
    const decided = await approve(l, m, trade.id);
    expect(decided.status, JSON.stringify(decided.body)).to.equal(200);
    expect(decided.body.state).to.equal('approved');

    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed']);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    expect(done.transitions.map((t: { to: string }) => t.to)).to.deep.equal(['screened', 'under_review', 'approved', 'executing', 'delivered', 'settled']);

    const res = await l.http().get(`/v1/trades/${trade.id}/result`).set(m.buyer.auth);
    expect(res.status).to.equal(200);
    const receipt = res.body.receipt;
    expect(receipt.algorithm).to.equal('SM2-SM3');
    expect(receipt.publicKeyPem).to.equal(l.enclaveInfo.signing.publicKeyPem);
    const payload = JSON.parse(receipt.payload);
    expect(JSON.stringify(payload)).to.include(trade.id);
    // the released numbers equal the plaintext answer
    const rows = m.fixture.rows;
    for (const region of ['Kunming', 'Dali', 'Lijiang']) {
      const mine = rows.filter((r) => r[1] === region);
      const g = res.body.result.groups.find((x: { key: string[] }) => x.key[0] === region);
      expect(g, region).to.exist;
      expect(g.values.count).to.equal(mine.length);
      expect(g.values['sum(spend)']).to.be.closeTo(mine.reduce((a, r) => a + Number(r[2]), 0), 1e-6);
    }

    const dir = mkdtempSync(join(l.dir, 'receipt-'));
    writeFileSync(join(dir, 'payload'), receipt.payload, 'utf8');
    writeFileSync(join(dir, 'sig'), fromB64(receipt.signature));
    writeFileSync(join(dir, 'pub.pem'), receipt.publicKeyPem);
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', 'distid:1234567812345678', '-in', join(dir, 'payload'), '-sigfile', join(dir, 'sig')]).toString();
    expect(out).to.match(/Signature Verified Successfully/);
    // one changed byte and openssl refuses
    writeFileSync(join(dir, 'payload'), receipt.payload.replace(trade.id, trade.id.slice(0, -1) + (trade.id.endsWith('0') ? '1' : '0')), 'utf8');
    expect(() => execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', 'distid:1234567812345678', '-in', join(dir, 'payload'), '-sigfile', join(dir, 'sig')], { stdio: 'pipe' })).to.throw();

    const after = await wallet(l, m.buyer.auth);
    expect(after.availableFen).to.equal(95_000);
    expect(after.heldFen).to.equal(0);
    const ownerWallet = await wallet(l, m.owner.auth);
    expect(ownerWallet.revenueFen).to.equal(4500);
    const fee = await l.srv.app.trade.contracts.platformFeeFen();
    expect(fee).to.be.at.least(500);
    const st = await l.http().get('/v1/ledger/statements').set(m.buyer.auth);
    expect(st.body.transactions.map((t: { kind: string }) => t.kind)).to.deep.equal(['top-up', 'hold']);
    expect((await l.srv.app.trade.contracts.tradeLedger(trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);
    const ost = await l.http().get('/v1/ledger/statements').set(m.owner.auth);
    const cap = ost.body.transactions.find((t: { kind: string }) => t.kind === 'capture');
    expect(cap.entries).to.deep.include({ accountId: `revenue:${m.owner.orgId}`, amount: 4500 });
    expect(cap.entries).to.deep.include({ accountId: 'fee:platform', amount: 500 });

    // the job ran exactly once, the audit chain verifies
    const job = (await l.srv.db.get('SELECT state, attempts FROM jobs WHERE trade_id = ?', trade.id)) as { state: string; attempts: number };
    expect(job).to.deep.equal({ state: 'done', attempts: 1 });
    const cp = await l.http().post('/v1/audit/checkpoints').set(l.operator.auth);
    expect(cp.status).to.equal(201);
    // quotes and checkpoints are signed inside the enclave, by its published key — the server holds no signing key
    const enclaveKey = (await l.http().get('/v1/enclave')).body.signing.fingerprint;
    expect(JSON.stringify(cp.body)).to.include(enclaveKey);
    expect(quote.statement.keyFingerprint).to.equal(enclaveKey);
    expect(readdirSync(l.srv.config.dataDir)).to.not.include('platform-signing-key.sealed');
    const v = await l.http().get('/v1/audit/verify').set(l.operator.auth);
    expect(v.body.ok, JSON.stringify(v.body)).to.equal(true);
    // server-side changes are in the same chain: the dataset's publication, the reviewer's certification
    const ds = await l.http().get('/v1/audit/events').query({ entityId: m.dataset.id }).set(l.operator.auth);
    expect(ds.body.events.map((e: { action: string }) => e.action)).to.include('dataset.published');
    const rv = await l.http().get('/v1/audit/events').query({ entityId: m.reviewer.userId }).set(l.operator.auth);
    expect(rv.body.events.map((e: { action: string }) => e.action)).to.include.members(['user.created', 'user.key-registered', 'reviewer.certified']);
    const tr = await l.http().get('/v1/audit/events').query({ entityId: trade.id }).set(l.operator.auth);
    expect(tr.body.events.map((e: { action: string }) => e.action)).to.include.members(['trade.submitted', 'trade.approved', 'trade.settled']);
  });

  it('a rejected trade releases the hold; a negative-list denial never reaches a reviewer and releases at once', async () => {
    const start = (await wallet(l, m.buyer.auth)).availableFen;
    const { trade } = await quoteAndSubmit(l, m);
    expect((await wallet(l, m.buyer.auth)).availableFen).to.equal(start - 5000);
    const r = await l.http().post(`/v1/reviews/${trade.id}/decision`).set(m.reviewer.auth).send({ decision: 'reject', reason: 'purpose statement too vague' });
    expect(r.status).to.equal(200);
    expect(r.body.state).to.equal('rejected');
    expect((await wallet(l, m.buyer.auth)).availableFen).to.equal(start);

    // a buyer on the entity list is denied at screening, the rule named with its title and basis
    const org = await l.http().post('/v1/orgs').set(l.operator.auth).send({ name: 'Example Prohibited Data Broker Ltd' });
    const broker = await liveActor(l, 'buyer', { id: org.body.id });
    await topUp(l, broker.orgId, 10_000);
    const denied = await quoteAndSubmit(l, { ...m, buyer: broker });
    expect(denied.status).to.equal(201);
    expect(denied.trade.state).to.equal('rejected');
    expect(denied.trade.screening.decision).to.equal('deny');
    const nl06 = denied.trade.screening.findings.find((f: { ruleId: string }) => f.ruleId === 'NL-06');
    expect(nl06).to.deep.include({ code: 'negative-list.deny', basis: '云南省行业级大数据中心建设指南（试行版）§三(三)1 负面清单' });
    expect(nl06.params).to.deep.include({ ruleId: 'NL-06', title: { zh: '禁止交易主体名单', en: 'Entity list of prohibited buyers' } });
    expect((await wallet(l, broker.auth)).availableFen).to.equal(10_000);
    const queue = await l.http().get('/v1/reviews').set(m.reviewer.auth);
    expect(queue.body.items.map((t: { id: string }) => t.id)).to.not.include(denied.trade.id);
    // prohibited intent in the free text is never decided by its words: it goes to a reviewer with the finding
    const flagged = await quoteAndSubmit(l, m, { purpose: { code: 'market-research', statement: 'build a blacklist of big spenders' } });
    expect(flagged.trade.state).to.equal('under_review');
    expect(flagged.trade.screening.decision).to.equal('review');
    expect(flagged.trade.screening.findings.map((f: { ruleId: string; detail: unknown }) => [f.ruleId, f.detail])).to.deep.equal([
      ['NL-12', { field: 'purpose.statement', resembles: ['credit-blacklisting'] }],
    ]);
    await l.http().post(`/v1/trades/${flagged.trade.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', `cancel-${flagged.trade.id}`).send({ reason: 'rephrasing' });
    expect((await wallet(l, m.buyer.auth)).availableFen).to.equal(start);
    // a cross-border destination goes to review with the rule named
    const xb = await quoteAndSubmit(l, m, { destination: 'DE' });
    expect(xb.trade.state).to.equal('under_review');
    expect(xb.trade.screening.findings.map((f: { ruleId: string }) => f.ruleId)).to.include('NL-07');
    await l.http().post(`/v1/trades/${xb.trade.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', `cancel-${xb.trade.id}`).send({ reason: 'changed plans' });
    expect((await wallet(l, m.buyer.auth)).availableFen).to.equal(start);
  });

  it('a buyer cannot set price or status, replays are idempotent, a reused key with another body is 409', async () => {
    const q = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).send({
      computation: { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [] },
      purpose: { code: 'tourism-planning', statement: 'Count visitors for staffing plans' },
      destination: 'CN',
      price: 1,
    });
    expect(q.status).to.equal(422);
    expect(q.body.errors.map((e: { path: string }) => e.path)).to.include('body.price');
    const good = await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).send({
      computation: { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [] },
      purpose: { code: 'tourism-planning', statement: 'Count visitors for staffing plans' },
      destination: 'CN',
    });
    const computation = { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [] };
    const s1 = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', 'same-key-123').send({ quote: good.body, computation, status: 'approved' });
    expect(s1.status).to.equal(422);
    expect(s1.body.errors.map((e: { path: string }) => e.path)).to.include('body.status');
    const a = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', 'same-key-456').send({ quote: good.body, computation });
    const b = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', 'same-key-456').send({ quote: good.body, computation });
    expect(a.status).to.equal(201);
    expect(b.status).to.equal(201);
    expect(b.body.id).to.equal(a.body.id);
    expect(b.headers['idempotent-replayed']).to.equal('true');
    const c = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', 'same-key-456').send({ quote: good.body, computation: { ...computation, groupBy: ['region'] } });
    expect(c.status).to.equal(409);
    expect(c.body.type).to.match(/idempotency-key-reused$/);
    const none = await l.http().post('/v1/trades').set(m.buyer.auth).send({ quote: good.body, computation });
    expect(none.status).to.equal(400);
    expect(none.body.type).to.match(/missing-idempotency-key$/);
    // a tampered quote (cheaper price) is refused
    const cheap = structuredClone(good.body);
    cheap.statement.priceFen = 1;
    const t = await l.http().post('/v1/trades').set(m.buyer.auth).set('Idempotency-Key', 'cheap-quote-1').send({ quote: cheap, computation });
    expect(t.status).to.equal(422);
    await l.http().post(`/v1/trades/${a.body.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', `cancel-${a.body.id}`).send({ reason: 'test done' });
  });

  it('runs an approved SQL trade in the enclave sandbox and an approved verification (核验), each with a signed receipt', async () => {
    const sql = { kind: 'sql', query: 'SELECT region, COUNT(*) AS n, SUM(spend) AS total FROM dataset GROUP BY region' };
    const s = await quoteAndSubmit(l, m, { computation: sql });
    expect(s.status, JSON.stringify(s.body)).to.equal(201);
    expect((await approve(l, m, s.trade.id)).status).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, s.trade.id, ['settled', 'failed']);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const res = await l.http().get(`/v1/trades/${s.trade.id}/result`).set(m.buyer.auth);
    expect(res.body.result.kind).to.equal('sql');
    for (const region of ['Kunming', 'Dali', 'Lijiang']) {
      const mine = m.fixture.rows.filter((r) => r[1] === region);
      const g = res.body.result.groups.find((x: { key: string[] }) => x.key[0] === region);
      expect(g, JSON.stringify(res.body.result)).to.exist;
      const values = Object.values(g.values).map(Number);
      expect(values).to.include(mine.length);
      expect(values.some((v) => Math.abs(v - mine.reduce((a, r) => a + Number(r[2]), 0)) < 1e-6)).to.equal(true);
    }
    expect(res.body.receipt.publicKeyPem).to.equal(l.enclaveInfo.signing.publicKeyPem);

    // 核验: does a visitor with this id exist? The buyer brings the id; the answer is yes/no only.
    const vo = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth)
      .send(offerInput({ title: 'Visitor id check', allowedKinds: ['verify'], allowedColumns: ['visitor_id'], priceModel: { kind: 'fixed', perQueryFen: 100 } }));
    expect(vo.status, JSON.stringify(vo.body)).to.equal(201);
    const known = m.fixture.rows[7]![0]!;
    buyerSupplied.push(known);
    const verifyMarket = { ...m, offer: vo.body.offer };
    const v = await quoteAndSubmit(l, verifyMarket, { computation: { kind: 'verify', match: { visitor_id: known }, perAttribute: false } });
    expect(v.status, JSON.stringify(v.body)).to.equal(201);
    expect((await approve(l, verifyMarket, v.trade.id)).status).to.equal(200);
    const vd = await waitForTrade(l, m.buyer.auth, v.trade.id, ['settled', 'failed']);
    expect(vd.state, JSON.stringify(vd)).to.equal('settled');
    const vr = await l.http().get(`/v1/trades/${v.trade.id}/result`).set(m.buyer.auth);
    expect(vr.body.result.kind).to.equal('verify');
    expect(JSON.stringify(vr.body.result.answer)).to.match(/true/);
    expect(JSON.stringify(vr.body)).to.not.include(m.fixture.rows[8]![0]!);
  });

  it('a job the enclave refuses for privacy (ε budget spent) fails with a machine-readable reason and is charged as quoted; the reviewer sees the history', async () => {
    const dpOffer = await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth).send(
      offerInput({ title: 'DP counts', allowedKinds: ['aggregate'], terms: { ...(offerInput().terms as object), epsilonPerQuery: 1, epsilonBudgetPerBuyer: 1.5, refusalFeeBps: 2_000 } }),
    );
    expect(dpOffer.status, JSON.stringify(dpOffer.body)).to.equal(201);
    const dm = { ...m, offer: dpOffer.body.offer };
    const first = await quoteAndSubmit(l, dm);
    await approve(l, dm, first.trade.id);
    expect((await waitForTrade(l, m.buyer.auth, first.trade.id, ['settled', 'failed'])).state).to.equal('settled');
    const start = (await wallet(l, m.buyer.auth)).availableFen;
    const second = await quoteAndSubmit(l, dm);
    expect(second.status).to.equal(201);
    expect(second.trade.refusalChargeFen).to.equal(1000); // ⌊5000 × 2000 / 10000⌋, as quoted
    // the reviewer sees who buys (by name), what they bought before here, and the ε left in the enclave's ledger
    const rc = (await l.http().get(`/v1/reviews/${second.trade.id}`).set(m.reviewer.auth)).body;
    expect(rc.buyer.orgId).to.equal(m.buyer.orgId);
    expect(rc.buyer.name).to.be.a('string').and.not.equal('(unknown organisation)');
    expect(rc.owner.orgId).to.equal(m.owner.orgId);
    expect(rc.buyerHistory.settled).to.be.at.least(1);
    expect(rc.buyerHistory.trades).to.be.at.least(rc.buyerHistory.settled);
    expect(rc.buyerHistory.lastDelivered.find((x: { tradeId: string }) => x.tradeId === first.trade.id)).to.deep.include({ kind: 'aggregate', epsilon: 1 });
    expect(rc.buyerHistory).to.deep.include({ privacyRefusals: 0, refusalsUsed: 0, refusalAllowance: 3, epsilonBudget: 1.5 });
    expect(rc.privacyBudget).to.deep.equal({ limitEpsilon: 1.5, epsilonPerQuery: 1, spentEpsilon: 1, remainingEpsilon: 0.5 });
    // what the reviewer signs: the trade and its privacy terms (approval v2)
    expect(rc.approvalTemplate.type).to.equal('shuyu.approval.v2');
    expect(rc.approvalTemplate.privacy).to.deep.equal({ minGroupSize: 5, epsilon: 1, delta: 0, maxRowsPerPerson: 1, epsilonBudgetPerBuyer: 1.5, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 });
    await approve(l, dm, second.trade.id);
    const failed = await waitForTrade(l, m.buyer.auth, second.trade.id, ['settled', 'failed']);
    expect(failed.state).to.equal('failed');
    expect(failed.failureReason).to.be.a('string').and.match(/budget|ε|epsilon/i);
    expect(failed.failure).to.deep.include({ code: 'privacy-refused', type: 'privacy-budget-exhausted', chargedFen: 1000 });
    expect(failed.failure.params).to.include({ limit: 'buyer' });
    const w = await wallet(l, m.buyer.auth);
    expect(w.availableFen).to.equal(start - 1000);
    expect(w.heldFen).to.equal(0);
    const res = await l.http().get(`/v1/trades/${second.trade.id}/result`).set(m.buyer.auth);
    expect(res.status).to.equal(409);
    expect(res.body.detail).to.match(/failed/);
    expect((await l.srv.app.trade.contracts.tradeLedger(second.trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);
    // the next case on this dataset shows the refusal
    const third = await quoteAndSubmit(l, dm);
    const rc3 = (await l.http().get(`/v1/reviews/${third.trade.id}`).set(m.reviewer.auth)).body;
    expect(rc3.buyerHistory).to.deep.include({ privacyRefusals: 1, refusalsUsed: 1 });
    expect(rc3.buyerHistory.lastRefusals.map((x: { tradeId: string; type: string }) => [x.tradeId, x.type])).to.deep.equal([[second.trade.id, 'privacy-budget-exhausted']]);
    await l.http().post(`/v1/trades/${third.trade.id}/cancel`).set(m.buyer.auth).set('Idempotency-Key', `cancel-${third.trade.id}`).send({ reason: 'not needed' });
  });

  it('the owner sets a dataset-wide privacy budget: two buyers together cannot spend more than it', async () => {
    const dm0 = await market(l, { tag: 'dsbudget' });
    const bad = await l.http().put(`/v1/datasets/${dm0.dataset.id}/privacy-budget`).set(dm0.owner.auth).send({ epsilonBudgetTotal: -1 });
    expect(bad.status).to.equal(422);
    const notOwner = await l.http().put(`/v1/datasets/${dm0.dataset.id}/privacy-budget`).set(dm0.buyer.auth).send({ epsilonBudgetTotal: 1.5 });
    expect(notOwner.status).to.be.oneOf([403, 404]);
    const set = await l.http().put(`/v1/datasets/${dm0.dataset.id}/privacy-budget`).set(dm0.owner.auth).send({ epsilonBudgetTotal: 1.5, deltaBudgetTotal: 1e-7 });
    expect(set.status, JSON.stringify(set.body)).to.equal(200);
    expect(set.body.privacyBudget).to.deep.equal({ epsilonBudgetTotal: 1.5, deltaBudgetTotal: 1e-7 });
    const events = (await l.srv.app.trade.contracts.auditEvents({ entityId: dm0.dataset.id })).map((e) => e.action);
    expect(events).to.include('dataset.privacy-budget-set');
    const dpOffer = await l.http().post(`/v1/datasets/${dm0.dataset.id}/offers`).set(dm0.owner.auth).send(
      offerInput({ title: 'DP counts', allowedKinds: ['aggregate'], terms: { ...(offerInput().terms as object), epsilonPerQuery: 1, epsilonBudgetPerBuyer: 5 } }),
    );
    const a = { ...dm0, offer: dpOffer.body.offer };
    const otherBuyer = await liveActor(l, 'buyer');
    await topUp(l, otherBuyer.orgId, 100_000);
    const b = { ...a, buyer: otherBuyer };
    const ta = await quoteAndSubmit(l, a);
    expect(ta.trade.privacyTerms).to.include({ epsilonBudgetTotal: 1.5, deltaBudgetTotal: 1e-7 });
    await approve(l, a, ta.trade.id);
    expect((await waitForTrade(l, a.buyer.auth, ta.trade.id, ['settled', 'failed'])).state).to.equal('settled');
    const tb = await quoteAndSubmit(l, b);
    await approve(l, b, tb.trade.id);
    const refused = await waitForTrade(l, b.buyer.auth, tb.trade.id, ['settled', 'failed']);
    expect(refused.state).to.equal('failed');
    expect(refused.failure).to.deep.include({ code: 'privacy-refused', type: 'privacy-budget-exhausted' });
    expect(refused.failure.params).to.include({ limit: 'dataset', epsilonLimit: 1.5, epsilonSpent: 1 });
  });

  it('the enclave process killed while a job is queued or running: it is restarted and the job completes once', async () => {
    const { trade } = await quoteAndSubmit(l, m);
    const before = l.srv.enclave()!.pid()!;
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    process.kill(before, 'SIGKILL');
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed'], 90_000);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    expect(l.srv.enclave()!.pid()).to.not.equal(before);
    expect((await l.http().get('/v1/health')).body.enclave).to.equal('up');
    expect((await l.srv.app.trade.contracts.tradeLedger(trade.id)).map((t) => t.kind)).to.deep.equal(['hold', 'capture']);
  });

  it('after the full trade, neither the data directory nor the logs hold any of the CSV\'s identifier, measure or attribute values', async () => {
    // identifiers a buyer itself sent for verification are the buyer's knowledge, not a leak
    const secrets = m.fixture.secrets.filter((s) => s.length >= 6 && !buyerSupplied.includes(s));
    expect(secrets.length).to.be.greaterThan(100);
    const hits: string[] = [];
    const scan = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) scan(p);
        else {
          const buf = readFileSync(p);
          const text = buf.toString('latin1');
          for (const s of secrets) if (text.includes(s)) hits.push(`${p}: ${s}`);
        }
      }
    };
    scan(l.srv.config.dataDir);
    const logs = l.logs.join('\n');
    for (const s of secrets) if (logs.includes(s)) hits.push(`log: ${s}`);
    expect(l.logs.length).to.be.greaterThan(20);
    expect(hits).to.deep.equal([]);
    // and no token or private key in the logs
    expect(logs).to.not.include(l.operator.token);
    expect(logs).to.not.match(/BEGIN PRIVATE KEY/);
  });
});
