import type { z } from 'zod';
import type { Computation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import { computationHash } from '../../contracts/computation.js';
import { verifyApproval } from '../../contracts/review/approval.js';
import { sm2Fingerprint } from '../../crypto/index.js';
import { type BundleManifest, manifestCommitment } from '../../formats/manifest.js';
import type { BudgetTerms, OutputPolicy, TradeContext } from '../../formats/enclave-protocol.js';
import type { Keystore } from '../keystore/keystore.js';
import { checkApprovedTerms } from '../privacy/approved-terms.js';

const refuse = (type: string, message: string, detail: Record<string, unknown> = {}): DomainError => new DomainError(type, message, detail);

/**
 * Authority checks shared by the SQL and verify releases; returns the dataset commitment. A release with an
 * output policy must also carry exactly the privacy terms the approval states (approval v2).
 */
export function checkReleaseAuthority(
  req: {
    trade: z.infer<typeof TradeContext>;
    manifest: BundleManifest;
    computation: Computation;
    approval: unknown;
    reviewerCertificate: unknown;
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
  if (req.manifest.rows.unwrapKeyFingerprint !== sm2Fingerprint(ks.unwrap.publicKey)) {
    throw refuse('release-refused', "the bundle's rows were not sealed to this enclave's unwrap key");
  }
  return commitment;
}
