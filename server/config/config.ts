import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * Runtime configuration of one server. Precedence: explicit options (CLI flags) > environment > defaults.
 * The master secret is NOT part of it: it belongs to the enclave and is read by server/config/master-secret.ts.
 */
export const ServerConfig = z
  .object({
    dataDir: z.string().min(1),
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /** JSON bodies; blob uploads have their own limit. */
    jsonBodyLimitBytes: z.number().int().positive(),
    maxBlobBytes: z.number().int().positive(),
    maxUploadBytes: z.number().int().positive(),
    requestTimeoutMs: z.number().int().positive(),
    rateLimitPerMinute: z.number().int().positive(),
    /** Uploads not completed within this window are aborted and their blobs collected. */
    uploadTtlMs: z.number().int().positive(),
    jobLeaseMs: z.number().int().positive(),
    jobPollMs: z.number().int().positive(),
    jobMaxAttempts: z.number().int().positive(),
    /** Longest a reviewer's approval may stay valid after the decision (never past the offer's validUntil). */
    approvalMaxValidityMs: z.number().int().min(60_000).max(90 * 86_400_000),
    heWorkerThreads: z.number().int().min(1).max(8),
    /** postgres://… puts the store on PostgreSQL (cluster mode); absent, it is the SQLite file in dataDir. */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
    /** PostgreSQL schema of the server's tables (default public). */
    databaseSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional(),
    /** The blob store's directory (default dataDir/blobs); a cluster's servers and workers share one. */
    blobDir: z.string().min(1).optional(),
    /**
     * postgres://… puts the enclave's own state (sealed keystore, privacy ledger, differencing history, row maps)
     * in its PostgreSQL schema, under the enclave role's credentials: handed to the forked enclave only, this
     * process never opens it. Absent, the enclave keeps it in dataDir/enclave/keystore (SQLite).
     */
    enclaveDatabaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
    /** PostgreSQL schema of the enclave's tables (default shuyu_enclave). */
    enclaveDatabaseSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional(),
  })
  .strict();
export type ServerConfig = z.infer<typeof ServerConfig>;

export const DEFAULTS: ServerConfig = {
  dataDir: 'var',
  host: '127.0.0.1',
  port: 8080,
  logLevel: 'info',
  jsonBodyLimitBytes: 256 * 1024,
  maxBlobBytes: 64 * 1024 * 1024,
  maxUploadBytes: 4 * 1024 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  rateLimitPerMinute: 1200,
  uploadTtlMs: 24 * 3600_000,
  jobLeaseMs: 60_000,
  jobPollMs: 250,
  jobMaxAttempts: 3,
  approvalMaxValidityMs: 7 * 86_400_000,
  heWorkerThreads: 1,
};

const ENV: Record<string, keyof ServerConfig> = {
  SHUYU_DATA_DIR: 'dataDir',
  SHUYU_HOST: 'host',
  SHUYU_PORT: 'port',
  SHUYU_LOG_LEVEL: 'logLevel',
  SHUYU_JSON_BODY_LIMIT: 'jsonBodyLimitBytes',
  SHUYU_MAX_BLOB_BYTES: 'maxBlobBytes',
  SHUYU_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  SHUYU_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  SHUYU_RATE_LIMIT_PER_MINUTE: 'rateLimitPerMinute',
  SHUYU_UPLOAD_TTL_MS: 'uploadTtlMs',
  SHUYU_JOB_LEASE_MS: 'jobLeaseMs',
  SHUYU_JOB_POLL_MS: 'jobPollMs',
  SHUYU_JOB_MAX_ATTEMPTS: 'jobMaxAttempts',
  SHUYU_APPROVAL_MAX_VALIDITY_MS: 'approvalMaxValidityMs',
  SHUYU_HE_WORKERS: 'heWorkerThreads',
  SHUYU_DATABASE_URL: 'databaseUrl',
  SHUYU_DATABASE_SCHEMA: 'databaseSchema',
  SHUYU_BLOB_DIR: 'blobDir',
  SHUYU_ENCLAVE_DATABASE_URL: 'enclaveDatabaseUrl',
  SHUYU_ENCLAVE_DATABASE_SCHEMA: 'enclaveDatabaseSchema',
};

/** Builds the config; throws a readable message naming the bad setting. */
export function loadConfig(opts: Partial<ServerConfig> = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    fromEnv[key] = typeof DEFAULTS[key] === 'number' ? Number(v) : v;
  }
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  const parsed = ServerConfig.safeParse({ ...DEFAULTS, ...fromEnv, ...defined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`invalid server setting ${issue.path.join('.')}: ${issue.message}`);
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir), ...(parsed.data.blobDir ? { blobDir: resolve(parsed.data.blobDir) } : {}) };
}
