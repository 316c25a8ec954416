import type { z } from 'zod';
import type { Computation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import { computationHash } from '../../contracts/computation.js';
import { verifyApproval } from '../../contracts/review/approval.js';
import { type BundleManifest, manifestCommitment } from '../../formats/manifest.js';
import type { BudgetTerms, OutputPolicy, TradeContext } from '../../formats/enclave-protocol.js';
import type { Keystore } from '../keystore/keystore.js';
import { checkApprovedTerms } from '../privacy/approved-terms.js';
import { keyFingerprints } from './key-facts.js';

const refuse = (type: string, message: string, detail: Record<string, unknown> = {}): DomainError => new DomainError(type, message, detail);

/**
 * The authority of a release, of any kind (run once by the release front, front.ts); returns the dataset
 * commitment. The approval is re-verified with the operator key pinned at first start and bound to the trade,
 * the commitment recomputed from the manifest, the computation's hash and the buyer; a release with an output
 * policy must carry exactly the privacy terms the approval states (approval v2); the rows must be sealed to
 * this enclave's unwrap key.
 */
export function checkReleaseAuthority(
  req: {
    trade: z.infer<typeof TradeContext>;
    manifest: BundleManifest;
    computation: Computation;
    approval?: unknown;
    reviewerCertificate?: unknown;
    policy?: z.infer<typeof OutputPolicy>;
    budget?: z.infer<typeof BudgetTerms> | undefined;
  },
  ks: Keystore,
  now: Date,
  opts: { testMode?: boolean } = {},
): string {
  const commitment = manifestCommitment(req.manifest);
  if (commitment !== req.manifest.commitment) throw refuse('release-refused', 'the manifest does not match its commitment');
  const check = verifyApproval(req.approval, req.reviewerCertificate, ks.operatorPublicKeyPem, {
    tradeId: req.trade.tradeId,
    datasetId: req.trade.datasetId,
    datasetCommitment: commitment,
    computationHash: computationHash(req.computation),
    buyerOrgId: req.trade.buyerOrgId,
    now,
  });
  if (!check.ok) throw refuse('approval-invalid', `release refused: ${check.reason}`, { reason: check.reason });
  const st = (req.approval as { statement: { offerId: string; offerVersion: number } }).statement;
  if (st.offerId !== req.trade.offerId || st.offerVersion !== req.trade.offerVersion) {
    throw refuse('approval-invalid', 'release refused: the approval is for another offer or offer version');
  }
  if (req.policy) checkApprovedTerms(req.approval, { policy: req.policy, budget: req.budget }, opts.testMode ?? false);
  if (req.manifest.rows.unwrapKeyFingerprint !== keyFingerprints(ks).unwrap) {
    throw refuse('release-refused', "the bundle's rows were not sealed to this enclave's unwrap key");
  }
  return commitment;
}
