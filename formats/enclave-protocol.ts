import { z } from 'zod';
import { AggregateComputation, SqlComputation, VerifyComputation } from '../contracts/computation.js';
import { CheckpointStatement } from '../contracts/audit/chain.js';
import { QuoteStatement } from '../contracts/pricing/quote.js';
import { BundleManifest } from './manifest.js';
import { EncryptedAggregate } from './encrypted-aggregate.js';

/**
 * The enclave's message interface: a separate OS process with a narrow, typed message
 * interface. The server talks to the forked enclave only through these envelopes; both sides validate
 * every message with zod. Each request carries an id; the enclave answers exactly once per id.
 *
 * Adding a message type: define its request/response schemas next to its handler in
 * enclave/process/handlers/<name>.ts and add one line to the table in handlers/index.ts.
 */

export const PROTOCOL_VERSION = 1;

export const RequestEnvelope = z
  .object({ v: z.literal(PROTOCOL_VERSION), id: z.string().min(1).max(64), type: z.string().min(1).max(64), payload: z.unknown() })
  .strict();
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

export const WireError = z
  .object({ type: z.string(), message: z.string(), detail: z.record(z.string(), z.unknown()).default({}) })
  .strict();
export type WireError = z.infer<typeof WireError>;

export const ResponseEnvelope = z.discriminatedUnion('ok', [
  z.object({ v: z.literal(PROTOCOL_VERSION), id: z.string(), ok: z.literal(true), result: z.unknown() }).strict(),
  z.object({ v: z.literal(PROTOCOL_VERSION), id: z.string(), ok: z.literal(false), error: WireError }).strict(),
]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

/**
 * The blob store the enclave reads sealed row chunks from, read-only: a local directory, named by SM3 hex —
 * `sharded` is the server's store (`ab/cdef…`), `flat` a bundle directory as the sealer writes it (`blobs/<sm3>`).
 * The enclave re-hashes every blob against the manifest, so the store need not be trusted.
 */
export const BlobStoreLocation = z
  .object({ kind: z.literal('directory'), dir: z.string().min(1).max(4096), layout: z.enum(['sharded', 'flat']).default('sharded') })
  .strict();
export type BlobStoreLocation = z.input<typeof BlobStoreLocation>;

/**
 * First message the parent sends: where the keystore lives and the operator key to pin (first start) or
 * check (later starts). The master secret travels over the IPC channel, not argv or the child's environment;
 * without it the child falls back to SHUYU_MASTER_SECRET / SHUYU_MASTER_SECRET_FILE.
 */
export const InitMessage = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal('init'),
    dataDir: z.string().min(1),
    operatorPublicKeyPem: z.string().min(1),
    masterSecret: z.string().min(16).optional(),
    masterSecretFile: z.string().min(1).optional(),
    /** Where the enclave reads sealed row chunks itself (by SM3 name); releases never carry row bytes. */
    blobStore: BlobStoreLocation.optional(),
    /** A worker's enclave never creates the keystore: it waits up to this long for a server's enclave to have made it. */
    waitForKeystoreMs: z.number().int().min(0).max(3_600_000).optional(),
  })
  .strict();
export type InitMessage = z.infer<typeof InitMessage>;

/** First message the enclave sends after start: it is ready (keystore opened or created). */
export const ReadyMessage = z
  .object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('ready'), created: z.boolean() })
  .strict();
/** Sent instead of `ready` when start fails (wrong master secret, operator key mismatch, …). */
export const StartFailedMessage = z
  .object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('start-failed'), error: WireError })
  .strict();
export const StartupMessage = z.discriminatedUnion('kind', [ReadyMessage, StartFailedMessage]);

// ─── shared payload pieces ────────────────────────────────────────────────────────────────────────────

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const KeyInfo = z.object({ publicKeyPem: z.string(), fingerprint: Hex64 }).strict();

/** Everything the enclave publishes (served by the API at GET /v1/enclave). No secret in here. */
export const EnclavePublicInfo = z
  .object({
    signing: KeyInfo,
    unwrap: KeyInfo,
    operator: KeyInfo,
    he: z
      .object({
        paramsId: z.string(),
        scheme: z.literal('bfv'),
        polyModulusDegree: z.number().int(),
        coeffModulusBits: z.array(z.number().int()),
        plainModulus: z.string(),
        galoisSteps: z.array(z.number().int()),
        /** base64 of SEAL's zstd serialisation. */
        publicKey: z.string(),
        galoisKeys: z.string(),
        /** SM3 hex of the decoded bytes above. */
        publicKeyFingerprint: Hex64,
        galoisKeysFingerprint: Hex64,
      })
      .strict(),
  })
  .strict();
