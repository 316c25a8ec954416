import { z } from 'zod';
import { DatasetSchema, Level } from '../contracts/dataset/schema.js';
import { SECTOR_SLUGS } from '../contracts/dataset/sectors.js';

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

/**
 * A reason as a message catalogue code with its parameters (formats/messages.ts: render(code, params, lang));
 * amounts in fen, ids, names, and `{ zh, en }` pairs for names the policy document gives in both languages.
 */
export const MessageParams = z.record(z.string(), z.unknown()).describe('parameters of the message code: fen, ids, names');

export const Problem = z
  .object({
    type: z.string(),
    /** In the request's language: Accept-Language: zh (or ?lang=zh) gives Chinese title and detail. */
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    /** The catalogue code of this problem (`problem.<type slug>`) and its parameters. */
    code: z.string().optional(),
    params: MessageParams.optional(),
    instance: z.string().optional(),
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
const pages = new WeakMap<z.ZodType, z.ZodType>();
/** A page of `item`s; one schema per item schema, so OpenAPI describes each kind of page once. */
export const page = <T extends z.ZodType>(item: T) => {
  const made = pages.get(item) ?? z.object({ items: z.array(item), nextCursor: Id.nullable() });
  pages.set(item, made);
  return made as z.ZodObject<{ items: z.ZodArray<T>; nextCursor: z.ZodNullable<typeof Id> }>;
};
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
    /** The sealed bundle's manifest (formats); checked here, verified blob by blob on completion. */
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
/** GET /v1/uploads: the caller's organisation's uploads still open or being verified (at most 100, oldest first). */
export const UploadList = z.object({ items: z.array(Upload) });
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
  /** the owner's dataset-wide privacy budget: ε and δ all buyers together may spend on DP releases */
  privacyBudget: z.object({ epsilonBudgetTotal: z.number(), deltaBudgetTotal: z.number() }).optional(),
});
export const PrivacyBudgetRequest = z
  .object({
    epsilonBudgetTotal: z.number().positive().max(1_000),
    deltaBudgetTotal: z.number().min(0).lt(1).default(1e-6),
  })
  .strict();

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

// ── offers, quotes, trades, review (contracts/) ──────────────────────────────
export { OfferInput, Offer } from '../contracts/offer/offer.js';
export { SignedQuote } from '../contracts/pricing/quote.js';
export { SignedApproval } from '../contracts/review/approval.js';
import { Offer as OfferSchema } from '../contracts/offer/offer.js';
import { SignedQuote as SignedQuoteSchema } from '../contracts/pricing/quote.js';
import { SignedApproval as SignedApprovalSchema } from '../contracts/review/approval.js';
import { PurposeCode, RegionCode } from '../contracts/offer/offer.js';
import { Computation } from '../contracts/computation.js';
import { QuotedTerms } from '../contracts/trade/quoting.js';
import { Finding, PolicyDocument as PolicyDocumentSchema } from '../contracts/policy/schema.js';
import { TRADE_STATES } from '../contracts/trade/states.js';
import { FAILURE_CODES, LEDGER_MEMO_CODES, TRADE_REASON_CODES } from '../contracts/reasons.js';
import { PurposeEntry } from '../contracts/policy/purposes.js';
import { AuditEvent as AuditEventSchema, SignedCheckpoint as SignedCheckpointSchema } from '../contracts/audit/chain.js';

export const OfferList = z.object({ items: z.array(OfferSchema) });
/** A new offer or version, with the negative list's listing-time findings (review findings do not block). */
export const OfferWritten = z.object({ offer: OfferSchema, screening: z.lazy(() => Evaluation) });
/** The negative list's verdict on an offer not yet listed (nothing written): every finding, deny included. */
export const OfferScreening = z.object({ screening: z.lazy(() => Evaluation) });
export const Purpose = z.object({ code: PurposeCode, statement: z.string().trim().min(10).max(2000) }).strict();
export const QuoteRequest = z
  .object({
    computation: Computation,
    purpose: Purpose,
    /** Where the buyer takes the result (ISO 3166 region); anything outside CN is cross-border. */
    destination: RegionCode,
  })
  .strict();
/** Submitting a trade: the quote exactly as it was issued. Price, status and the rest come from the quote, never from the buyer. */
export const SubmitTradeRequest = z.object({ quote: SignedQuoteSchema, computation: Computation }).strict();

