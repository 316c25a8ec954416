/**
 * The API calls of the trade layer (offers, trades, review, ledger, audit, policy) in one place, so the
 * pages do not spell paths. Types are what the pages read; the server's schemas are the authority.
 */
import type { Computation } from '../../../contracts/computation.js';
import type { Offer } from '../../../contracts/offer/offer.js';
import type { Evaluation } from '../../../contracts/policy/schema.js';
import type { SignedApproval } from '../../../contracts/review/approval.js';
import { all, call, get } from './api.js';

export type { Offer };

export interface TradeView {
  id: string;
  state: string;
  offerId: string;
  offerVersion: number;
  datasetId: string;
  datasetCommitment: string;
  ownerOrgId: string;
  buyerOrgId: string;
  buyerUserId: string;
  computation: Computation;
  computationHash: string;
  purpose: { code: string; statement: string };
  destination: string;
  epsilonMilli: number;
  rows: number;
  minGroupSize: number;
  priceFen: number;
  ownerShareFen: number;
  platformFeeFen: number;
  screening: Evaluation | null;
  reviewerId: string | null;
  failureReason: string | null;
  result: Record<string, unknown> | null;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** Names the server may add for people (buyer organisation, dataset title …). */
  buyerOrgName?: string;
  buyerUserName?: string;
  datasetTitle?: string;
  /** ε budget of the buyer on this dataset, if the server reports it. */
  budget?: { epsilonRemaining?: number; epsilonTotal?: number; remainingMilli?: number; totalMilli?: number } | null;
}

export interface AuditEventView {
  seq: number;
  id: string;
  at: string;
  actor: string;
  entityType: string;
  entityId: string;
  action: string;
  data: Record<string, unknown>;
  hash?: string;
  prevHash?: string;
}

export const offersOfDataset = (datasetId: string): Promise<Offer[]> => all<Offer>('/offers', { datasetId });

export const myTrades = (): Promise<TradeView[]> => all<TradeView>('/trades');
export const trade = (id: string): Promise<TradeView> => get<TradeView>(`/trades/${id}`);
export const tradeEvents = (id: string): Promise<AuditEventView[]> => all<AuditEventView>(`/trades/${id}/events`);
export const tradeResult = (id: string): Promise<unknown> => get<unknown>(`/trades/${id}/result`);
export const tradeReceipt = (id: string): Promise<unknown> => get<unknown>(`/trades/${id}/receipt`);

export const reviewQueue = (): Promise<TradeView[]> => all<TradeView>('/reviews');
export const decide = (tradeId: string, body: { decision: 'approve'; reason: string; approval: SignedApproval } | { decision: 'reject'; reason: string }): Promise<unknown> =>
  call('POST', `/reviews/${tradeId}/decision`, { body, idempotent: true });

export const wallet = (): Promise<Record<string, unknown>> => get('/ledger/wallet');
export const statement = (): Promise<Record<string, unknown>[]> => all('/ledger/statement');

export const auditEvents = (): Promise<AuditEventView[]> => all<AuditEventView>('/audit/events', {}, 100);
export const auditVerify = (): Promise<Record<string, unknown>> => get('/audit/verify');
export const auditCheckpoint = (): Promise<Record<string, unknown>> => get('/audit/checkpoints/latest');

export const policies = (): Promise<Record<string, unknown>[]> => all('/policies');