export type EnclavePublicInfo = z.infer<typeof EnclavePublicInfo>;

/** The output policy the offer sets (re-checked here, not trusted from the server's arithmetic). */
export const OutputPolicy = z
  .object({
    minGroupSize: z.number().int().min(1).max(1_000_000),
    dp: z.object({ epsilon: z.number().positive().max(100), delta: z.number().min(0).max(1).optional() }).strict().optional(),
    /** 'exact-for-tests' is accepted only when the enclave runs with SHUYU_ENCLAVE_TEST_MODE=1. */
    mode: z.enum(['enforce', 'exact-for-tests']).default('enforce'),
    /** DP: rows one person contributes at most (the offer's term); the noise is calibrated to it. Default 1. */
    maxRowsPerPerson: z.number().int().min(1).max(1_000).optional(),
  })
  .strict();
export type OutputPolicy = z.infer<typeof OutputPolicy>;

/** The trade the release belongs to, as the server knows it; cross-checked against the signed approval. */
export const TradeContext = z
  .object({
    tradeId: z.string().min(1),
    datasetId: z.string().min(1),
    buyerOrgId: z.string().min(1),
    offerId: z.string().min(1),
    offerVersion: z.number().int().min(1),
    /** Integer fen, never a float. */
    priceFen: z.number().int().min(0),
    purpose: z.string().max(500).optional(),
  })
  .strict();
export type TradeContext = z.infer<typeof TradeContext>;

/**
 * Budget terms of a release (the ledger itself lives in the enclave): the ε the offer allows this buyer on this
 * dataset, the dataset-wide ε/δ across all buyers, and the data-dependent refusals the buyer may receive.
 * All are checked against the reviewer's signed approval (v2).
 */
export const BudgetTerms = z
  .object({
    limitEpsilon: z.number().min(0),
    chargeKey: z.string().min(1).max(200),
    refusalAllowance: z.number().int().min(0).max(100).default(3),
    datasetLimitEpsilon: z.number().min(0).optional(),
    datasetLimitDelta: z.number().min(0).lt(1).optional(),
  })
  .strict();

// ─── admitRows ──────────────────────────────────────────────────────────────────────────────────────

/**
 * An uploaded bundle's manifest, sent before the dataset is published; the enclave reads the row chunks the
 * manifest names from its blob store (no row bytes in the message).
 */
export const AdmitRowsRequest = z.object({ manifest: BundleManifest }).strict();
/** Only the row count the enclave found: partitions and subjects stay in the enclave. */
export const AdmitRowsResponse = z.object({ rows: z.number().int().min(0) }).strict();

// ─── budgetSpent ────────────────────────────────────────────────────────────────────────────────────

/** What a buyer has spent of a dataset's ε budget (the ledger lives in the enclave); for reviewers. */
export const BudgetSpentRequest = z.object({ buyerOrgId: z.string().min(1).max(200), datasetId: z.string().min(1).max(200) }).strict();
export const BudgetSpentResponse = z.object({ epsilon: z.number().min(0), delta: z.number().min(0), charges: z.number().int().min(0) }).strict();

// ─── releaseAggregate ─────────────────────────────────────────────────────────────────────────────────

export const AggregateReleaseRequest = z
  .object({
    trade: TradeContext,
    manifest: BundleManifest,
    computation: AggregateComputation,
    /** The SignedApproval and ReviewerCertificate (contracts/review/approval.ts), verified in the enclave (unknown here on purpose). */
    approval: z.unknown().optional(),
    reviewerCertificate: z.unknown().optional(),
    policy: OutputPolicy,
    budget: BudgetTerms.optional(),
    encrypted: EncryptedAggregate,
  })
  .strict();
export type AggregateReleaseRequest = z.input<typeof AggregateReleaseRequest>;

export const ReleasedGroup = z
  .object({ key: z.array(z.string()), values: z.record(z.string(), z.number().nullable()) })
  .strict();
export const AggregateResult = z
  .object({
    kind: z.literal('aggregate'),
    /**
     * Exact: groups below the minimum group size are absent, exactly like groups with no rows (never listed).
     * DP: every key of the public domain is present, each value noised.
     */
    groupBy: z.array(z.string()),
    /** Output names in order, e.g. `count`, `sum(amount)`, `mean(amount)`. */
    outputs: z.array(z.string()),
    groups: z.array(ReleasedGroup),
  })
  .strict();
