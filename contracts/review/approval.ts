import { z } from 'zod';
import {
  canonicalJson,
  fromB64,
  sm2Fingerprint,
  sm2PublicKeyFromPem,
  sm2Sign,
  sm2Verify,
  toB64,
  utf8,
} from '../../crypto/index.js';

/**
 * The approval a compliance reviewer signs, and the operator's certificate of the reviewer's key.
 * The enclave verifies both before it runs a computation (it trusts only the operator's public
 * key), so this file is pure: canonical JSON (RFC 8785 style) signed with SM2 (GB/T 32918.2,
 * SM3 digest, ID 1234567812345678), signatures base64 DER.
 */

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const Iso = z.iso.datetime();

/**
 * The privacy terms a reviewer approves with a trade (v2): the enclave refuses a release whose output policy or
 * budget terms differ from them, so nothing the server sends at release time can loosen what was approved.
 */
export const ApprovedPrivacyTerms = z
  .object({
    /** minimum people per released group (k) */
    minGroupSize: z.number().int().min(1).max(1_000_000),
    /** ε of this release (the offer's ε per query); 0 = an exact release */
    epsilon: z.number().min(0).max(100),
    /** δ of this release; 0 = pure ε-DP */
    delta: z.number().min(0).lt(1),
    /** rows one person may contribute to a DP release */
    maxRowsPerPerson: z.number().int().min(1).max(1_000),
    /** ε this buyer may spend on the dataset */
    epsilonBudgetPerBuyer: z.number().min(0).max(100),
    /** data-dependent refusals this buyer may receive on the dataset */
    refusalAllowance: z.number().int().min(0).max(100),
    /** the dataset-wide budget, across all buyers */
    epsilonBudgetTotal: z.number().min(0).max(1_000),
    deltaBudgetTotal: z.number().min(0).lt(1),
  })
  .strict();
export type ApprovedPrivacyTerms = z.infer<typeof ApprovedPrivacyTerms>;

const statementFields = {
  tradeId: z.string().min(1),
  datasetId: z.string().min(1),
  datasetCommitment: z.string().min(1),
  buyerOrgId: z.string().min(1),
  buyerUserId: z.string().min(1),
  offerId: z.string().min(1),
  offerVersion: z.number().int().min(1),
  computationHash: Hex64,
  reviewerId: z.string().min(1),
  reviewerKeyFingerprint: Hex64,
  decidedAt: Iso,
  expiresAt: Iso,
};
/** v1: the trade only. Still verifiable (old approvals, test vectors); a production enclave releases only under v2. */
export const ApprovalStatementV1 = z.object({ type: z.literal('shuyu.approval.v1'), ...statementFields }).strict();
/** v2: the trade and the privacy terms approved with it. */
export const ApprovalStatementV2 = z.object({ type: z.literal('shuyu.approval.v2'), ...statementFields, privacy: ApprovedPrivacyTerms }).strict();
export const ApprovalStatement = z.discriminatedUnion('type', [ApprovalStatementV1, ApprovalStatementV2]);
export type ApprovalStatement = z.infer<typeof ApprovalStatement>;
export type ApprovalStatementV2 = z.infer<typeof ApprovalStatementV2>;

/** What a statement is built from: the trade as the server records it, the terms, the reviewer and their key. */
export interface ApprovalSubject {
  trade: {
    id: string;
    datasetId: string;
    datasetCommitment: string;
    buyerOrgId: string;
    buyerUserId: string;
    offerId: string;
    offerVersion: number;
    computationHash: string;
  };
  /** null only to rebuild a v1 statement */
  privacy: ApprovedPrivacyTerms | null;
  reviewerId: string;
  reviewerKeyFingerprint: string;
}
export type ApprovalTemplate = Omit<ApprovalStatement, 'decidedAt' | 'expiresAt'>;

/**
 * THE approval statement builder (server's template, SDK and console reviewers, tests): the same fields in the
 * same shape everywhere. Without a validity window it returns the template a review case shows.
 */
