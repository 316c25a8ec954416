import { DomainError } from '../../contracts/errors.js';
import type { z } from 'zod';
import { DEFAULT_REFUSAL_ALLOWANCE } from '../privacy/approved-terms.js';
import { DifferencingGuard, differencingHistory } from '../privacy/differencing.js';
import { releaseBudget } from '../privacy/gate.js';
import { pinExactRowCap } from '../privacy/row-cap.js';
import { release, type ReleaseDeps, type ReleaseKind } from '../release/front.js';
import { SqlReleaseRequest, type SqlReleaseResponse, type SqlResult } from '../../formats/enclave-protocol.js';
import { runSqlComputation, sqlModeOf } from './run.js';

/**
 * Release of a SQL computation, the `sql` kind of the release front (front.ts: approval, commitment,
 * computation hash, approved terms and unwrap key checked once for every kind; row map; signed receipt): a slot
 * of the refusal allowance before any row is opened, then validate → sandbox over the row chunks the enclave
 * reads and re-hashes itself, streamed one at a time as the sandbox asks for them → gate.
 */

type Req = z.infer<typeof SqlReleaseRequest>;
const refuse = (type: string, message: string): DomainError => new DomainError(type, message);

const whoOf = (req: Req, commitment: string) => ({
  chargeKey: req.budget?.chargeKey ?? `trade:${req.trade.tradeId}`,
  tradeId: req.trade.tradeId,
  buyerOrgId: req.trade.buyerOrgId,
  datasetKey: commitment,
});

export const sqlKind: ReleaseKind<Req, SqlResult> = {
  label: 'sql',
  request: SqlReleaseRequest,

  async admit(req, s, deps) {
    if (req.policy.dp && req.policy.mode !== 'exact-for-tests' && !req.budget) throw refuse('release-refused', "a DP release needs the offer's ε budget terms");
    // Data-dependent refusals are recorded per buyer × dataset commitment; once the allowance is used (or held by
    // the buyer's releases still running), every SQL release (exact or DP: a DP query can be refused on the rows
    // too) is refused here, from the counts alone, before any row is opened.
    const slot = await deps.ledger.reserveRefusalAllowance({ ...whoOf(req, s.commitment), allowance: req.budget?.refusalAllowance ?? DEFAULT_REFUSAL_ALLOWANCE });
    s.onEnd(() => slot.release());
    // one per-person row cap for every exact release of the version (from the terms alone, before any row)
    if (sqlModeOf(req.policy) === 'exact' && req.policy.mode !== 'exact-for-tests')
      await pinExactRowCap(deps.ledger.store, { commitment: s.commitment, schema: req.manifest.schema, maxRowsPerPerson: req.policy.maxRowsPerPerson, tradeId: req.trade.tradeId });
  },

  // an exact release goes through the differencing guard, which reads the version's row map — asked for once
  // the query is validated, so a refused query opens no row
  rowMap: (req) => (sqlModeOf(req.policy) === 'exact' && req.policy.mode !== 'exact-for-tests' ? 'lazy' : 'none'),

  async compute(req, s, deps) {
    const who = whoOf(req, s.commitment);
    const run = await deps.ledger.recordingRefusals(who, async () =>
      runSqlComputation({
        query: req.computation.query,
        ...(req.computation.clamp ? { clamp: req.computation.clamp } : {}),
        schema: req.manifest.schema,
        chunks: s.rows.stream(),
        unwrapPrivateKey: deps.keystore.unwrap.privateKey,
        policy: req.policy,
        ...(req.budget ? { budget: releaseBudget(deps.ledger, req.trade, s.commitment, req.budget) } : {}),
        differencing: {
          guard: new DifferencingGuard(deps.ledger.store),
          ...differencingHistory(s.commitment),
          rowMap: () => s.rows.map(),
        },
        ...(deps.limits ? { limits: deps.limits } : {}),
        ...(deps.shares ? { shares: { ...deps.shares, manifest: req.manifest } } : {}),
      }),
    );
    const result: SqlResult = {
      kind: 'sql',
      normalizedQuery: run.normalizedQuery,
      queryHash: run.queryHash,
      outputs: run.outputs,
      groupBy: run.groupBy,
      groups: run.groups,
    };
    return { result, privacy: { ...run.privacy } };
  },
};

/** Release a SQL computation through the release front. */
export function releaseSql(input: unknown, deps: ReleaseDeps): Promise<SqlReleaseResponse> {
  return release(sqlKind, input, deps) as Promise<SqlReleaseResponse>;
}
