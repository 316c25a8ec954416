import { DomainError } from '../../contracts/errors.js';
import { approvedPrivacyTerms, privacyTermsMismatch, type ApprovalStatement } from '../../contracts/review/approval.js';

/**
 * The release's output policy and budget terms must be the ones the reviewer signed (approval v2): the server
 * composes the release request, so without this binding it could loosen k, ε or a budget after approval.
 * A v1 approval states no terms: only a test enclave releases under one.
 */

export interface ReleaseTerms {
  policy: { minGroupSize: number; dp?: { epsilon: number; delta?: number | undefined } | undefined; maxRowsPerPerson?: number | undefined };
  budget?:
    | {
        limitEpsilon: number;
        refusalAllowance?: number | undefined;
        datasetLimitEpsilon?: number | undefined;
        datasetLimitDelta?: number | undefined;
      }
    | undefined;
}

/** Call after the approval's signature and binding were verified. */
export function checkApprovedTerms(approval: unknown, release: ReleaseTerms, testMode: boolean): void {
  const statement = (approval as { statement: ApprovalStatement }).statement;
  const approved = approvedPrivacyTerms(statement);
  if (!approved) {
    if (testMode) return;
    throw new DomainError('approval-invalid', 'release refused: the approval does not state the privacy terms it approves (shuyu.approval.v1); the trade needs a new review');
  }
  if (!release.budget) {
    throw new DomainError('release-refused', 'release refused: the approved budget terms (buyer and dataset budgets, refusal allowance) were not sent');
  }
  const p = release.policy;
  const b = release.budget;
  const differs = privacyTermsMismatch(approved, {
    minGroupSize: p.minGroupSize,
    epsilon: p.dp?.epsilon ?? 0,
    delta: p.dp?.delta ?? 0,
    maxRowsPerPerson: p.maxRowsPerPerson,
    epsilonBudgetPerBuyer: b.limitEpsilon,
    refusalAllowance: b.refusalAllowance ?? DEFAULT_REFUSAL_ALLOWANCE,
    epsilonBudgetTotal: b.datasetLimitEpsilon ?? Number.NaN,
    deltaBudgetTotal: b.datasetLimitDelta ?? Number.NaN,
  });
  if (differs) {
    throw new DomainError('approval-invalid', `release refused: its ${differs} is not the one the reviewer approved`, { term: differs });
  }
}

/** The offer's default refusal allowance (contracts/offer/offer.ts), for requests that do not state one. */
export const DEFAULT_REFUSAL_ALLOWANCE = 3;