export function approvalStatementFor(s: ApprovalSubject): ApprovalTemplate;
export function approvalStatementFor(s: ApprovalSubject, window: { decidedAt: string; expiresAt: string }): ApprovalStatement;
export function approvalStatementFor(s: ApprovalSubject, window?: { decidedAt: string; expiresAt: string }): ApprovalTemplate | ApprovalStatement {
  const t = s.trade;
  const fields = {
    tradeId: t.id,
    datasetId: t.datasetId,
    datasetCommitment: t.datasetCommitment,
    buyerOrgId: t.buyerOrgId,
    buyerUserId: t.buyerUserId,
    offerId: t.offerId,
    offerVersion: t.offerVersion,
    computationHash: t.computationHash,
    reviewerId: s.reviewerId,
    reviewerKeyFingerprint: s.reviewerKeyFingerprint,
  };
  const body = s.privacy
    ? { type: 'shuyu.approval.v2' as const, ...fields, privacy: ApprovedPrivacyTerms.parse(s.privacy) }
    : { type: 'shuyu.approval.v1' as const, ...fields };
  if (!window) return body;
  return ApprovalStatement.parse({ ...body, decidedAt: window.decidedAt, expiresAt: window.expiresAt });
}

/** The dataset-wide budget a dataset has until its owner sets one. */
export const DEFAULT_DATASET_BUDGET = { epsilon: 10, delta: 1e-6 } as const;

/** The privacy terms a trade runs under: its k and ε, the offer's caps and allowance, the dataset-wide budget. */
export function privacyTermsFor(
  trade: { minGroupSize: number; epsilonMilli: number },
  offer: { maxRowsPerPerson?: number; epsilonBudgetPerBuyer: number; refusalAllowance?: number },
  dataset: { epsilonBudgetTotal?: number | undefined; deltaBudgetTotal?: number | undefined },
): ApprovedPrivacyTerms {
  return ApprovedPrivacyTerms.parse({
    minGroupSize: trade.minGroupSize,
    epsilon: trade.epsilonMilli / 1000,
    delta: 0, // offers release pure ε-DP (discrete Laplace)
    maxRowsPerPerson: offer.maxRowsPerPerson ?? 1,
    epsilonBudgetPerBuyer: offer.epsilonBudgetPerBuyer,
    refusalAllowance: offer.refusalAllowance ?? 3,
    epsilonBudgetTotal: dataset.epsilonBudgetTotal ?? DEFAULT_DATASET_BUDGET.epsilon,
    deltaBudgetTotal: dataset.deltaBudgetTotal ?? DEFAULT_DATASET_BUDGET.delta,
  });
}

/** The approved privacy terms of a statement, or null for a v1 statement (which approved none). */
export const approvedPrivacyTerms = (statement: ApprovalStatement): ApprovedPrivacyTerms | null =>
  statement.type === 'shuyu.approval.v2' ? statement.privacy : null;

/**
 * Which approved term a release's actual terms differ in (compared exactly: they come from the same numbers),
 * or null when they all agree. `undefined` actual values are terms the release does not use.
 */
export function privacyTermsMismatch(approved: ApprovedPrivacyTerms, actual: Partial<Record<keyof ApprovedPrivacyTerms, number | undefined>>): string | null {
  for (const k of Object.keys(approved) as (keyof ApprovedPrivacyTerms)[]) {
    const v = actual[k];
    if (v !== undefined && v !== approved[k]) return k;
  }
  return null;
}

export const SignedApproval = z.object({ statement: ApprovalStatement, signature: z.string().min(1) }).strict();
export type SignedApproval = z.infer<typeof SignedApproval>;

export const ReviewerCertificateStatement = z
  .object({
    type: z.literal('shuyu.reviewer-cert.v1'),
    reviewerId: z.string().min(1),
    orgId: z.string().min(1),
    publicKeyPem: z.string().min(1),
    fingerprint: Hex64,
    issuedAt: Iso,
    expiresAt: Iso,
  })
  .strict();
export type ReviewerCertificateStatement = z.infer<typeof ReviewerCertificateStatement>;

export const ReviewerCertificate = z.object({ statement: ReviewerCertificateStatement, signature: z.string().min(1) }).strict();
export type ReviewerCertificate = z.infer<typeof ReviewerCertificate>;

export function signApproval(statement: ApprovalStatement, reviewerPrivateKey: Uint8Array): SignedApproval {
  const s = ApprovalStatement.parse(statement);
  return { statement: s, signature: toB64(sm2Sign(reviewerPrivateKey, utf8(canonicalJson(s)))) };
}

