import { z } from 'zod';
import { VerifyComputation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import { BundleManifest } from '../format/manifest.js';
import type { Keystore } from '../keystore/keystore.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { ReceiptSchema, TradeContext } from '../process/protocol.js';
import { signReceipt } from '../receipt.js';
import { buildReceiptPayload } from '../release/payload.js';
import { checkReleaseAuthority, rowChunksOf } from '../sql/release.js';
import type { SandboxLimits } from '../sql/sandbox.js';
import { DEFAULT_VERIFY_RATE_LIMIT, VerifyCallLog } from './calls.js';
import { answerVerify, checkVerifyComputation, VerifyAnswer } from './verify.js';

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
    rowChunks: z.array(z.string().min(1)).max(100_000),
  })
  .strict();
export type VerifyReleaseRequest = z.input<typeof VerifyReleaseRequest>;

export const VerifyReleaseResponse = z
  .object({ receipt: ReceiptSchema, result: VerifyAnswer, privacy: z.record(z.string(), z.unknown()), callId: z.string() })
  .strict();
export type VerifyReleaseResponse = z.infer<typeof VerifyReleaseResponse>;

export async function releaseVerify(
  input: VerifyReleaseRequest,
  ctx: { keystore: Keystore; ledger: PrivacyBudgetLedger; now?: () => Date; limits?: Partial<SandboxLimits> },
): Promise<VerifyReleaseResponse> {
  const parsed = VerifyReleaseRequest.safeParse(input);
  if (!parsed.success) throw new DomainError('release-invalid', `verify request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const req = parsed.data;
  const now = (ctx.now ?? (() => new Date()))();
  const commitment = checkReleaseAuthority(req, ctx.keystore, now);
  checkVerifyComputation(req.computation, req.manifest.schema);
  const chunks = rowChunksOf(req.manifest, req.rowChunks);
  const log = new VerifyCallLog(ctx.ledger.database);
  const callId = log.admit({
    tradeId: req.trade.tradeId,
    buyerOrgId: req.trade.buyerOrgId,
    // the limit is kept on what was sealed: the same bundle under another listing shares it
    datasetId: commitment,
    columns: Object.keys(req.computation.match),
    now,
    limit: req.rateLimit ?? DEFAULT_VERIFY_RATE_LIMIT,
  });
  let result: VerifyAnswer;
  try {
    result = await answerVerify({
      computation: req.computation,
      schema: req.manifest.schema,
      chunks,
      unwrapPrivateKey: ctx.keystore.unwrap.privateKey,
      ...(ctx.limits ? { limits: ctx.limits } : {}),
    });
  } catch (e) {
    log.failed(callId);
    throw e;
  }
  const privacy = { minGroupSize: 1, mechanism: 'none (yes/no answer only)', epsilonSpent: 0, epsilonRemaining: null, verifyCallId: callId };
  const payload = buildReceiptPayload({ trade: req.trade, datasetCommitment: commitment, computation: req.computation, result, privacy });
  return { receipt: signReceipt(payload, ctx.keystore.signing), result, privacy, callId };
}
