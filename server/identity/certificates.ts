import { ReviewerCertificate } from '../../contracts/review/approval.js';
import { DomainError } from '../../contracts/errors.js';
import { canonicalJson, fromB64, sm2Verify, sm2PublicKeyFromPem, sm2Fingerprint } from '../../crypto/index.js';
import type { UserRow } from './identity.js';

/** SM3 fingerprint of an SM2 public key PEM (sm2Fingerprint); a bad PEM is the caller's error. */
export function keyFingerprintOfPem(pem: string): string {
  try {
    return sm2Fingerprint(sm2PublicKeyFromPem(pem));
  } catch (e) {
    throw new DomainError('validation-failed', `publicKeyPem is not an SM2 public key: ${(e as Error).message}`);
  }
}

/**
 * The operator certifies a reviewer's key client-side (certifyReviewer) and submits the certificate.
 * The server checks it before storing: the operator's signature, that it names this reviewer, its org
 * and its CURRENT registered key, and that it is in its validity window. The enclave checks it again.
 */
export function checkReviewerCertificate(cert: unknown, reviewer: UserRow, operator: UserRow, now: Date): { fingerprint: string; issuedAt: string; expiresAt: string } {
  if (reviewer.role !== 'reviewer') throw new DomainError('conflict', `user ${reviewer.id} is a ${reviewer.role}, not a reviewer`);
  if (!reviewer.publicKeyPem || !reviewer.keyFingerprint) {
    throw new DomainError('key-not-registered', 'the reviewer has not registered an SM2 public key yet (PUT /v1/me/key)');
  }
  if (!operator.publicKeyPem) throw new DomainError('key-not-registered', 'the operator has no registered key');
  const parsed = ReviewerCertificate.safeParse(cert);
  if (!parsed.success) throw new DomainError('invalid-certificate', 'certificate must be { statement: { type: "shuyu.reviewer-cert.v1", … }, signature }');
  const { statement, signature } = parsed.data;
  let sig: Uint8Array;
  try {
    sig = fromB64(signature);
  } catch {
    throw new DomainError('invalid-certificate', 'certificate.signature is not base64');
  }
  if (!sm2Verify(sm2PublicKeyFromPem(operator.publicKeyPem), canonicalJson(statement), sig)) {
    throw new DomainError('invalid-certificate', "the certificate's signature does not verify with the operator's key");
  }
  if (statement.reviewerId !== reviewer.id || statement.orgId !== reviewer.orgId) {
    throw new DomainError('invalid-certificate', 'the certificate names another reviewer or organisation');
  }
  if (statement.fingerprint !== reviewer.keyFingerprint || keyFingerprintOfPem(statement.publicKeyPem) !== reviewer.keyFingerprint) {
    throw new DomainError('invalid-certificate', "the certificate does not certify the reviewer's registered key");
  }
  const t = now.getTime();
  if (!(Date.parse(statement.issuedAt) <= t + 300_000 && t < Date.parse(statement.expiresAt))) {
    throw new DomainError('invalid-certificate', `the certificate is not valid now (valid ${statement.issuedAt} – ${statement.expiresAt})`);
  }
  return { fingerprint: statement.fingerprint, issuedAt: statement.issuedAt, expiresAt: statement.expiresAt };
}
