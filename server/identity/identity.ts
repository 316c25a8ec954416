import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { newId, isoNow, type Clock } from '../../contracts/ids.js';
import { DomainError } from '../../contracts/errors.js';
import { sm3Hex } from '../../crypto/index.js';
import { HttpProblem } from '../http/problems.js';
import type { Principal, RoleName } from '../http/route.js';
import { bearerToken } from '../http/credentials.js';

export interface OrgRow {
  id: string;
  name: string;
  region: string;
  createdAt: string;
}
export interface UserRow {
  id: string;
  orgId: string;
  name: string;
  role: RoleName;
  publicKeyPem: string | null;
  keyFingerprint: string | null;
  createdAt: string;
}

const TOKEN_PREFIX = 'shy_';
export const DEFAULT_TOKEN_TTL_MS = 90 * 24 * 3600_000;

/**
 * Organisations, users and bearer tokens. A token is 32 random bytes shown once; only its SM3 hash
 * is stored, so a copy of the database does not let anyone log in.
 */
/** Appends one event to the SM3 audit chain (contracts/audit), inside the caller's transaction. */
export type AuditSink = (e: { actor: string; entityType: string; entityId: string; action: string; data?: Record<string, unknown> }) => Promise<unknown> | void;

/**
 * How long a token's principal is reused without reading the token again. Revocation through revokeToken drops
 * it at once in this process; on a shared store (PostgreSQL, a cluster's servers) every use is first checked
 * against the credentials revision (migration 0270), so a revocation through any server holds at once on all.
 * On the embedded SQLite file the TTL only bounds how late a change by another connection (a tool) is seen.
 * Expiry is checked on every request regardless.
 */
export const PRINCIPAL_CACHE_MS = 2_000;
const PRINCIPAL_CACHE_MAX = 10_000;
const REVISION = 'SELECT v FROM credentials_revision WHERE id = 1';
const USER_SELECT =
  'SELECT id, org_id AS "orgId", name, role, public_key_pem AS "publicKeyPem", key_fingerprint AS "keyFingerprint", created_at AS "createdAt" FROM users';

