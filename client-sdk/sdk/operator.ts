import { DomainError } from '../../contracts/errors.js';
import { type ReviewerCertificate, type ReviewerCertificateStatement, certifyReviewer } from '../../contracts/review/approval.js';
import { sm2Fingerprint, sm2PublicKeyFromPem } from '../../crypto/index.js';
import { ShuyuClient } from './client.js';
import { newId } from '../../contracts/ids.js';
import type {
  AuditEvents, AuditVerification, CertificateResponse, Checkpoints, CreateOrgRequest, CreateUserRequest, CreateUserResponse, LedgerTxn, Org, Page,
  PolicyDocument, PolicyDocumentInput, Statement, TokenIssued, Trade, TradeState, User, Wallet,
} from './types.js';

/** The platform operator: organisations, users and tokens, reviewer certificates, top-ups, policy, audit. */
export class OperatorClient extends ShuyuClient {
  createOrg(req: CreateOrgRequest): Promise<Org> {
    return this.http.post<Org>('/orgs', req);
  }

  orgs(query: { cursor?: string; limit?: number } = {}): Promise<Page<Org>> {
    return this.http.get<Page<Org>>('/orgs', query);
  }

  /** Creates a user and its first bearer token (shown once). */
  createUser(req: CreateUserRequest): Promise<CreateUserResponse> {
    return this.http.post<CreateUserResponse>('/users', req);
  }

  users(query: { orgId?: string; cursor?: string; limit?: number } = {}): Promise<Page<User>> {
    return this.http.get<Page<User>>('/users', query);
  }

  issueToken(userId: string, ttlDays?: number): Promise<TokenIssued> {
    return this.http.post<TokenIssued>(`/users/${userId}/tokens`, ttlDays ? { ttlDays } : {});
  }

  revokeToken(tokenId: string): Promise<void> {
    return this.http.delete<void>(`/tokens/${tokenId}`);
  }

  /** Submits a reviewer certificate the operator signed locally (see `certifyReviewer`). */
  submitCertificate(reviewerId: string, certificate: unknown): Promise<CertificateResponse> {
    return this.http.put<CertificateResponse>(`/users/${reviewerId}/certificate`, { certificate });
  }

  /** Credits an organisation's wallet (integer fen). Idempotent: retry with the same key. */
  topUp(orgId: string, amountFen: number, opts: { memo?: string; idempotencyKey?: string } = {}): Promise<LedgerTxn> {
    return this.http.postIdempotent<LedgerTxn>('/ledger/topups', { orgId, amountFen, memo: opts.memo ?? '' }, opts.idempotencyKey ?? newId());
  }

  wallet(orgId: string): Promise<Wallet> {
    return this.http.get<Wallet>('/ledger/wallet', { orgId });
  }

  statement(orgId: string, query: { after?: number; limit?: number } = {}): Promise<Statement> {
    return this.http.get<Statement>('/ledger/statements', { orgId, ...query });
  }

  trades(query: { state?: TradeState; cursor?: string; limit?: number } = {}): Promise<Page<Trade>> {
    return this.http.get<Page<Trade>>('/trades', query);
  }

  auditEvents(query: { after?: number; limit?: number; entityId?: string } = {}): Promise<AuditEvents> {
    return this.http.get<AuditEvents>('/audit/events', query);
  }

  checkpoints(): Promise<Checkpoints> {
    return this.http.get<Checkpoints>('/audit/checkpoints');
  }

  /** Signs the current head of the audit chain (SM2, platform key). */
  checkpoint(): Promise<Checkpoints['checkpoints'][number]> {
    return this.http.post('/audit/checkpoints');
  }

  /** Recomputes the SM3 hash chain and checks every checkpoint signature, server-side. */
  verifyAudit(): Promise<AuditVerification> {
    return this.http.get<AuditVerification>('/audit/verify');
  }

  policy(): Promise<PolicyDocument> {
    return this.http.get<PolicyDocument>('/policy');
  }

  /** Publishes a new negative-list version (the version number must increase). */
  publishPolicy(doc: PolicyDocumentInput): Promise<PolicyDocument> {
    return this.http.put<PolicyDocument>('/policy', doc);
  }
}

/** Operator-side certificate of a reviewer's registered key (contracts/review/approval.ts format), signed locally: the key never leaves. */
export function reviewerCertificateFor(
  reviewer: { id: string; orgId: string; publicKeyPem: string | null },
  operatorPrivateKey: Uint8Array,
  opts: { validDays?: number; now?: Date } = {},
): ReviewerCertificate {
  if (!reviewer.publicKeyPem) throw new DomainError('key-not-registered', `user ${reviewer.id} has not registered an SM2 public key yet (shuyu key register)`);
  const now = opts.now ?? new Date();
  const statement: ReviewerCertificateStatement = {
    type: 'shuyu.reviewer-cert.v1',
    reviewerId: reviewer.id,
    orgId: reviewer.orgId,
    publicKeyPem: reviewer.publicKeyPem,
    fingerprint: sm2Fingerprint(sm2PublicKeyFromPem(reviewer.publicKeyPem)),
    issuedAt: new Date(now.getTime() - 60_000).toISOString(),
    expiresAt: new Date(now.getTime() + (opts.validDays ?? 365) * 86_400_000).toISOString(),
  };
  return certifyReviewer(statement, operatorPrivateKey);
}