export const TradeState = z.enum(TRADE_STATES);
export const Evaluation = z.object({
  decision: z.enum(['deny', 'review', 'allow']),
  findings: z.array(Finding),
}).passthrough();
/** One timeline step: `reason` is the English text as before; `code` and `params` the same for the message catalogue. */
export const TradeTransition = z.object({
  from: TradeState,
  to: TradeState,
  actor: z.string(),
  reason: z.string(),
  code: z.enum(TRADE_REASON_CODES),
  params: MessageParams,
  at: IsoTime,
});
export const JobStatus = z.object({
  state: z.enum(['queued', 'running', 'done', 'failed']),
  attempts: z.number().int(),
  error: z.string().nullable(),
}).nullable();
export const Trade = z.object({
  id: Id,
  state: TradeState,
  quoteId: z.string(),
  offerId: z.string(),
  offerVersion: z.number().int(),
  datasetId: z.string(),
  datasetCommitment: z.string(),
  ownerOrgId: z.string(),
  buyerOrgId: z.string(),
  /** the buying organisation's name, for the owner and the operator */
  buyerOrgName: z.string().optional(),
  /** the selling organisation's name, for the buyer */
  ownerOrgName: z.string().optional(),
  buyerUserId: z.string(),
  computation: Computation,
  computationHash: Sm3Hex,
  purpose: z.object({ code: z.string(), statement: z.string() }),
  destination: z.string(),
  epsilonMilli: z.number().int(),
  rows: z.number().int(),
  minGroupSize: z.number().int(),
  priceFen: z.number().int(),
  ownerShareFen: z.number().int(),
  platformFeeFen: z.number().int(),
  /** what a privacy refusal of this trade costs, as quoted */
  refusalChargeFen: z.number().int().optional(),
  /** the privacy terms the trade runs under and its approval states */
  privacyTerms: z.record(z.string(), z.number()).nullable().optional(),
  screening: Evaluation.nullable(),
  reviewerId: z.string().nullable(),
  failureReason: z.string().nullable(),
  /** why it failed, for machines: { code: 'privacy-refused' | 'execution-failed', type, params, chargedFen } */
  failure: z
    .object({
      code: z.string(),
      type: z.string(),
      params: z.record(z.string(), z.unknown()),
      chargedFen: z.number().int(),
      /** the reason as a message: failure.privacy-refused | failure.execution-failed with { type, chargedFen } */
      message: z.object({ code: z.enum(FAILURE_CODES), params: MessageParams }).optional(),
    })
    .nullable()
    .optional(),
  expiresAt: IsoTime.nullable(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  job: JobStatus,
});
export const TradeDetail = Trade.extend({ transitions: z.array(TradeTransition) });
export const TradeListQuery = PageQuery.extend({ state: TradeState.optional() }).strict();
export const CancelTradeRequest = z.object({ reason: z.string().trim().min(1).max(2000) }).strict();
export const Receipt = z.object({ algorithm: z.literal('SM2-SM3'), signerId: z.string(), publicKeyPem: z.string(), payload: z.string(), signature: z.string() });
export const TradeResult = z.object({ tradeId: Id, receipt: Receipt, result: z.unknown() });

/** What a reviewer sees: the trade, every negative-list finding, price, privacy cost and purpose. */
const Party = z.object({ orgId: z.string(), name: z.string(), region: z.string() });
export const ReviewCase = z.object({
  trade: Trade,
  dataset: z.object({ id: z.string(), title: z.string(), sector: z.string(), maxLevel: z.number().int(), commitment: z.string() }),
  /** Who buys and who sells, by name: a reviewer judges the buyer, not an id. */
  buyer: Party,
  owner: Party,
  /** The buyer's earlier trades on this dataset (aggregation risk: 防止因信息汇聚涉及国家秘密). */
  buyerHistory: z.object({
    trades: z.number().int(),
    settled: z.number().int(),
    underReviewOrRunning: z.number().int(),
    /** releases and privacy refusals on this dataset's sealed content (any listing of it), the last ones first-to-last */
    delivered: z.number().int().optional(),
    lastDelivered: z.array(z.object({ tradeId: z.string(), kind: z.string(), epsilon: z.number(), at: IsoTime })).optional(),
    privacyRefusals: z.number().int().optional(),
    lastRefusals: z.array(z.object({ tradeId: z.string(), type: z.string(), chargedFen: z.number().int(), at: IsoTime })).optional(),
    /** ε of the delivered DP releases, against the buyer's budget; refusals used against the allowance */
    epsilonReleased: z.number().optional(),
    epsilonBudget: z.number().optional(),
    refusalsUsed: z.number().int().optional(),
    refusalAllowance: z.number().int().optional(),
  }),
  /** The privacy terms the approval states (approval v2): k, ε, δ, caps, per-buyer and dataset-wide budgets, allowance. */
  privacyTerms: z.record(z.string(), z.number()).optional(),
  /**
   * The offer's ε budget per buyer and what this buyer has spent of it (the enclave's ledger); `spentEpsilon`
   * is null when the enclave could not be asked, `limitEpsilon` 0 when the offer releases exact results.
   */
  privacyBudget: z.object({ limitEpsilon: z.number(), epsilonPerQuery: z.number(), spentEpsilon: z.number().nullable(), remainingEpsilon: z.number().nullable() }),
  /** What the buyer was quoted: refusal charge and allowance, each DP output's noise and the warnings (null: quote gone). */
  quoted: QuotedTerms.nullable().optional(),
  /** The latest `expiresAt` an approval may state now (validity cap, offer's validUntil); later ones are refused. */
  approvalMaxExpiresAt: IsoTime.optional(),
  /** The approval statement to sign (signApproval), pre-filled from the trade. */
  approvalTemplate: z.record(z.string(), z.unknown()),
});
export const ReviewDecisionRequest = z.discriminatedUnion('decision', [
  z.object({ decision: z.literal('approve'), reason: z.string().trim().min(4).max(2000), approval: SignedApprovalSchema }).strict(),
  z.object({ decision: z.literal('reject'), reason: z.string().trim().min(4).max(2000) }).strict(),
]);

// ── ledger, audit, negative list ─────────────────────────────────────────────
export const Account = z.object({ id: z.string(), kind: z.string(), ownerId: z.string(), balance: z.number().int() });
export const Wallet = z.object({ orgId: z.string(), accounts: z.array(Account), availableFen: z.number().int(), heldFen: z.number().int(), revenueFen: z.number().int() });
export const WalletQuery = z.object({ orgId: Id.optional().describe('operators: whose wallet') }).strict();
export const LedgerTxn = z.object({
  id: z.string(),
  seq: z.number().int().optional(),
  kind: z.string(),
  tradeId: z.string().nullable(),
  /** English text as before; `code` and `params` say the same for the message catalogue (fen amounts as numbers). */
  memo: z.string(),
  code: z.enum(LEDGER_MEMO_CODES),
  params: MessageParams,
  at: IsoTime,
  entries: z.array(z.object({ accountId: z.string(), amount: z.number().int() })),
});
export const StatementQuery = z
  .object({ orgId: Id.optional(), after: z.coerce.number().int().min(0).optional(), limit: z.coerce.number().int().min(1).max(200).default(100) })
  .strict();
export const Statement = z.object({ orgId: z.string(), transactions: z.array(LedgerTxn), nextAfter: z.number().int().nullable() });
export const TopUpRequest = z.object({ orgId: Id, amountFen: z.number().int().positive().max(1e13), memo: z.string().max(500).default('') }).strict();
export const AuditEventsQuery = z
  .object({ after: z.coerce.number().int().min(0).optional(), limit: z.coerce.number().int().min(1).max(500).default(100), entityId: z.string().max(100).optional() })
  .strict();
export const AuditEvents = z.object({ events: z.array(AuditEventSchema), nextAfter: z.number().int().nullable() });
export const Checkpoints = z.object({ checkpoints: z.array(SignedCheckpointSchema) });
export const SignedCheckpoint = SignedCheckpointSchema;
export const AuditVerification = z.object({ ok: z.boolean(), events: z.number().int(), checkpoints: z.number().int() }).passthrough();
export const PolicyDocument = PolicyDocumentSchema;
export const PolicyVersionParams = z.object({ policyId: PolicyDocumentSchema.shape.policyId, version: z.coerce.number().int().min(1).max(1_000_000) }).strict();
/** GET /v1/purposes: the purpose catalogue, each purpose marked by what the active negative list says of it. */
export const PurposeList = z.object({
  catalogueId: z.string(),
  version: z.number().int(),
  /** the negative-list version the catalogue was published with, and the one in force now */
  policy: z.object({ policyId: z.string(), version: z.number().int() }),
  activePolicy: z.object({ policyId: z.string(), version: z.number().int() }),
  title: z.object({ zh: z.string(), en: z.string() }),
  purposes: z.array(
    PurposeEntry.extend({
      /** a deny rule of the active negative list names it: offers listing it and trades declaring it are denied */
      prohibited: z.boolean(),
      /** the purpose rules of the active negative list that name it */
      ruleIds: z.array(z.string()),
    }),
  ),
});
export const PolicyHistory = z.object({
  items: z.array(z.object({ policyId: z.string(), version: z.number().int(), rules: z.number().int(), activatedAt: z.string(), active: z.boolean() }).strict()),
});
