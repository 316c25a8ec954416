import { expect } from 'chai';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { certifyReviewer } from '../../contracts/review/approval.js';
import { liveServer, releaseLive, liveActor, sealTourism, blobsOf, offerInput, approve, SPEND_BY_REGION, idemKey, type Live, type Market } from './fixture.js';
import { ContractChecker } from './openapi-client.js';

/**
 * Every operation of the served OpenAPI document, called at least once through a client made from that
 * document (openapi-fetch), against a running server with its real enclave: each answer's status must be
 * declared for the operation and its body must validate against the schema declared for that status.
 */
describe('server: every operation of the OpenAPI document through a generated client', function () {
  this.timeout(120_000);
  let l: Live;
  let cc: ContractChecker;
  before(async () => {
    l = await liveServer();
    const doc = (await l.http().get('/v1/openapi.json')).body;
    cc = new ContractChecker(doc, l.srv.url);
  });
  after(() => releaseLive());

  it('answers every operation as the document declares', async () => {
    const ok = <T>(r: { data?: T; error?: unknown; response: Response }, status: number, what: string): T => {
      expect(r.response.status, `${what}: ${String(JSON.stringify(r.error ?? r.data)).slice(0, 400)}`).to.equal(status);
      return r.data as T;
    };
    const anon = cc.client();
    const op = cc.client(l.operator.auth);

    // ── system ──
    ok(await anon.GET('/v1/health'), 200, 'health');
    ok(await anon.GET('/v1/metrics', { parseAs: 'text' }), 200, 'metrics');
    ok(await anon.GET('/v1/openapi.json'), 200, 'openapi');
    ok(await anon.GET('/v1/enclave'), 200, 'enclave');
    ok(await anon.GET('/v1/enclave/galois-keys'), 200, 'galois keys');

    // ── identity ──
    const org = ok<any>(await op.POST('/v1/orgs', { body: { name: `contract org ${Date.now()}` } }), 201, 'create org');
    ok(await op.GET('/v1/orgs', { params: { query: { limit: 2 } } }), 200, 'list orgs');
    const created = ok<any>(await op.POST('/v1/users', { body: { orgId: org.id, name: 'contract buyer', role: 'buyer' } }), 201, 'create user');
    ok(await op.GET('/v1/users', { params: { query: { orgId: org.id } } }), 200, 'list users');
    ok(await op.GET('/v1/users/{id}', { params: { path: { id: created.user.id } } }), 200, 'get user');
    const issued = ok<any>(await op.POST('/v1/users/{id}/tokens', { params: { path: { id: created.user.id } }, body: { ttlDays: 1 } }), 201, 'issue token');
    ok(await op.DELETE('/v1/tokens/{id}', { params: { path: { id: issued.tokenId } } }), 204, 'revoke token');
    const buyerAuth = { Authorization: `Bearer ${created.token.token}` };
    const buyer = cc.client(buyerAuth);
    ok(await buyer.GET('/v1/me'), 200, 'me');
    const kp = sm2KeyPair();
    ok(await buyer.PUT('/v1/me/key', { body: { publicKeyPem: sm2PublicKeyToPem(kp.publicKey) } }), 200, 'register key');

    const reviewer = await liveActor(l, 'reviewer');
    const rv = cc.client(reviewer.auth);
    ok(await rv.GET('/v1/users/{id}/certificate', { params: { path: { id: reviewer.userId } } }), 404, 'no certificate yet');
    const now = Date.now();
    const cert = certifyReviewer(
      {
        type: 'shuyu.reviewer-cert.v1', reviewerId: reviewer.userId, orgId: reviewer.orgId, publicKeyPem: reviewer.keys!.publicKeyPem,
        fingerprint: reviewer.keys!.fingerprint, issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
      },
      l.operator.privateKey,
    );
    ok(await op.PUT('/v1/users/{id}/certificate', { params: { path: { id: reviewer.userId } }, body: { certificate: cert } }), 200, 'certify');
    ok(await rv.GET('/v1/users/{id}/certificate', { params: { path: { id: reviewer.userId } } }), 200, 'read certificate');

    // ── datasets ──
    const owner = await liveActor(l, 'owner');
    const ow = cc.client(owner.auth);
    const fixture = await sealTourism(l, 30, 'oa');
    const upload = ok<any>(await ow.POST('/v1/uploads', { body: { title: 'Contract visitors', description: 'for the contract test', keywords: ['contract'], manifest: fixture.manifest } }), 201, 'create upload');
    for (const b of blobsOf(fixture)) {
      ok(
        await ow.PUT('/v1/uploads/{id}/blobs/{hash}', {
          params: { path: { id: upload.id, hash: b.hash } },
          body: b.bytes as any,
          bodySerializer: (x: unknown) => x as BodyInit,
          headers: { 'Content-Type': 'application/octet-stream' },
        }),
        200,
        'put blob',
      );
    }
    ok(await ow.GET('/v1/uploads/{id}', { params: { path: { id: upload.id } } }), 200, 'get upload');
    const open = ok<any>(await ow.GET('/v1/uploads'), 200, 'list uploads');
    expect(open.items.map((u: { id: string }) => u.id)).to.include(upload.id);
    const dataset = ok<any>(await ow.POST('/v1/uploads/{id}/complete', { params: { path: { id: upload.id } } }), 201, 'complete upload');
    const spare = ok<any>(await ow.POST('/v1/uploads', { body: { title: 'Abandoned', manifest: fixture.manifest } }), 201, 'second upload');
    ok(await ow.DELETE('/v1/uploads/{id}', { params: { path: { id: spare.id } } }), 204, 'abort upload');
    ok(await ow.GET('/v1/datasets', { params: { query: { limit: 5 } } }), 200, 'list datasets');
    ok(await ow.GET('/v1/datasets/{id}', { params: { path: { id: dataset.id } } }), 200, 'get dataset');
    const budgeted = ok<any>(
      await ow.PUT('/v1/datasets/{id}/privacy-budget', { params: { path: { id: dataset.id } }, body: { epsilonBudgetTotal: 50 } }),
      200,
      'set privacy budget',
    );
    expect(budgeted.privacyBudget).to.deep.equal({ epsilonBudgetTotal: 50, deltaBudgetTotal: 1e-6 });
    ok(await buyer.GET('/v1/catalog', { params: { query: { q: 'Contract' } } }), 200, 'search catalogue');
    ok(await buyer.GET('/v1/catalog/{id}', { params: { path: { id: dataset.id } } }), 200, 'catalogue entry');
    ok(await buyer.GET('/v1/catalog/{id}/sample', { params: { path: { id: dataset.id }, query: { rows: 3 } } }), 200, 'sample');

    // ── market ──
    ok(await ow.POST('/v1/datasets/{id}/offers/screen', { params: { path: { id: dataset.id } }, body: offerInput() }), 200, 'screen offer');
    const written = ok<any>(await ow.POST('/v1/datasets/{id}/offers', { params: { path: { id: dataset.id } }, body: offerInput() }), 201, 'create offer');
    const offer = written.offer;
    ok(await buyer.GET('/v1/catalog/{id}/offers', { params: { path: { id: dataset.id } } }), 200, 'list offers');
    ok(await buyer.GET('/v1/offers/{id}', { params: { path: { id: offer.id } } }), 200, 'get offer');
    ok(await ow.POST('/v1/offers/{id}/versions', { params: { path: { id: offer.id } }, body: offerInput({ description: 'revised' }) }), 201, 'revise offer');
    const other = ok<any>(await ow.POST('/v1/datasets/{id}/offers', { params: { path: { id: dataset.id } }, body: offerInput({ title: 'To withdraw' }) }), 201, 'second offer');
    ok(await ow.POST('/v1/offers/{id}/withdraw', { params: { path: { id: other.offer.id } } }), 200, 'withdraw offer');

    // ── ledger ──
    ok(await op.POST('/v1/ledger/topups', { params: { header: { 'Idempotency-Key': idemKey() } }, body: { orgId: org.id, amountFen: 100_000, memo: 'contract' } }), 201, 'top up');
    ok(await buyer.GET('/v1/ledger/wallet'), 200, 'wallet');
    ok(await buyer.GET('/v1/ledger/statements', { params: { query: { limit: 10 } } }), 200, 'statement');

    // ── trades and review ──
    const quoteFor = async () =>
      ok<any>(
        await buyer.POST('/v1/offers/{id}/quotes', {
          params: { path: { id: offer.id } },
          body: { computation: SPEND_BY_REGION, purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' }, destination: 'CN' },
        }),
        201,
        'quote',
      );
    const submit = async () =>
      ok<any>(await buyer.POST('/v1/trades', { params: { header: { 'Idempotency-Key': idemKey() } }, body: { quote: await quoteFor(), computation: SPEND_BY_REGION } }), 201, 'submit');
    const trade = await submit();
    const doomed = await submit();
    ok(await buyer.POST('/v1/trades/{id}/cancel', { params: { path: { id: doomed.id }, header: { 'Idempotency-Key': idemKey() } }, body: { reason: 'changed plans' } }), 200, 'cancel');
    ok(await buyer.GET('/v1/trades', { params: { query: { limit: 5 } } }), 200, 'list trades');
    ok(await buyer.GET('/v1/trades/{id}/result', { params: { path: { id: trade.id } } }), 409, 'result before delivery');
    ok(await rv.GET('/v1/reviews', { params: { query: { limit: 50 } } }), 200, 'review queue');
    ok(await rv.GET('/v1/reviews/{id}', { params: { path: { id: trade.id } } }), 200, 'review case');
    const refused = await submit();
    ok(await rv.POST('/v1/reviews/{id}/decision', { params: { path: { id: refused.id } }, body: { decision: 'reject', reason: 'purpose too vague' } }), 200, 'decide (reject)');
    // approving needs a signed approval of the case's terms: the fixture's reviewer does it as every trade test does
    const approved = await approve(l, { reviewer } as Market, trade.id);
    expect(approved.status, JSON.stringify(approved.body)).to.equal(200);
    let state = '';
    for (const until = Date.now() + 60_000; Date.now() < until && !['settled', 'failed'].includes(state); ) {
      state = ok<any>(await buyer.GET('/v1/trades/{id}', { params: { path: { id: trade.id } } }), 200, 'get trade').state;
      if (!['settled', 'failed'].includes(state)) await new Promise((r) => setTimeout(r, 150));
    }
    expect(state).to.equal('settled');
    ok(await buyer.GET('/v1/trades/{id}/result', { params: { path: { id: trade.id } } }), 200, 'result');

    // ── audit and policy ──
    ok(await op.GET('/v1/audit/events', { params: { query: { limit: 5 } } }), 200, 'audit events');
    ok(await op.POST('/v1/audit/checkpoints'), 201, 'checkpoint');
    ok(await op.GET('/v1/audit/checkpoints'), 200, 'checkpoints');
    ok(await op.GET('/v1/audit/verify'), 200, 'verify audit');
    const policy = ok<any>(await buyer.GET('/v1/policy'), 200, 'policy');
    ok(await buyer.GET('/v1/policy/versions'), 200, 'policy versions');
    const purposes = ok<any>(await buyer.GET('/v1/purposes'), 200, 'purposes');
    expect(purposes.purposes.find((p: { code: string }) => p.code === 'tourism-planning').name.zh).to.equal('旅游规划与服务');
    ok(await buyer.GET('/v1/policy/versions/{policyId}/{version}', { params: { path: { policyId: policy.policyId, version: policy.version } } }), 200, 'policy version');
    // publishing changes the negative list every other test on this server sees: its documented refusal instead
    ok(await op.PUT('/v1/policy', { body: { policyId: policy.policyId } }), 422, 'publish policy (refused)');
    // and a few documented refusals of the shared kinds
    ok(await anon.GET('/v1/me'), 401, 'no token');
    ok(await buyer.GET('/v1/orgs'), 403, 'wrong role');
    ok(await buyer.POST('/v1/trades/{id}/cancel', { params: { path: { id: trade.id } }, body: { reason: 'no key sent' } }), 400, 'no idempotency key');

    // An operation the walk above does not know yet (a route added since) still gets one call: an allowed
    // caller, real objects in its path and an empty body, and its answer (often a documented refusal) is checked.
    const byRole: Record<string, ReturnType<ContractChecker['client']>> = { operator: op, owner: ow, buyer, reviewer: rv };
    const objectFor: Record<string, string> = { users: reviewer.userId, uploads: upload.id, datasets: dataset.id, catalog: dataset.id, offers: offer.id, trades: trade.id, reviews: trade.id };
    const generic: string[] = [];
    for (const o of cc.operations()) {
      if (cc.answers.some((a) => a.operationId === o.operationId)) continue;
      const def = (cc.doc.paths[o.path] as Record<string, any>)[o.method];
      const roles = def['x-roles'];
      const client = roles === 'public' ? anon : byRole[roles[0]] ?? op;
      const path: Record<string, string> = {};
      for (const p of (def.parameters ?? []).filter((x: { in: string }) => x.in === 'path')) path[p.name] = objectFor[o.path.split('/')[2]!] ?? dataset.id;
      const header = (def.parameters ?? []).some((x: { name: string }) => x.name === 'Idempotency-Key') ? { 'Idempotency-Key': idemKey() } : undefined;
      const init = { params: { path, ...(header ? { header } : {}) }, ...(def.requestBody?.content?.['application/json'] ? { body: {} } : {}) };
      await (client as any)[o.method.toUpperCase()](o.path, init);
      generic.push(o.operationId);
    }
    if (generic.length) console.log(`      contract: called generically (add them to the walk): ${generic.join(', ')}`);

    const bad = cc.answers.filter((a) => a.errors.length || !a.declared);
    expect(bad, JSON.stringify(bad.slice(0, 8), null, 1)).to.deep.equal([]);
    const called = new Set(cc.answers.map((a) => a.operationId));
    const missing = cc.operations().filter((o) => !called.has(o.operationId));
    expect(missing, 'operations never called').to.deep.equal([]);
    console.log(`      contract: ${called.size} operations, ${cc.answers.length} answers checked against the document`);
  });
});
