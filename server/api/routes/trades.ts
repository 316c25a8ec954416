import { z } from 'zod';
import { defineRoute, type Principal, type RouteDef } from '../../http/route.js';
import { DomainError } from '../../../contracts/errors.js';
import type { Trade as TradeT } from '../../../contracts/trade/trade.js';
import { approvalStatementFor, privacyTermsFor } from '../../../contracts/review/approval.js';
import { hasResult, holdsMoney } from '../../../contracts/trade/states.js';
import {
  IdParams, SubmitTradeRequest, Trade, TradeDetail, TradeListQuery, CancelTradeRequest, TradeResult, ReviewCase, ReviewDecisionRequest, PageQuery, page,
} from '../../../formats/http-api.js';
import { datasetRef, buyerRef, type Contracts } from '../../trade/contracts.js';
import { columnsUsedFor, sqlModeOfOffer } from '../../trade/columns.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { Services } from '../services.js';
import { pageOf } from '../pagination.js';

export interface TradeDeps {
  s: Services;
  contracts: Contracts;
  jobs: JobQueue;
  /** Wakes the worker after a trade was approved. */
  kick(): void;
}

/**
 * A trade as `viewer` may read it. The purpose statement is the buyer's free text for the reviewer: its code is
 * what the trade is screened and priced by, so the data owner reads the code and not the text.
 */
export async function tradeView(d: TradeDeps, t: TradeT, viewer?: Principal | null): Promise<z.infer<typeof Trade>> {
  const job = await d.jobs.byTrade(t.id);
  const ownerOnly = viewer?.role === 'owner' && viewer.orgId !== t.buyerOrgId;
  return {
    ...t,
    ...(ownerOnly ? { purpose: { code: t.purpose.code, statement: '' } } : {}),
    // the owner sees who buys its data by name, not only by an id it cannot look up
    buyerOrgName: (await d.s.identity.getOrg(t.buyerOrgId))?.name ?? '',
    ownerOrgName: (await d.s.identity.getOrg(t.ownerOrgId))?.name ?? '',
    screening: t.screening as z.infer<typeof Trade>['screening'],
    job: job ? { state: job.state, attempts: job.attempts, error: job.errorMessage } : null,
  };
}

