import type { z } from 'zod';
import { VerifyReleaseRequest, type VerifyAnswer, type VerifyReleaseResponse } from '../../formats/enclave-protocol.js';
import { release, type ReleaseDeps, type ReleaseKind } from '../release/front.js';
import { VerifyCallLog, verifyRateLimitOf } from './calls.js';
import { answerVerify, checkVerifyComputation } from './verify.js';

/**
 * Query-verification (核验), the `verify` kind of the release front (front.ts: authority, signed receipt): the
 * lookup's shape, then the row chunks (read and re-hashed by the enclave), then a rate-limit slot, then the
 * yes/no answer. A missing or altered chunk is refused before a slot is taken.
 */

type Req = z.infer<typeof VerifyReleaseRequest>;

export const verifyKind: ReleaseKind<Req, VerifyAnswer> = {
  label: 'verify',
  request: VerifyReleaseRequest,
  admit(req) {
    checkVerifyComputation(req.computation, req.manifest.schema);
    verifyRateLimitOf(req.rateLimit);
  },
  rowMap: () => 'none',
  async compute(req, s, deps) {
    const chunks = s.rows.stream();
    const log = new VerifyCallLog(deps.ledger.store);
    const callId = await log.admit({
      tradeId: req.trade.tradeId,
      buyerOrgId: req.trade.buyerOrgId,
      // the limit is kept on what was sealed: the same bundle under another listing shares it
      datasetId: s.commitment,
      columns: Object.keys(req.computation.match),
      now: s.now,
      limit: verifyRateLimitOf(req.rateLimit),
    });
    let result: VerifyAnswer;
    try {
      result = await answerVerify({
        computation: req.computation,
        schema: req.manifest.schema,
        chunks,
        unwrapPrivateKey: deps.keystore.unwrap.privateKey,
        ...(deps.limits ? { limits: deps.limits } : {}),
      });
    } catch (e) {
      await log.failed(callId);
      throw e;
    }
    const privacy = { minGroupSize: 1, mechanism: 'none (yes/no answer only)', epsilonSpent: 0, epsilonRemaining: null, verifyCallId: callId };
    return { result, privacy, extra: { callId } };
  },
};

/** Release a verification answer through the release front. */
export function releaseVerify(input: unknown, deps: ReleaseDeps): Promise<VerifyReleaseResponse> {
  return release(verifyKind, input, deps) as Promise<VerifyReleaseResponse>;
}
