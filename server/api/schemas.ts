import { z } from 'zod';
import { DatasetSchema, Level } from '../../contracts/dataset/schema.js';
import { SECTOR_SLUGS } from '../../contracts/dataset/sectors.js';

/**
 * Request and response schemas of the HTTP API — the one definition: the router validates with them,
 * GET /v1/openapi.json is generated from them, and the SDK derives its types from them (z.infer).
 * Requests are `.strict()`: an unknown field (e.g. a buyer sending `status` or `price`) is refused with
 * a 422 naming it, never silently dropped. This module must not import express.
 */

export const Id = z.uuid().describe('UUIDv7');
export const IsoTime = z.iso.datetime();
export const RoleName = z.enum(['owner', 'buyer', 'reviewer', 'operator']);
export const Sm3Hex = z.string().regex(/^[0-9a-f]{64}$/, 'an SM3 digest as 64 lower-case hex characters');
export const PemPublicKey = z.string().min(50).max(2000).regex(/-----BEGIN PUBLIC KEY-----/, 'a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----")');

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .passthrough()
  .meta({ id: 'Problem' });

// ── pagination ───────────────────────────────────────────────────────────────
export const PageQuery = z
  .object({
    cursor: Id.optional().describe('nextCursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(100).default(50),
  })
  .strict();
export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: Id.nullable() });
export const IdParams = z.object({ id: Id }).strict();

// ── health, enclave ──────────────────────────────────────────────────────────
export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  version: z.string(),
  uptimeSeconds: z.number(),
  enclave: z.enum(['up', 'down', 'not-configured']),
  jobs: z.record(z.string(), z.number().int()),
});
/** The enclave's public information as its EnclaveClient returns it (SM2 PEMs, HE parameters and keys, fingerprints). */
export const EnclaveInfo = z.record(z.string(), z.unknown());

// ── identities ───────────────────────────────────────────────────────────────
export const CreateOrgRequest = z
  .object({ name: z.string().trim().min(1).max(200), region: z.string().regex(/^[A-Z]{2}(-[A-Z0-9]{1,3})?$/).default('CN') })
  .strict();
export const Org = z.object({ id: Id, name: z.string(), region: z.string(), createdAt: IsoTime });
export const User = z.object({
  id: Id,
  orgId: Id,
  name: z.string(),
  role: RoleName,
  publicKeyPem: z.string().nullable(),
  keyFingerprint: z.string().nullable(),
  createdAt: IsoTime,
});
export const CreateUserRequest = z.object({ orgId: Id, name: z.string().trim().min(1).max(200), role: RoleName }).strict();
export const IssueTokenRequest = z.object({ ttlDays: z.number().int().min(1).max(365).default(90) }).strict();
export const TokenIssued = z.object({ tokenId: Id, token: z.string(), expiresAt: IsoTime });
export const CreateUserResponse = z.object({ user: User, token: TokenIssued });
export const Me = z.object({ user: User, org: Org });
export const RegisterKeyRequest = z.object({ publicKeyPem: PemPublicKey }).strict();
export const RegisterKeyResponse = z.object({ userId: Id, keyFingerprint: Sm3Hex });
export const SubmitCertificateRequest = z.object({ certificate: z.unknown() }).strict();
export const CertificateResponse = z.object({ reviewerId: Id, fingerprint: z.string(), expiresAt: IsoTime, certificate: z.unknown() });

// ── uploads and datasets ─────────────────────────────────────────────────────
export const Keywords = z.array(z.string().trim().min(1).max(50)).max(20).default([]);
export const CreateUploadRequest = z
  .object({
    title: z.string().trim().min(1).max(200),
    description: z.string().max(5000).default(''),
    keywords: Keywords,
    /** The sealed bundle's manifest (enclave/format); checked here, verified blob by blob on completion. */
    manifest: z.record(z.string(), z.unknown()),
  })
  .strict();
export const UploadBlob = z.object({ hash: Sm3Hex, size: z.number().int().nonnegative(), kind: z.string(), received: z.boolean() });
export const Upload = z.object({
  id: Id,
  state: z.enum(['open', 'completing', 'completed', 'aborted']),
  title: z.string(),
  datasetId: Id.nullable(),
  createdAt: IsoTime,
  expiresAt: IsoTime,
  totalBytes: z.number().int(),
  receivedBytes: z.number().int(),
  blobs: z.array(UploadBlob),
  missing: z.array(Sm3Hex),
});
export const BlobParams = z.object({ id: Id, hash: Sm3Hex }).strict();
export const BlobReceived = z.object({ hash: Sm3Hex, size: z.number().int(), alreadyPresent: z.boolean(), missing: z.number().int() });

export const Dataset = z.object({
  id: Id,
  orgId: Id,
  title: z.string(),
  description: z.string(),
  keywords: z.array(z.string()),
  sector: z.string(),
  maxLevel: Level,
  rowCount: z.number().int(),
  schema: DatasetSchema,
  commitment: Sm3Hex,
  version: z.number().int(),
  createdAt: IsoTime,
});

// ── catalogue ────────────────────────────────────────────────────────────────
export const CatalogQuery = PageQuery.extend({
  sector: z.enum(SECTOR_SLUGS).optional(),
  q: z.string().trim().min(1).max(100).optional().describe('keyword in title, description, keywords or column names'),
  level: z.coerce.number().int().min(1).max(4).optional().describe('only datasets whose most sensitive column is at most this level'),
}).strict();
export const CatalogEntry = Dataset.omit({ schema: true }).extend({
  columns: z.array(z.object({ name: z.string(), type: z.string(), role: z.string(), level: Level })),
  activeOffers: z.number().int(),
});
export const SampleQuery = z.object({ rows: z.coerce.number().int().min(1).max(50).default(10) }).strict();
export const Sample = z.object({
  generated: z.literal(true),
  note: z.string(),
  columns: z.array(z.string()),
  rows: z.array(z.array(z.union([z.string(), z.number(), z.null()]))),
});
