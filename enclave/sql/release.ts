import { DomainError } from '../../contracts/errors.js';
import type { Keystore } from '../keystore/keystore.js';
import { DEFAULT_REFUSAL_ALLOWANCE } from '../privacy/approved-terms.js';
import { DifferencingGuard, differencingHistory } from '../privacy/differencing.js';
import { releaseBudget } from '../privacy/gate.js';
import { rowMapOf } from '../release/row-map.js';
import { checkReleaseAuthority } from '../release/authority.js';
import { rowChunksOf } from '../release/row-chunks.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { SqlReleaseRequest, SqlResult, type SqlReleaseResponse } from '../../formats/enclave-protocol.js';
import { signReceipt } from '../../formats/receipt.js';
import { buildReceiptPayload } from '../../formats/receipt-payload.js';
import { runSqlComputation } from './run.js';
import type { SandboxLimits } from '../sandbox/sandbox.js';

/**
 * Release of a SQL computation inside the enclave process: the same authority checks as the HE release
 * (approval re-verified with the pinned operator key, bound to trade, dataset commitment, computation hash and
 * buyer), then every sealed row chunk is checked against the manifest (SM3 and size, so the commitment pins
 * the rows), then validate → sandbox → gate → signed receipt.
 */

export interface SqlReleaseContext {
  keystore: Keystore;
  ledger: PrivacyBudgetLedger;
  testMode: boolean;
  now?: () => Date;
  limits?: Partial<SandboxLimits>;
}

const refuse = (type: string, message: string, detail: Record<string, unknown> = {}): DomainError => new DomainError(type, message, detail);

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
