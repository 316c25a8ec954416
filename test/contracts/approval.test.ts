import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem } from '../../enclave/crypto/index.js';
import { certifyReviewer, computationHash, signApproval, verifyApproval } from '../../contracts/review/approval.js';

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

describe('contracts/review: the approval statement the enclave verifies', () => {
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

  it('never throws on bad input', () => {
    const junk: unknown[] = [undefined, null, 0, 'x', [], {}, { statement: {}, signature: '' }, { statement: st, signature: '!!!' }, { statement: { ...st, extra: 1 }, signature: vector.approval.signature }];
    for (const a of junk) for (const c of junk) expect(verifyApproval(a, c, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    for (const a of junk) expect(verifyApproval(a, vector.certificate, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    for (const c of junk) expect(verifyApproval(vector.approval, c, vector.operatorPublicKeyPem, expected()).ok).to.equal(false);
    expect(check(vector.approval, vector.certificate, expected(), 'garbage').ok).to.equal(false);
    expect(check(vector.approval, { ...vector.certificate, statement: { ...vector.certificate.statement, publicKeyPem: 'garbage' } }).ok).to.equal(false);
  });
});
