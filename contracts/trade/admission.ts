import type { Computation } from '../computation.js';
import type { Context, DatasetRef } from '../context.js';
import { columnByName } from '../dataset/schema.js';
import { DomainError } from '../errors.js';
import type { Offer } from '../offer/offer.js';
import { columnsTouched } from '../policy/evaluate.js';
import type { TradeState } from './states.js';

/**
 * The offer's own terms, checked at quote time and again at submission: the offer is active and
 * valid now, on this dataset; the computation is of an offered kind and touches only offered
 * columns; the purpose and destination are ones the offer permits; the buyer has quota left.
 * (The negative list is separate: it is the regulator's rule, these are the owner's.)
 */

/** Trades that used up quota: everything except those refused or withdrawn before running. */
export const QUOTA_STATES: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered', 'settled', 'failed'];
/** Trades that paid a subscription period (not refunded). */
export const PAID_STATES: readonly TradeState[] = ['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered', 'settled'];

export interface AdmissionInput {
  offer: Offer;
  dataset: DatasetRef;
  computation: Computation;
  columnsUsed?: string[];
  buyerOrgId: string;
  purpose: { code: string; statement: string };
  destination: string;
}

const UNKNOWN_COLUMN_TYPE: Record<Computation['kind'], string> = { aggregate: 'computation-invalid', verify: 'verify-refused', sql: 'sql-refused' };

export async function admit(ctx: Context, a: AdmissionInput): Promise<void> {
  const { offer, dataset } = a;
  if (offer.status !== 'active') throw new DomainError('offer-withdrawn', 'this offer has been withdrawn', { offerId: offer.id });
  if (offer.datasetId !== dataset.id) throw new DomainError('invalid-request', 'the offer is not on this dataset');
  const now = ctx.clock.now().getTime();
  if (now < Date.parse(offer.terms.validFrom) || now >= Date.parse(offer.terms.validUntil)) {
    throw new DomainError('offer-not-valid', 'the offer is outside its validity window', { validFrom: offer.terms.validFrom, validUntil: offer.terms.validUntil });
  }
  if (!offer.allowedKinds.includes(a.computation.kind)) {
    throw new DomainError('computation-not-offered', `the offer does not sell ${a.computation.kind} computations`, { allowedKinds: offer.allowedKinds });
  }
  if (a.computation.kind === 'sql' && !a.columnsUsed) {
    throw new DomainError('invalid-request', 'an sql computation needs the columns the SQL validator found (columnsUsed)');
  }
  const touched = columnsTouched(a.computation, dataset.schema, a.columnsUsed);
  const unknown = touched.filter((c) => !columnByName(dataset.schema, c));
  if (unknown.length) {
    // the type the enclave gives the same computation (its planner, verify check or SQL validator)
    throw new DomainError(UNKNOWN_COLUMN_TYPE[a.computation.kind], `unknown columns: ${unknown.join(', ')}`, { columns: unknown });
  }
  const notOffered = touched.filter((c) => !offer.allowedColumns.includes(c));
  if (notOffered.length) {
    throw new DomainError('computation-not-offered', `the offer does not include columns: ${notOffered.join(', ')}`, { columns: notOffered });
  }
  if (!offer.terms.purposes.includes(a.purpose.code)) {
    throw new DomainError('purpose-not-permitted', `the offer does not permit the purpose "${a.purpose.code}"`, { purpose: a.purpose.code, purposes: offer.terms.purposes });
  }
  const permitted = offer.terms.destinations.some((d) => d === a.destination || (d.length === 2 && a.destination.startsWith(`${d}-`)));
  if (!permitted) {
    throw new DomainError('destination-not-permitted', `the offer does not permit results to go to ${a.destination}`, { destinations: offer.terms.destinations });
  }
  const used = await ctx.store.trades.countByBuyer(a.buyerOrgId, offer.id, QUOTA_STATES);
  if (used >= offer.terms.queryQuotaPerBuyer) {
    throw new DomainError('quota-exhausted', `the offer allows ${offer.terms.queryQuotaPerBuyer} queries per buyer`, { used, quota: offer.terms.queryQuotaPerBuyer });
  }
}

/** Start of the subscription period containing `now`, counted in whole periods from validFrom. */
export function periodStart(offer: Offer, now: Date, periodDays: number): string {
  const from = Date.parse(offer.terms.validFrom);
  const len = periodDays * 86_400_000;
  return new Date(from + Math.floor((now.getTime() - from) / len) * len).toISOString();
}
