import { z } from 'zod';
import { canonicalJson, fromB64, sm2FingerprintFromPem, sm2PublicKeyFromPem, sm2Verify, toB64, utf8 } from '../../crypto/index.js';
import type { Signer } from '../signer.js';
import { Accuracy, QuoteWarning } from './accuracy.js';

/**
 * A quote: the platform's signed, expiring promise of a price for exactly one computation by one
 * buyer under one offer version. Submission must present it unchanged and before it expires; the
 * trade then carries the quoted price, so nobody can re-price a request after the buyer saw it.
 * v2 adds what the buyer signs up for besides the price: the noise of each output of a DP release
 * (`accuracy`, with `warnings` where it swamps the output's range) and what a privacy refusal costs.
 */

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);

export const QuoteStatement = z
  .object({
    type: z.literal('shuyu.quote.v2'),
    quoteId: z.string(),
    offerId: z.string(),
    offerVersion: z.number().int().min(1),
    datasetId: z.string(),
    datasetCommitment: z.string(),
    buyerOrgId: z.string(),
    buyerUserId: z.string(),
    computationHash: Hex64,
    purpose: z.object({ code: z.string(), statement: z.string() }).strict(),
    destination: z.string(),
    rows: z.number().int().min(0),
    epsilonMilli: z.number().int().min(0),
    priceFen: z.number().int().min(0),
    ownerShareFen: z.number().int().min(0),
    platformFeeFen: z.number().int().min(0),
    /** charged instead of the price when the enclave refuses the computation for privacy: ⌊price × refusalFeeBps / 10000⌋ */
    refusalChargeFen: z.number().int().min(0),
    /** data-dependent refusals the offer allows this buyer on the dataset */
    refusalAllowance: z.number().int().min(0),
    /** DP offers: the noise of each released output (absent for exact releases and verify) */
    accuracy: Accuracy.optional(),
    warnings: z.array(QuoteWarning),
    issuedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    keyFingerprint: Hex64,
  })
  .strict();
export type QuoteStatement = z.infer<typeof QuoteStatement>;

export const SignedQuote = z.object({ statement: QuoteStatement, signature: z.string().min(1) }).strict();
export type SignedQuote = z.infer<typeof SignedQuote>;

export async function signQuote(statement: Omit<QuoteStatement, 'keyFingerprint' | 'type'>, signer: Signer): Promise<SignedQuote> {
  const full = QuoteStatement.parse({ ...statement, type: 'shuyu.quote.v2', keyFingerprint: sm2FingerprintFromPem(signer.publicKeyPem) });
  return { statement: full, signature: toB64(await signer.sign(utf8(canonicalJson(full)))) };
}

/** True iff `quote` is well-formed and signed by the platform key. Never throws. */
export function quoteSignatureValid(quote: unknown, platformPublicKeyPem: string): quote is SignedQuote {
  try {
    const q = SignedQuote.safeParse(quote);
    if (!q.success) return false;
    if (q.data.statement.keyFingerprint !== sm2FingerprintFromPem(platformPublicKeyPem)) return false;
    return sm2Verify(sm2PublicKeyFromPem(platformPublicKeyPem), utf8(canonicalJson(q.data.statement)), fromB64(q.data.signature));
  } catch {
    return false;
  }
}
