import { z } from 'zod';
import { defineRoute, type RouteDef } from '../../http/route.js';
import { DomainError } from '../../../contracts/errors.js';
import {
  CreateOrgRequest, Org, PageQuery, page, CreateUserRequest, CreateUserResponse, User, IdParams, IssueTokenRequest, TokenIssued,
  Me, RegisterKeyRequest, RegisterKeyResponse, SubmitCertificateRequest, CertificateResponse, Id,
} from '../../../formats/http-api.js';
import { pageOf } from '../pagination.js';
import type { Services } from '../services.js';
import type { UserRow } from '../../identity/identity.js';
import { keyFingerprintOfPem, checkReviewerCertificate } from '../../identity/certificates.js';

const UserListQuery = PageQuery.extend({ orgId: Id.optional() }).strict();

export function identityRoutes(s: Services): RouteDef[] {
  return [
    defineRoute({
      id: 'create-org', method: 'post', path: '/v1/orgs', summary: 'Create an organisation', roles: ['operator'],
      body: CreateOrgRequest, responses: { 201: Org },
      handler: async ({ body, principal }) => ({ status: 201, body: await s.identity.createOrg(body.name, body.region, principal!.userId) }),
    }),
    defineRoute({
      id: 'list-orgs', method: 'get', path: '/v1/orgs', summary: 'List organisations', roles: ['operator'],
      query: PageQuery, responses: { 200: page(Org) },
      handler: async ({ query }) => ({ status: 200, body: pageOf(await s.identity.listOrgs(query.cursor, query.limit + 1), query.limit) }),
    }),
    defineRoute({
      id: 'create-user', method: 'post', path: '/v1/users', summary: 'Create a user and its first token', roles: ['operator'],
      body: CreateUserRequest, responses: { 201: CreateUserResponse },
      handler: async ({ body, principal }) => {
        const user = await s.identity.createUser(body.orgId, body.name, body.role, principal!.userId);
        const t = await s.identity.issueToken(user.id, undefined, principal!.userId);
        return { status: 201, body: { user, token: { tokenId: t.id, token: t.token, expiresAt: t.expiresAt } } };
      },
    }),
    defineRoute({
      id: 'list-users', method: 'get', path: '/v1/users', summary: 'List users', roles: ['operator'],
      query: UserListQuery, responses: { 200: page(User) },
      handler: async ({ query }) => ({ status: 200, body: pageOf(await s.identity.listUsers(query.orgId ?? null, query.cursor, query.limit + 1), query.limit) }),
    }),
    defineRoute({
      id: 'get-user', method: 'get', path: '/v1/users/:id', summary: 'Read a user', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      params: IdParams, object: { resource: 'user', param: 'id' }, responses: { 200: User },
      handler: async ({ object }) => ({ status: 200, body: object as UserRow }),
    }),
    defineRoute({
      id: 'issue-token', method: 'post', path: '/v1/users/:id/tokens', summary: 'Issue a token for a user', roles: ['operator'],
      params: IdParams, object: { resource: 'user', param: 'id' }, body: IssueTokenRequest, responses: { 201: TokenIssued },
      handler: async ({ params, body, principal }) => {
        const t = await s.identity.issueToken(params.id, body.ttlDays * 86_400_000, principal!.userId);
        return { status: 201, body: { tokenId: t.id, token: t.token, expiresAt: t.expiresAt } };
      },
    }),
    defineRoute({
      id: 'revoke-token', method: 'delete', path: '/v1/tokens/:id', summary: 'Revoke a token', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      params: IdParams, responses: { 204: z.undefined() },
      handler: async ({ params, principal }) => {
        await s.identity.revokeToken(params.id, principal!);
        return { status: 204 };
      },
    }),
    defineRoute({
      id: 'me', method: 'get', path: '/v1/me', summary: 'Read the calling user', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      responses: { 200: Me },
      handler: async ({ principal }) => ({ status: 200, body: { user: await s.identity.getUser(principal!.userId)!, org: await s.identity.getOrg(principal!.orgId)! } }),
    }),
    defineRoute({
      id: 'register-key', method: 'put', path: '/v1/me/key', summary: "Register the calling user's SM2 public key", roles: ['owner', 'buyer', 'reviewer', 'operator'],
      body: RegisterKeyRequest, responses: { 200: RegisterKeyResponse },
      handler: async ({ body, principal }) => {
        if (principal!.role === 'operator') {
          // The operator's key is pinned in the enclave at first start; changing it here would orphan every certificate.
          const me = (await s.identity.getUser(principal!.userId))!;
          if (me.publicKeyPem) throw new DomainError('conflict', 'the operator key is pinned in the enclave and cannot be replaced over the API');
        }
        const fingerprint = keyFingerprintOfPem(body.publicKeyPem);
        await s.identity.registerKey(principal!.userId, body.publicKeyPem, fingerprint);
        return { status: 200, body: { userId: principal!.userId, keyFingerprint: fingerprint } };
      },
    }),
    defineRoute({
      id: 'submit-reviewer-certificate', method: 'put', path: '/v1/users/:id/certificate',
      summary: "Submit a reviewer's key certificate signed by the operator", roles: ['operator'],
      params: IdParams, object: { resource: 'user', param: 'id' }, body: SubmitCertificateRequest, responses: { 200: CertificateResponse },
      handler: async ({ object, body, principal }) => {
        const reviewer = object as UserRow;
        const operator = (await s.identity.operator())!;
        const cert = checkReviewerCertificate(body.certificate, reviewer, operator, s.clock.now());
        await s.identity.saveReviewerCertificate(reviewer.id, cert.fingerprint, body.certificate, cert.issuedAt, cert.expiresAt, principal!.userId);
        return { status: 200, body: { reviewerId: reviewer.id, fingerprint: cert.fingerprint, expiresAt: cert.expiresAt, certificate: body.certificate } };
      },
    }),
    defineRoute({
      id: 'get-reviewer-certificate', method: 'get', path: '/v1/users/:id/certificate', summary: "Read a reviewer's key certificate",
      roles: ['reviewer', 'operator'], params: IdParams, object: { resource: 'user', param: 'id' }, responses: { 200: CertificateResponse },
      handler: async ({ params }) => {
        const c = await s.identity.reviewerCertificate(params.id);
        if (!c) throw new DomainError('not-found', `user ${params.id} has no certificate for its current key`);
        return { status: 200, body: { reviewerId: params.id, fingerprint: c.fingerprint, expiresAt: c.expiresAt, certificate: c.certificate } };
      },
    }),
  ];
}