export class IdentityService {
  /** Revocations made by this process; a read that overlapped one is not cached. */
  private revocations = 0;
  /** SM3 of a token → its principal, for PRINCIPAL_CACHE_MS (valid, unrevoked tokens only; never the token). */
  private principals = new Map<string, { principal: Principal; expiresAtMs: number; expiresAt: string; until: number; revision: number }>();
  /** Other processes change tokens too: a cached principal is used only while the credentials revision is unchanged. */
  private readonly shared: boolean;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditSink = () => {},
  ) {
    this.shared = db.dialect === 'postgres';
  }

  async createOrg(name: string, region = 'CN', actor = 'system'): Promise<OrgRow> {
    const exists = await this.db.get('SELECT 1 AS one FROM orgs WHERE name = ?', name);
    if (exists) throw new DomainError('already-exists', `an organisation named "${name}" already exists`);
    const row: OrgRow = { id: newId(), name, region, createdAt: isoNow(this.clock) };
    await this.db.transaction(async () => {
      await this.db.run('INSERT INTO orgs (id, name, region, created_at) VALUES (?, ?, ?, ?)', row.id, row.name, row.region, row.createdAt);
      await this.audit({ actor, entityType: 'org', entityId: row.id, action: 'org.created', data: { name, region } });
    });
    return row;
  }

  async getOrg(id: string): Promise<OrgRow | null> {
    return (await this.db.get<OrgRow>('SELECT id, name, region, created_at AS "createdAt" FROM orgs WHERE id = ?', id)) ?? null;
  }

  listOrgs(after: string | undefined, limit: number): Promise<OrgRow[]> {
    return this.db.all<OrgRow>('SELECT id, name, region, created_at AS "createdAt" FROM orgs WHERE id > ? ORDER BY id LIMIT ?', after ?? '', limit);
  }

  async createUser(orgId: string, name: string, role: RoleName, actor = 'system'): Promise<UserRow> {
    if (!(await this.getOrg(orgId))) throw new DomainError('not-found', `no organisation with id ${orgId}`);
    const row: UserRow = { id: newId(), orgId, name, role, publicKeyPem: null, keyFingerprint: null, createdAt: isoNow(this.clock) };
    await this.db.transaction(async () => {
      await this.db.run('INSERT INTO users (id, org_id, name, role, created_at) VALUES (?, ?, ?, ?, ?)', row.id, orgId, name, role, row.createdAt);
      await this.audit({ actor, entityType: 'user', entityId: row.id, action: 'user.created', data: { orgId, role } });
    });
    return row;
  }

  async getUser(id: string): Promise<UserRow | null> {
    return (await this.db.get<UserRow>(`${USER_SELECT} WHERE id = ?`, id)) ?? null;
  }

  listUsers(orgId: string | null, after: string | undefined, limit: number): Promise<UserRow[]> {
    return orgId
      ? this.db.all<UserRow>(`${USER_SELECT} WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`, orgId, after ?? '', limit)
      : this.db.all<UserRow>(`${USER_SELECT} WHERE id > ? ORDER BY id LIMIT ?`, after ?? '', limit);
  }

  async issueToken(userId: string, ttlMs = DEFAULT_TOKEN_TTL_MS, actor = 'system'): Promise<{ id: string; token: string; expiresAt: string }> {
    if (!(await this.getUser(userId))) throw new DomainError('not-found', `no user with id ${userId}`);
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const id = newId();
    const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
    await this.db.transaction(async () => {
      await this.db.run('INSERT INTO tokens (id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', id, userId, sm3Hex(token), now.toISOString(), expiresAt);
      // the token id and expiry only: never the token or its hash
      await this.audit({ actor, entityType: 'token', entityId: id, action: 'token.issued', data: { userId, expiresAt } });
    });
    return { id, token, expiresAt };
  }

  /** Revokes a token; `byUser` may revoke only its own tokens unless it is an operator. */
  async revokeToken(tokenId: string, by: Principal): Promise<void> {
    const row = await this.db.get<{ userId: string }>('SELECT user_id AS "userId" FROM tokens WHERE id = ?', tokenId);
    if (!row || (by.role !== 'operator' && row.userId !== by.userId)) throw new DomainError('not-found', `no token with id ${tokenId}`);
    await this.db.transaction(async () => {
      const changed = await this.db.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', isoNow(this.clock), tokenId);
      if (changed) await this.audit({ actor: by.userId, entityType: 'token', entityId: tokenId, action: 'token.revoked', data: { userId: row.userId } });
    });
    this.revocations++;
    for (const [hash, c] of this.principals) if (c.principal.tokenId === tokenId) this.principals.delete(hash);
  }

  /**
   * The principal of an `Authorization: Bearer` header. `tokenHash` is the token's SM3 when the caller
   * already has it (server/http/credentials.ts computes it once per request).
   */
  async authenticate(header: string | undefined, tokenHash?: string | null): Promise<Principal> {
    const token = tokenHash ? null : bearerToken(header);
    if (!tokenHash && token === null) throw new HttpProblem('unauthenticated', 'send your token as "Authorization: Bearer <token>"', { authz: 'token' });
    const hash = tokenHash ?? sm3Hex(token!);
    let c = this.principals.get(hash);
    // a single-row read, a fraction of the token's own read on PostgreSQL; a change drops every cached principal
    if (c && this.shared && c.until > performance.now() && (await this.db.get<{ v: number }>(REVISION))!.v !== c.revision) {
      this.principals.clear();
      c = undefined;
    }
    if (!c || c.until <= performance.now()) {
      if (c) this.principals.delete(hash);
      // a revocation committed while this read was in flight must not be undone by caching what it read
      const generation = this.revocations;
      // the revision in the same statement (one snapshot): what was read is exactly as of that revision
      const row = await this.db.get<Principal & { expiresAt: string; revokedAt: string | null; revision: number }>(
        `SELECT t.id AS "tokenId", t.expires_at AS "expiresAt", t.revoked_at AS "revokedAt", u.id AS "userId", u.org_id AS "orgId", u.role, u.name,
           (${REVISION}) AS revision
         FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?`,
        hash,
      );
      if (!row) throw new HttpProblem('unauthenticated', 'the token is not valid; ask an operator for a new one');
      if (row.revokedAt) throw new HttpProblem('token-revoked', 'the token was revoked; ask an operator for a new one');
      const principal: Principal = Object.freeze({ userId: row.userId, orgId: row.orgId, role: row.role, name: row.name, tokenId: row.tokenId });
      c = { principal, expiresAt: row.expiresAt, expiresAtMs: Date.parse(row.expiresAt), until: performance.now() + PRINCIPAL_CACHE_MS, revision: row.revision };
      if (generation === this.revocations) {
        if (this.principals.size >= PRINCIPAL_CACHE_MAX) this.principals.delete(this.principals.keys().next().value!);
        this.principals.set(hash, c);
      }
    }
    // on every request, by the injected clock (not only when the cache is refreshed)
    if (c.expiresAtMs <= this.clock.now().getTime()) throw new HttpProblem('token-expired', `the token expired at ${c.expiresAt}; ask an operator for a new one`);
    return c.principal;
  }

  async registerKey(userId: string, publicKeyPem: string, fingerprint: string): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.run('UPDATE users SET public_key_pem = ?, key_fingerprint = ? WHERE id = ?', publicKeyPem, fingerprint, userId);
      await this.audit({ actor: userId, entityType: 'user', entityId: userId, action: 'user.key-registered', data: { fingerprint } });
    });
  }

  async operator(): Promise<UserRow | null> {
    const r = await this.db.get<{ id: string }>("SELECT id FROM users WHERE role = 'operator' ORDER BY id LIMIT 1");
    return r ? this.getUser(r.id) : null;
  }

  async saveReviewerCertificate(reviewerId: string, fingerprint: string, certificate: unknown, issuedAt: string, expiresAt: string, actor = 'system'): Promise<string> {
    const id = newId();
    await this.db.transaction(async () => {
      await this.db.run(
        'INSERT INTO reviewer_certificates (id, reviewer_id, fingerprint, certificate_json, issued_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        id,
        reviewerId,
        fingerprint,
        JSON.stringify(certificate),
        issuedAt,
        expiresAt,
        isoNow(this.clock),
      );
      await this.audit({ actor, entityType: 'user', entityId: reviewerId, action: 'reviewer.certified', data: { certificateId: id, fingerprint, expiresAt } });
    });
    return id;
  }

  /** The newest certificate of a reviewer for its current key, or null. */
  async reviewerCertificate(reviewerId: string): Promise<{ certificate: unknown; fingerprint: string; expiresAt: string } | null> {
    const r = await this.db.get<{ cert: string; fingerprint: string; expiresAt: string }>(
      `SELECT c.certificate_json AS cert, c.fingerprint, c.expires_at AS "expiresAt" FROM reviewer_certificates c
       JOIN users u ON u.id = c.reviewer_id AND u.key_fingerprint = c.fingerprint
       WHERE c.reviewer_id = ? ORDER BY c.id DESC LIMIT 1`,
      reviewerId,
    );
    return r ? { certificate: JSON.parse(r.cert), fingerprint: r.fingerprint, expiresAt: r.expiresAt } : null;
  }
}