/** Trades (buyer), their receipts, and the review queue and decisions (reviewer). */
export function tradeRoutes(d: TradeDeps): RouteDef[] {
  const { s, contracts } = d;
  // TEST-ONLY fault hook, read once per start: SHUYU_FAULT_AT=after-approve kills the process (SIGKILL) right
  // after an approval committed, before anything else runs (the crash suite restarts it and checks the trade).
  const dieAfterApprove = process.env.SHUYU_FAULT_AT === 'after-approve';
  // The approval transaction already queued the job (contracts/ → JobStore); this only wakes the worker.
  const kickIfApproved = (t: TradeT) => {
    if (t.state !== 'approved') return;
    if (dieAfterApprove) process.kill(process.pid, 'SIGKILL');
    d.kick();
  };
  return [
    defineRoute({
      id: 'submit-trade', method: 'post', path: '/v1/trades', summary: 'Submit a quoted computation as a trade (holds the price)', roles: ['buyer'],
      body: SubmitTradeRequest, idempotent: true, responses: { 201: Trade },
      handler: async ({ body, principal }) => {
        const ds = await s.datasets.getDataset(body.quote.statement.datasetId);
        if (!ds) throw new DomainError('invalid-quote', 'the quote names a dataset that does not exist');
        const columnsUsed = await columnsUsedFor(body.computation, ds.schema, sqlModeOfOffer(await contracts.getOffer(body.quote.statement.offerId, body.quote.statement.offerVersion)));
        const t = await contracts.submitTrade({
          request: { quote: body.quote, computation: body.computation, ...(columnsUsed ? { columnsUsed } : {}) },
          dataset: datasetRef(ds),
          buyer: await buyerRef(principal!, s.identity),
        });
        kickIfApproved(t);
        return { status: 201, body: await tradeView(d, t) };
      },
    }),
    defineRoute({
      id: 'list-trades', method: 'get', path: '/v1/trades', summary: "List the organisation's trades", roles: ['owner', 'buyer', 'operator'],
      query: TradeListQuery, responses: { 200: page(Trade) },
      handler: async ({ query, principal }) => {
        const p = principal!;
        const filter = {
          ...(p.role === 'buyer' ? { buyerOrgId: p.orgId } : p.role === 'owner' ? { ownerOrgId: p.orgId } : {}),
          ...(query.state ? { states: [query.state] } : {}),
          ...(query.cursor ? { afterId: query.cursor } : {}),
          limit: query.limit + 1,
        };
        const r = pageOf(await contracts.listTrades(filter), query.limit);
        return { status: 200, body: { items: await Promise.all(r.items.map((t) => tradeView(d, t, p))), nextCursor: r.nextCursor } };
      },
    }),
    defineRoute({
      id: 'get-trade', method: 'get', path: '/v1/trades/:id', summary: 'Read a trade with its transitions', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      params: IdParams, object: { resource: 'trade', param: 'id', scope: { reviewer: 'all', operator: 'all' } }, responses: { 200: TradeDetail },
      handler: async ({ object, principal }) => {
        const t = object as TradeT;
        return { status: 200, body: { ...(await tradeView(d, t, principal)), transitions: await contracts.tradeTransitions(t.id) } };
      },
    }),
    defineRoute({
      id: 'cancel-trade', method: 'post', path: '/v1/trades/:id/cancel', summary: 'Cancel a trade before it runs (releases the hold)', roles: ['buyer'],
      params: IdParams, object: { resource: 'trade', param: 'id' }, body: CancelTradeRequest, idempotent: true, responses: { 200: Trade },
      handler: async ({ object, body, principal }) => ({
        status: 200,
        body: await tradeView(d, await contracts.cancel({ tradeId: (object as TradeT).id, actor: { userId: principal!.userId, orgId: principal!.orgId }, reason: body.reason })),
      }),
    }),
    defineRoute({
      id: 'get-trade-result', method: 'get', path: '/v1/trades/:id/result', summary: 'Fetch the signed receipt of a delivered trade', roles: ['buyer'],
      params: IdParams, object: { resource: 'trade', param: 'id' }, responses: { 200: TradeResult },
      handler: async ({ object }) => {
        const t = object as TradeT;
        const job = await d.jobs.byTrade(t.id);
        if (!hasResult(t.state) || !job?.receipt) {
          const why = t.state === 'failed' ? `the trade failed: ${t.failureReason}` : `the trade is ${t.state}; the result is not ready`;
          throw new DomainError('result-not-ready', why, { state: t.state });
        }
        return { status: 200, body: { tradeId: t.id, receipt: job.receipt, result: job.result } };
      },
    }),
    defineRoute({
      id: 'review-queue', method: 'get', path: '/v1/reviews', summary: 'List trades waiting for review', roles: ['reviewer', 'operator'],
      query: PageQuery, responses: { 200: page(Trade) },
      handler: async ({ query, principal }) => {
        const p = principal!;
        // A reviewer sees only trades they may decide (separation of duties).
        const all = await contracts.listTrades({ states: ['under_review'], ...(query.cursor ? { afterId: query.cursor } : {}), limit: 1000 });
        const mine = all.filter((t) => p.role === 'operator' || (t.buyerOrgId !== p.orgId && t.ownerOrgId !== p.orgId));
        const r = pageOf(mine.slice(0, query.limit + 1), query.limit);
        return { status: 200, body: { items: await Promise.all(r.items.map((t) => tradeView(d, t))), nextCursor: r.nextCursor } };
      },
    }),
    defineRoute({
      id: 'get-review-case', method: 'get', path: '/v1/reviews/:id', summary: 'Read a trade to review: findings, price, privacy cost, purpose',
      roles: ['reviewer'], params: IdParams, object: { resource: 'trade', param: 'id', scope: { reviewer: 'all' } }, responses: { 200: ReviewCase },
      handler: async ({ object, principal }) => {
        const t = object as TradeT;
        const ds = (await s.datasets.getDataset(t.datasetId))!;
        const me = (await s.identity.getUser(principal!.userId))!;
        const party = async (orgId: string) => {
          const o = await s.identity.getOrg(orgId);
          return { orgId, name: o?.name ?? '(unknown organisation)', region: o?.region ?? '' };
        };
        // The buyer's history on what was sealed (this bundle under any listing), from the trades table
        const earlier = (await contracts.listTrades({ buyerOrgId: t.buyerOrgId, limit: 10_000 })).filter((x) => (x.datasetId === t.datasetId || x.datasetCommitment === t.datasetCommitment) && x.id !== t.id);
        const terms = (await contracts.getOffer(t.offerId, t.offerVersion)).terms;
        const privacy = t.privacyTerms ?? privacyTermsFor(t, terms, ds);
        const released = earlier.filter((x) => hasResult(x.state)).sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
        const refused = earlier.filter((x) => x.failure?.code === 'privacy-refused').sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
        const epsilonReleased = released.reduce((sum, x) => sum + x.epsilonMilli, 0) / 1000;
        let spent: number | null = null;
        try {
          spent = s.enclave?.budgetSpent ? (await s.enclave.budgetSpent(t.buyerOrgId, t.datasetCommitment)).epsilon : null;
        } catch {
          spent = null; // the case stays readable while the enclave restarts
        }
        const LAST = 10;
        return {
          status: 200,
          body: {
            trade: await tradeView(d, t),
            dataset: { id: ds.id, title: ds.title, sector: ds.sector, maxLevel: ds.maxLevel, commitment: ds.commitment },
            buyer: await party(t.buyerOrgId),
            owner: await party(t.ownerOrgId),
            buyerHistory: {
              trades: earlier.length,
              settled: earlier.filter((x) => x.state === 'settled').length,
              // from submission until it settles or ends, the states that hold the buyer's money
              underReviewOrRunning: earlier.filter((x) => holdsMoney(x.state)).length,
              delivered: released.length,
              lastDelivered: released.slice(-LAST).map((x) => ({ tradeId: x.id, kind: x.computation.kind, epsilon: x.epsilonMilli / 1000, at: x.updatedAt })),
              privacyRefusals: refused.length,
              lastRefusals: refused.slice(-LAST).map((x) => ({ tradeId: x.id, type: x.failure!.type, chargedFen: x.failure!.chargedFen, at: x.updatedAt })),
              epsilonReleased,
              epsilonBudget: privacy.epsilonBudgetPerBuyer,
              refusalsUsed: refused.length,
              refusalAllowance: privacy.refusalAllowance,
            },
            privacyBudget: {
              limitEpsilon: terms.epsilonBudgetPerBuyer,
              epsilonPerQuery: terms.epsilonPerQuery,
              spentEpsilon: spent,
              remainingEpsilon: spent === null ? null : Math.max(0, terms.epsilonBudgetPerBuyer - spent),
            },
            privacyTerms: privacy,
            quoted: await contracts.quotedTerms(t),
            approvalMaxExpiresAt: await contracts.latestApprovalExpiry(t),
            approvalTemplate: approvalStatementFor({ trade: t, privacy, reviewerId: me.id, reviewerKeyFingerprint: me.keyFingerprint as string }),
          },
        };
      },
    }),
    defineRoute({
      id: 'decide-review', method: 'post', path: '/v1/reviews/:id/decision', summary: 'Approve (with a signed approval) or reject a trade',
      roles: ['reviewer'], params: IdParams, object: { resource: 'trade', param: 'id', scope: { reviewer: 'all' } }, body: ReviewDecisionRequest,
      responses: { 200: Trade },
      handler: async ({ object, body, principal }) => {
        const t = object as TradeT;
        const cert = await s.identity.reviewerCertificate(principal!.userId);
        if (body.decision === 'approve' && !cert) {
          throw new DomainError('invalid-certificate', 'you have no operator certificate for your current key; ask the operator to certify it');
        }
        const out = await contracts.decideReview({
          tradeId: t.id,
          reviewer: { userId: principal!.userId, orgId: principal!.orgId },
          decision: body,
          ...(cert ? { certificate: cert.certificate } : {}),
        });
        kickIfApproved(out);
        return { status: 200, body: await tradeView(d, out) };
      },
    }),
  ];
}
