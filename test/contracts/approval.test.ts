import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { approvalStatementFor, certifyReviewer, privacyTermsMismatch, signApproval, verifyApproval } from '../../contracts/review/approval.js';
import { computationHash } from '../../contracts/computation.js';
import { onEngines } from '../store/engines.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/approval-v1.json', import.meta.url), 'utf8'));
const st = vector.approval.statement;
const expected = () => ({
  tradeId: st.tradeId,
  datasetId: st.datasetId,
  datasetCommitment: st.datasetCommitment,
  computationHash: st.computationHash,
  buyerOrgId: st.buyerOrgId,
  now: new Date(vector.verifyAt),
});
const check = (approval: unknown = vector.approval, certificate: unknown = vector.certificate, exp = expected(), operatorPem: string = vector.operatorPublicKeyPem) =>
  verifyApproval(approval, certificate, operatorPem, exp);

onEngines('contracts/review: the approval statement the enclave verifies', () => {
  it('the committed vector verifies (format stability for enclave/ and client-sdk/)', () => {
    expect(check()).to.deep.equal({ ok: true });
    expect(computationHash(vector.computation)).to.equal(vector.computationHash);
  });

  it('is bound to trade, dataset, commitment, computation and buyer', () => {
    for (const field of ['tradeId', 'datasetId', 'datasetCommitment', 'computationHash', 'buyerOrgId'] as const) {
      const r = check(vector.approval, vector.certificate, { ...expected(), [field]: field === 'computationHash' || field === 'datasetCommitment' ? 'f'.repeat(64) : 'other' });
      expect(r.ok, field).to.equal(false);
    }
  });

  it('any changed statement field or signature byte breaks it', () => {
    for (const key of Object.keys(st)) {
      const changed = { ...vector.approval, statement: { ...st, [key]: typeof st[key] === 'number' ? st[key] + 1 : `${st[key]}x` } };
      expect(check(changed).ok, key).to.equal(false);
    }
    const sig = Buffer.from(vector.approval.signature, 'base64');
    sig[sig.length - 1] ^= 1;
    expect(check({ ...vector.approval, signature: sig.toString('base64') }).ok).to.equal(false);
  });

  it('refuses outside the validity windows of the approval and of the certificate', () => {
    expect(check(vector.approval, vector.certificate, { ...expected(), now: new Date('2026-06-02T00:00:00.000Z') })).to.deep.equal({ ok: false, reason: 'approval has expired' });
    expect(check(vector.approval, vector.certificate, { ...expected(), now: new Date('2026-05-31T23:59:59.000Z') })).to.deep.equal({ ok: false, reason: 'approval is dated in the future' });
    expect(check(vector.approval, vector.certificate, { ...expected(), now: new Date('2027-01-01T00:00:00.000Z') }).ok).to.equal(false);
  });

  it('refuses a certificate not signed by the given operator, or another reviewer’s, or one from the buyer’s organisation', () => {
    const otherOperator = sm2KeyPair();
    expect(check(vector.approval, vector.certificate, expected(), sm2PublicKeyToPem(otherOperator.publicKey))).to.deep.equal({ ok: false, reason: 'reviewer certificate is not signed by the operator' });
    // a genuine certificate from this operator for another reviewer key cannot carry this approval
    const other = sm2KeyPair();
    const forged = certifyReviewer({ ...vector.certificate.statement, publicKeyPem: sm2PublicKeyToPem(other.publicKey), fingerprint: sm2Fingerprint(other.publicKey) }, otherOperator.privateKey);
    expect(check(vector.approval, forged, expected(), sm2PublicKeyToPem(otherOperator.publicKey)).ok).to.equal(false);
    // separation of duties at the enclave too: a certified reviewer of the buyer's organisation
    const op = sm2KeyPair();
    const rk = sm2KeyPair();
    const cert = certifyReviewer({ ...vector.certificate.statement, orgId: st.buyerOrgId, publicKeyPem: sm2PublicKeyToPem(rk.publicKey), fingerprint: sm2Fingerprint(rk.publicKey) }, op.privateKey);
    const appr = signApproval({ ...st, reviewerKeyFingerprint: sm2Fingerprint(rk.publicKey) }, rk.privateKey);
    expect(check(appr, cert, expected(), sm2PublicKeyToPem(op.publicKey))).to.deep.equal({ ok: false, reason: "reviewer belongs to the buyer's organisation" });
  });

  it('v2 states the privacy terms it approves: one builder, signed with the trade, any changed term breaks it', () => {
    const reviewerKey = sm2KeyPair();
    const operator = sm2KeyPair();
    const now = new Date('2026-06-01T00:00:00.000Z');
    const certificate = certifyReviewer(
      {
        type: 'shuyu.reviewer-cert.v1',
        reviewerId: 'u-reviewer',
        orgId: 'org-compliance',
        publicKeyPem: sm2PublicKeyToPem(reviewerKey.publicKey),
        fingerprint: sm2Fingerprint(reviewerKey.publicKey),
        issuedAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2027-01-01T00:00:00.000Z',
      },
      operator.privateKey,
    );
    const privacy = { minGroupSize: 10, epsilon: 0.5, delta: 0, maxRowsPerPerson: 2, epsilonBudgetPerBuyer: 3, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 };
    const trade = { id: st.tradeId, datasetId: st.datasetId, datasetCommitment: st.datasetCommitment, buyerOrgId: st.buyerOrgId, buyerUserId: st.buyerUserId, offerId: st.offerId, offerVersion: st.offerVersion, computationHash: st.computationHash };
    const subject = { trade, privacy, reviewerId: 'u-reviewer', reviewerKeyFingerprint: sm2Fingerprint(reviewerKey.publicKey) };
    const template = approvalStatementFor(subject);
    expect(template).to.not.have.property('decidedAt');
    expect(template).to.deep.include({ type: 'shuyu.approval.v2', tradeId: st.tradeId, privacy });
    const statement = approvalStatementFor(subject, { decidedAt: '2026-05-31T00:00:00.000Z', expiresAt: '2026-06-02T00:00:00.000Z' });
    const approval = signApproval(statement, reviewerKey.privateKey);
    const exp = { ...expected(), now };
    const operatorPem = sm2PublicKeyToPem(operator.publicKey);
    expect(verifyApproval(approval, certificate, operatorPem, exp)).to.deep.equal({ ok: true });
    for (const term of Object.keys(privacy) as (keyof typeof privacy)[]) {
      const changed = { ...approval, statement: { ...approval.statement, privacy: { ...privacy, [term]: privacy[term] + 1 } } };
      expect(verifyApproval(changed, certificate, operatorPem, exp).ok, term).to.equal(false);
      expect(privacyTermsMismatch(privacy, { ...privacy, [term]: privacy[term] + 1 }), term).to.equal(term);
    }
    expect(privacyTermsMismatch(privacy, { ...privacy, maxRowsPerPerson: undefined }), 'a term the release does not use').to.equal(null);
    // v1 (no terms) is still built and verifiable, for approvals made before
    expect(approvalStatementFor({ ...subject, privacy: null }).type).to.equal('shuyu.approval.v1');
  });

  it('never throws on bad input', () => {
    const junk: unknown[] = [undefined, null, 0, 'x', [], {}, { statement: {}, signature: '' }, { statement: st, signature: '!!!' }, { statement: { ...st, extra: 1 }, signature: vector.approval.signature }];
    for (const a of junk) for (const c of junk) expect(verifyApproval(a, c, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    for (const a of junk) expect(verifyApproval(a, vector.certificate, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    for (const c of junk) expect(verifyApproval(vector.approval, c, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    expect(check(vector.approval, vector.certificate, expected(), 'garbage').ok).to.equal(false);
    expect(check(vector.approval, { ...vector.certificate, statement: { ...vector.certificate.statement, publicKeyPem: 'garbage' } }).ok).to.equal(false);
  });
});

onEngines('contracts/review: approvals are bounded by the policy cap and the offer’s validity', () => {
  const approve = async (w: Awaited<ReturnType<typeof setup>>['w'], trade: Awaited<ReturnType<typeof setup>>['trade'], expiresAt: string) =>
    await w.contracts.decideReview({ tradeId: trade.id, reviewer: w.reviewer, decision: { decision: 'approve', reason: 'aggregate by county', approval: w.approvalFor(trade, { expiresAt }) }, certificate: w.certificate });
  const typeOf = async (f: () => unknown): Promise<string> => {
    try {
      await f();
      return 'no error';
    } catch (e) {
      return (e as { type?: string }).type ?? String(e);
    }
  };
  async function setup(validUntil = '2027-12-31T00:00:00.000Z') {
    const { world } = await import('./world.js');
    const { offerInput } = await import('./fixtures.js');
    const w = await world();
    const offer = await w.listOffer({ terms: { ...offerInput().terms, destinations: ['CN'], validUntil } });
    await w.contracts.topUp({ orgId: w.buyer.orgId, amountFen: 100_000, idempotencyKey: 'v', actor: 'operator' });
    const { trade } = await w.quoteAndSubmit({ offerId: offer.id, destination: 'CN' });
    return { w, trade, offer };
  }
  const DAY = 86_400_000;

  it('a 50-year approval is refused with approval-validity-too-long, naming the latest acceptable expiry; 7 days is accepted', async () => {
    const { w, trade } = await setup();
    expect(trade.state).to.equal('under_review');
    const now = w.clock.now().getTime();
    let err: { type?: string; detail?: Record<string, unknown> } = {};
    try {
      await approve(w, trade, new Date(now + 50 * 365 * DAY).toISOString());
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.type).to.equal('approval-validity-too-long');
    expect(err.detail?.maxExpiresAt).to.equal(new Date(now + 7 * DAY).toISOString());
    expect((await w.contracts.getTrade(trade.id)).state).to.equal('under_review'); // nothing changed
    expect(await typeOf(() => approve(w, trade, new Date(now + 7 * DAY + 1000).toISOString()))).to.equal('approval-validity-too-long');
    const ok = await approve(w, trade, new Date(now + 7 * DAY).toISOString());
    expect(ok.state).to.equal('approved');
    expect(ok.expiresAt).to.equal(new Date(now + 7 * DAY).toISOString());
  });

  it('never past the offer’s validUntil: approvals beyond it are refused, and the trade’s deadlines stay within it', async () => {
    const validUntil = '2026-06-02T12:00:00.000Z'; // 36 h after the world's clock
    const { w, trade } = await setup(validUntil);
    // the review deadline (72 h by default) is cut at the offer's end
    expect(trade.expiresAt).to.equal(validUntil);
    expect(await typeOf(() => approve(w, trade, '2026-06-03T00:00:00.000Z'))).to.equal('approval-validity-too-long');
    const ok = await approve(w, trade, validUntil);
    expect(Date.parse(ok.expiresAt!)).to.be.at.most(Date.parse(validUntil));
  });

  it('the cap is a setting of the contracts context', async () => {
    const { createContracts } = await import('../../contracts/index.js');
    const { freshStore, testSigner } = await import('./helpers.js');
    const c = createContracts({ store: (await freshStore()).store, signer: testSigner(), approvalMaxValidityMs: 3_600_000 });
    expect(c.context.approvalMaxValidityMs).to.equal(3_600_000);
    expect(createContracts({ store: (await freshStore()).store, signer: testSigner() }).context.approvalMaxValidityMs).to.equal(7 * DAY);
  });
});