export function certifyReviewer(statement: ReviewerCertificateStatement, operatorPrivateKey: Uint8Array): ReviewerCertificate {
  const s = ReviewerCertificateStatement.parse(statement);
  const fp = sm2Fingerprint(sm2PublicKeyFromPem(s.publicKeyPem));
  if (fp !== s.fingerprint) throw new Error('certificate fingerprint does not match its public key');
  return { statement: s, signature: toB64(sm2Sign(operatorPrivateKey, utf8(canonicalJson(s)))) };
}

function sigOk(publicKey: Uint8Array, statement: unknown, signatureB64: string): boolean {
  let sig: Uint8Array;
  try {
    sig = fromB64(signatureB64);
  } catch {
    return false;
  }
  return sm2Verify(publicKey, utf8(canonicalJson(statement)), sig);
}

export type ApprovalCheck = { ok: true } | { ok: false; reason: string };

export interface ApprovalExpectation {
  tradeId: string;
  datasetId: string;
  datasetCommitment: string;
  computationHash: string;
  buyerOrgId: string;
  now: Date;
}

/**
 * Is this a valid approval, by a reviewer the operator certified, for exactly this trade, now?
 * Checks, in order: shapes; the certificate's operator signature and validity window; that its
 * fingerprint is its key's; the approval's reviewer and key match the certificate; the approval's
 * signature; its binding to the expected trade, dataset, commitment, computation and buyer; its
 * validity window; separation of duties (the reviewer's organisation is not the buyer's).
 * Never throws: any bad input is { ok: false, reason }.
 */
export function verifyApproval(approval: unknown, certificate: unknown, operatorPublicKeyPem: string, expected: ApprovalExpectation): ApprovalCheck {
  try {
    const a = SignedApproval.safeParse(approval);
    if (!a.success) return { ok: false, reason: 'approval is malformed' };
    const c = ReviewerCertificate.safeParse(certificate);
    if (!c.success) return { ok: false, reason: 'reviewer certificate is malformed' };
    const cert = c.data.statement;
    const st = a.data.statement;
    const now = expected.now.getTime();

    let operatorKey: Uint8Array;
    try {
      operatorKey = sm2PublicKeyFromPem(operatorPublicKeyPem);
    } catch {
      return { ok: false, reason: 'operator public key is invalid' };
    }
    if (!sigOk(operatorKey, cert, c.data.signature)) return { ok: false, reason: 'reviewer certificate is not signed by the operator' };
    if (now < Date.parse(cert.issuedAt) || now >= Date.parse(cert.expiresAt)) return { ok: false, reason: 'reviewer certificate is not valid now' };
    let reviewerKey: Uint8Array;
    try {
      reviewerKey = sm2PublicKeyFromPem(cert.publicKeyPem);
    } catch {
      return { ok: false, reason: 'reviewer public key in the certificate is invalid' };
    }
    if (sm2Fingerprint(reviewerKey) !== cert.fingerprint) return { ok: false, reason: 'certificate fingerprint does not match its key' };
    if (st.reviewerId !== cert.reviewerId) return { ok: false, reason: 'approval was made by another reviewer than the certificate names' };
    if (st.reviewerKeyFingerprint !== cert.fingerprint) return { ok: false, reason: 'approval names another key than the certificate' };
    if (!sigOk(reviewerKey, st, a.data.signature)) return { ok: false, reason: 'approval signature does not verify' };

    const binding: [keyof ApprovalExpectation & keyof ApprovalStatement, string][] = [
      ['tradeId', 'trade'],
      ['datasetId', 'dataset'],
      ['datasetCommitment', 'dataset commitment'],
      ['computationHash', 'computation'],
      ['buyerOrgId', 'buyer'],
    ];
    for (const [field, what] of binding) {
      if (st[field] !== expected[field]) return { ok: false, reason: `approval is for another ${what}` };
    }
    if (now < Date.parse(st.decidedAt)) return { ok: false, reason: 'approval is dated in the future' };
    if (now >= Date.parse(st.expiresAt)) return { ok: false, reason: 'approval has expired' };
    if (cert.orgId === st.buyerOrgId) return { ok: false, reason: "reviewer belongs to the buyer's organisation" };
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `approval could not be checked: ${(e as Error).message}` };
  }
}
