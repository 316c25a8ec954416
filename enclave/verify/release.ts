import { DomainError } from '../../contracts/errors.js';
import type { Keystore } from '../keystore/keystore.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { VerifyReleaseRequest, type VerifyAnswer, type VerifyReleaseResponse } from '../../formats/enclave-protocol.js';
import { signReceipt } from '../../formats/receipt.js';
import { buildReceiptPayload } from '../../formats/receipt-payload.js';
import { checkReleaseAuthority } from '../release/authority.js';
import { rowChunksOf } from '../release/row-chunks.js';
import type { SandboxLimits } from '../sandbox/sandbox.js';
import { DEFAULT_VERIFY_RATE_LIMIT, VerifyCallLog } from './calls.js';
import { answerVerify, checkVerifyComputation } from './verify.js';

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