export type AggregateResult = z.infer<typeof AggregateResult>;

export const ReceiptSchema = z
  .object({ algorithm: z.literal('SM2-SM3'), signerId: z.string(), publicKeyPem: z.string(), payload: z.string(), signature: z.string() })
  .strict();

export const AggregateReleaseResponse = z
  .object({ receipt: ReceiptSchema, result: AggregateResult, privacy: z.record(z.string(), z.unknown()) })
  .strict();
export type AggregateReleaseResponse = z.infer<typeof AggregateReleaseResponse>;

// ─── publicInfo / ping / signCheckpoint ───────────────────────────────────────────────────────────────

// --- sql: a restricted SQL computation over the sealed row chunks ---

export const SqlResult = z
  .object({
    kind: z.literal('sql'),
    /** the parser's re-serialisation of the checked query: what actually ran */
    normalizedQuery: z.string(),
    /** SM3 of normalizedQuery */
    queryHash: z.string(),
    outputs: z.array(z.string()),
    groupBy: z.array(z.string()),
    /** exact: released groups only (an absent key had no rows or was withheld; never said which); DP: the whole public domain */
    groups: z.array(z.object({ key: z.array(z.string()), values: z.record(z.string(), z.union([z.number(), z.string(), z.null()])) }).strict()),
  })
  .strict();
export type SqlResult = z.infer<typeof SqlResult>;

export const SqlReleaseRequest = z
  .object({
    trade: TradeContext,
    manifest: BundleManifest,
    computation: SqlComputation,
    approval: z.unknown(),
    reviewerCertificate: z.unknown(),
    policy: OutputPolicy,
    budget: BudgetTerms.optional(),
  })
  .strict();
export type SqlReleaseRequest = z.input<typeof SqlReleaseRequest>;

export const SqlReleaseResponse = z
  .object({ receipt: ReceiptSchema, result: SqlResult, privacy: z.record(z.string(), z.unknown()) })
  .strict();
export type SqlReleaseResponse = z.infer<typeof SqlReleaseResponse>;

// --- verify (核验) ---

export const VerifyAnswer = z
  .object({ kind: z.literal('verify'), match: z.boolean(), perAttribute: z.record(z.string(), z.boolean()).optional() })
  .strict();
export type VerifyAnswer = z.infer<typeof VerifyAnswer>;

/** One verification call = one approved trade priced per call; the receipt carries the yes/no only. */
export const VerifyReleaseRequest = z
  .object({
    trade: TradeContext,
    manifest: BundleManifest,
    computation: VerifyComputation,
    approval: z.unknown(),
    reviewerCertificate: z.unknown(),
    /** the offer's per-buyer limit; the enclave caps it at 1,000 calls per window */
    rateLimit: z.object({ maxCalls: z.number().int().min(1).max(1000), windowMs: z.number().int().min(1000).max(31 * 24 * 3600 * 1000) }).strict().optional(),
  })
  .strict();
export type VerifyReleaseRequest = z.input<typeof VerifyReleaseRequest>;

export const VerifyReleaseResponse = z
  .object({ receipt: ReceiptSchema, result: VerifyAnswer, privacy: z.record(z.string(), z.unknown()), callId: z.string() })
  .strict();
export type VerifyReleaseResponse = z.infer<typeof VerifyReleaseResponse>;

export const EmptyPayload = z.object({}).strict();

/**
 * The platform statements the enclave's signing key signs besides receipts: audit checkpoints and price
 * quotes (contracts' formats, validated here in full). The key never leaves the enclave, so neither the
 * server nor its operator can re-sign a rewritten audit chain or forge a quote; no other statement type
 * (receipts, approvals) can be obtained through this message.
 */
export const PlatformStatement = z.discriminatedUnion('type', [CheckpointStatement, QuoteStatement]);
export type PlatformStatement = z.infer<typeof PlatformStatement>;
export const SignStatementRequest = z.object({ statement: PlatformStatement }).strict();
export const SignStatementResponse = z
  .object({ payload: z.string(), signature: z.string(), publicKeyPem: z.string(), fingerprint: Hex64 })
  .strict();

/** Message type names handled by the enclave. */
export type EnclaveMessageType = 'admitRows' | 'budgetSpent' | 'ping' | 'publicInfo' | 'releaseAggregate' | 'signStatement' | 'sql' | 'verify' | (string & {});
