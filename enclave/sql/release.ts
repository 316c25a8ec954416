import { z } from 'zod';
import { SqlComputation } from '../../contracts/computation.js';
import type { Computation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import { computationHash, verifyApproval } from '../../contracts/review/approval.js';
import { fromB64, sm2Fingerprint, sm3Hex } from '../crypto/index.js';
import { decodeSealedRowChunk, rowChunkAad, type SealedRowChunk } from '../format/row-chunk.js';
import { BundleManifest, manifestCommitment } from '../format/manifest.js';
import type { Keystore } from '../keystore/keystore.js';
import { checkApprovedTerms, DEFAULT_REFUSAL_ALLOWANCE } from '../privacy/approved-terms.js';
import { DifferencingGuard, differencingHistory } from '../privacy/differencing.js';
import { releaseBudget } from '../privacy/gate.js';
import { rowMapOf } from '../release/row-map.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { BudgetTerms, OutputPolicy, ReceiptSchema, RowChunkBlobs, TradeContext } from '../process/protocol.js';
import { signReceipt } from '../receipt.js';
import { buildReceiptPayload } from '../release/payload.js';
import { runSqlComputation } from './run.js';
import type { SandboxLimits } from './sandbox.js';

/**
 * Release of a SQL computation inside the enclave process: the same authority checks as the HE release
 * (approval re-verified with the pinned operator key, bound to trade, dataset commitment, computation hash and
 * buyer), then every sealed row chunk is checked against the manifest (SM3 and size, so the commitment pins
 * the rows), then validate → sandbox → gate → signed receipt.
 */

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
    rowChunks: RowChunkBlobs,
  })
  .strict();
export type SqlReleaseRequest = z.input<typeof SqlReleaseRequest>;

export const SqlReleaseResponse = z
  .object({ receipt: ReceiptSchema, result: SqlResult, privacy: z.record(z.string(), z.unknown()) })
  .strict();
export type SqlReleaseResponse = z.infer<typeof SqlReleaseResponse>;

export interface SqlReleaseContext {
  keystore: Keystore;
  ledger: PrivacyBudgetLedger;
  testMode: boolean;
  now?: () => Date;
  limits?: Partial<SandboxLimits>;
}

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

/** Match the blobs to the manifest's row chunks (SM3 + size) and decode them with their aad. */
export function rowChunksOf(manifest: BundleManifest, blobsB64: string[]): { sealed: SealedRowChunk; aad: Uint8Array }[] {
  const refs = manifest.chunks.filter((c) => c.kind === 'rows').sort((a, b) => a.index - b.index);
  if (refs.length !== blobsB64.length) throw refuse('release-refused', `expected ${refs.length} row chunks, got ${blobsB64.length}`);
  return refs.map((ref, i) => {
    let blob: Uint8Array;
    try {
      blob = fromB64(blobsB64[i]!);
    } catch {
      throw refuse('row-chunk-invalid', `row chunk ${ref.index}: not base64`);
    }
    if (blob.length !== ref.size || sm3Hex(blob) !== ref.sm3) throw refuse('row-chunk-invalid', `row chunk ${ref.index} is not the one the manifest names`);
    return { sealed: decodeSealedRowChunk(blob), aad: rowChunkAad(manifest.bundleId, ref.index) };
  });
}

export async function releaseSql(input: SqlReleaseRequest, ctx: SqlReleaseContext): Promise<SqlReleaseResponse> {
  const parsed = SqlReleaseRequest.safeParse(input);
  if (!parsed.success) throw refuse('release-invalid', `SQL release request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const req = parsed.data;
  const ks = ctx.keystore;
  if (req.policy.mode === 'exact-for-tests' && !ctx.testMode) throw refuse('release-refused', "policy mode 'exact-for-tests' is only accepted by a test enclave");
  const commitment = checkReleaseAuthority(req, ks, (ctx.now ?? (() => new Date()))(), { testMode: ctx.testMode });
  if (req.policy.dp && req.policy.mode !== 'exact-for-tests' && !req.budget) throw refuse('release-refused', "a DP release needs the offer's ε budget terms");
  // Data-dependent refusals are recorded per buyer × dataset commitment; once the allowance is used, every
  // SQL release (exact or DP: a DP query can be refused on the rows too) is refused here, from the count
  // alone, before any row is opened.
  const who = { chargeKey: req.budget?.chargeKey ?? `trade:${req.trade.tradeId}`, tradeId: req.trade.tradeId, buyerOrgId: req.trade.buyerOrgId, datasetKey: commitment };
  ctx.ledger.assertRefusalAllowance({ ...who, allowance: req.budget?.refusalAllowance ?? DEFAULT_REFUSAL_ALLOWANCE });
  const chunks = rowChunksOf(req.manifest, req.rowChunks);
  const run = await ctx.ledger.recordingRefusals(who, () => runSqlComputation({
    query: req.computation.query,
    ...(req.computation.clamp ? { clamp: req.computation.clamp } : {}),
    schema: req.manifest.schema,
    chunks,
    unwrapPrivateKey: ks.unwrap.privateKey,
    policy: req.policy,
    ...(req.budget ? { budget: releaseBudget(ctx.ledger, req.trade, commitment, req.budget) } : {}),
    differencing: {
      guard: new DifferencingGuard(ctx.ledger.database),
      ...differencingHistory(commitment),
      // the version's row map (dimension codes, subjects): stored at admission, derived here if missing
      rowMap: () => rowMapOf(req.manifest, req.rowChunks, { ledger: ctx.ledger, keystore: ks, ...(ctx.limits ? { limits: ctx.limits } : {}) }),
    },
    ...(ctx.limits ? { limits: ctx.limits } : {}),
  }));
  const result: SqlResult = {
    kind: 'sql',
    normalizedQuery: run.normalizedQuery,
    queryHash: run.queryHash,
    outputs: run.outputs,
    groupBy: run.groupBy,
    groups: run.groups,
  };
  const privacy = { ...run.privacy };
  const payload = buildReceiptPayload({ trade: req.trade, datasetCommitment: commitment, computation: req.computation, result, privacy });
  return { receipt: signReceipt(payload, ks.signing), result, privacy };
}
