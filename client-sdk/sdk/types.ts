import type { z } from 'zod';
import type * as S from '../../formats/http-api.js';

/**
 * The SDK's types, derived from the server's zod schemas (formats/http-api.ts) — type-only import,
 * so nothing of the server is loaded at run time and no schema is written twice. `In<>` is what a
 * request may send (defaults optional), `Out<>` what a response holds.
 */
type In<T extends z.ZodType> = z.input<T>;
type Out<T extends z.ZodType> = z.output<T>;

export type Page<T> = { items: T[]; nextCursor: string | null };

export type Health = Out<typeof S.Health>;
export type EnclaveInfo = Out<typeof S.EnclaveInfo>;
export type Org = Out<typeof S.Org>;
export type User = Out<typeof S.User>;
export type Me = Out<typeof S.Me>;
export type CreateOrgRequest = In<typeof S.CreateOrgRequest>;
export type CreateUserRequest = In<typeof S.CreateUserRequest>;
export type CreateUserResponse = Out<typeof S.CreateUserResponse>;
export type TokenIssued = Out<typeof S.TokenIssued>;
export type RegisterKeyResponse = Out<typeof S.RegisterKeyResponse>;
export type CertificateResponse = Out<typeof S.CertificateResponse>;
export type CreateUploadRequest = In<typeof S.CreateUploadRequest>;
export type Upload = Out<typeof S.Upload>;
export type BlobReceived = Out<typeof S.BlobReceived>;
export type Dataset = Out<typeof S.Dataset>;
export type CatalogQuery = Partial<Out<typeof S.CatalogQuery>>;
export type CatalogEntry = Out<typeof S.CatalogEntry>;
export type Sample = Out<typeof S.Sample>;

export type OfferInput = In<typeof S.OfferInput>;
export type Offer = Out<typeof S.Offer>;
/** An offer as written, with the negative list's listing-time screening of it. */
export type OfferWritten = Out<typeof S.OfferWritten>;
export type Evaluation = Out<typeof S.Evaluation>;
export type SignedQuote = Out<typeof S.SignedQuote>;
export type SignedApproval = Out<typeof S.SignedApproval>;
export type QuoteRequest = In<typeof S.QuoteRequest>;
export type Purpose = Out<typeof S.Purpose>;
export type Trade = Out<typeof S.Trade>;
export type TradeState = Out<typeof S.TradeState>;
export type TradeDetail = Out<typeof S.TradeDetail>;
export type TradeResult = Out<typeof S.TradeResult>;
export type Receipt = Out<typeof S.Receipt>;
export type ReviewCase = Out<typeof S.ReviewCase>;
export type ReviewDecisionRequest = In<typeof S.ReviewDecisionRequest>;
export type Wallet = Out<typeof S.Wallet>;
export type Statement = Out<typeof S.Statement>;
export type LedgerTxn = Out<typeof S.LedgerTxn>;
export type TopUpRequest = In<typeof S.TopUpRequest>;
export type AuditEvents = Out<typeof S.AuditEvents>;
export type Checkpoints = Out<typeof S.Checkpoints>;
export type AuditVerification = Out<typeof S.AuditVerification>;
export type PolicyDocument = Out<typeof S.PolicyDocument>;
export type PolicyDocumentInput = In<typeof S.PolicyDocument>;
/** GET /v1/purposes: the purpose catalogue with Chinese and English names, marked by the active negative list. */
export type PurposeList = Out<typeof S.PurposeList>;
export type PurposeEntry = PurposeList['purposes'][number];
/** A timeline step (`code`/`params` render with formats/messages.ts). */
export type TradeTransition = Out<typeof S.TradeTransition>;
/** A problem+json answer: `code`/`params` render with formats/messages.ts; title/detail follow Accept-Language. */
export type Problem = Out<typeof S.Problem>;
