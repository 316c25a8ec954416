import { z } from 'zod';
import { defineRoute, type RouteDef } from '../../http/route.js';
import { DomainError } from '../../../contracts/errors.js';
import { HOLDING_STATES } from '../../../contracts/trade/states.js';
import {
  Wallet, WalletQuery, Statement, StatementQuery, TopUpRequest, LedgerTxn, AuditEvents, AuditEventsQuery, Checkpoints, SignedCheckpoint, AuditVerification,
  PolicyDocument, PolicyHistory, PolicyVersionParams, PurposeList,
} from '../../../formats/http-api.js';
import { PURPOSES } from '../../../contracts/policy/purposes.js';
import type { TradeDeps } from './trades.js';
import type { Principal } from '../../http/route.js';

/** Ledger (wallets, statements, top-ups), audit (events, checkpoints, verification) and the negative list. */
export function moneyRoutes(d: TradeDeps): RouteDef[] {
  const { s, contracts } = d;
  /** Operators may name any organisation; everyone else sees their own. */
  const orgFor = async (p: Principal, requested: string | undefined): Promise<string> => {
    if (!requested || requested === p.orgId) return p.orgId;
    if (p.role !== 'operator') throw new DomainError('not-found', `no wallet for organisation ${requested}`);
    if (!await s.identity.getOrg(requested)) throw new DomainError('not-found', `no organisation with id ${requested}`);
    return requested;
  };
  return [
    defineRoute({
      id: 'get-wallet', method: 'get', path: '/v1/ledger/wallet', summary: 'Read the organisation’s balances', roles: ['owner', 'buyer', 'operator'],
      query: WalletQuery, responses: { 200: Wallet },
      handler: async ({ query, principal }) => {
        const orgId = await orgFor(principal!, query.orgId);
        const accounts = await contracts.accounts(orgId);
        const b = await contracts.balances(orgId);
        const held = (await contracts.listTrades({ buyerOrgId: orgId, states: HOLDING_STATES, limit: 10_000 })).reduce((a, t) => a + t.priceFen, 0);
        return { status: 200, body: { orgId, accounts, availableFen: b.walletFen, heldFen: held, revenueFen: b.revenueFen } };
      },
    }),
    defineRoute({
      id: 'get-statement', method: 'get', path: '/v1/ledger/statements', summary: 'Read the organisation’s ledger statement', roles: ['owner', 'buyer', 'operator'],
      query: StatementQuery, responses: { 200: Statement },
      handler: async ({ query, principal }) => {
        const orgId = await orgFor(principal!, query.orgId);
        const seen = new Map<string, z.infer<typeof LedgerTxn>>();
        for (const acct of [`wallet:${orgId}`, `revenue:${orgId}`]) {
          for (const t of await contracts.statement(acct, { ...(query.after !== undefined ? { afterSeq: query.after } : {}), limit: query.limit + 1 })) seen.set(t.id, t);
        }
        const all = [...seen.values()].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
        const items = all.slice(0, query.limit);
        return { status: 200, body: { orgId, transactions: items, nextAfter: all.length > query.limit ? (items[items.length - 1]!.seq ?? null) : null } };
      },
    }),
    defineRoute({
      id: 'top-up', method: 'post', path: '/v1/ledger/topups', summary: 'Credit an organisation’s wallet', roles: ['operator'],
      body: TopUpRequest, idempotent: true, responses: { 201: LedgerTxn },
      handler: async ({ body, principal, idempotencyKey }) => {
        if (!await s.identity.getOrg(body.orgId)) throw new DomainError('not-found', `no organisation with id ${body.orgId}`);
        const t = await contracts.topUp({ orgId: body.orgId, amountFen: body.amountFen, idempotencyKey: `http:${principal!.userId}:${idempotencyKey}`, actor: principal!.userId, memo: body.memo });
        return { status: 201, body: t };
      },
    }),
    defineRoute({
      id: 'audit-events', method: 'get', path: '/v1/audit/events', summary: 'Read the audit chain', roles: ['operator'],
      query: AuditEventsQuery, responses: { 200: AuditEvents },
      handler: async ({ query }) => {
        const events = await contracts.auditEvents({ ...(query.after !== undefined ? { afterSeq: query.after } : {}), limit: query.limit + 1, ...(query.entityId ? { entityId: query.entityId } : {}) });
        const items = events.slice(0, query.limit);
        return { status: 200, body: { events: items, nextAfter: events.length > query.limit ? items[items.length - 1]!.seq : null } };
      },
    }),
    defineRoute({
      id: 'audit-checkpoints', method: 'get', path: '/v1/audit/checkpoints', summary: 'List signed audit checkpoints', roles: ['operator'],
      responses: { 200: Checkpoints },
      handler: async () => ({ status: 200, body: { checkpoints: await contracts.checkpoints() } }),
    }),
    defineRoute({
      id: 'create-audit-checkpoint', method: 'post', path: '/v1/audit/checkpoints', summary: 'Sign the current head of the audit chain', roles: ['operator'],
      responses: { 201: SignedCheckpoint },
      handler: async () => ({ status: 201, body: await contracts.checkpoint() }),
    }),
    defineRoute({
      id: 'verify-audit', method: 'get', path: '/v1/audit/verify', summary: 'Verify the whole audit chain and its checkpoints', roles: ['operator'],
      responses: { 200: AuditVerification },
      handler: async () => {
        const v = await contracts.verifyAudit();
        return { status: 200, body: v.ok ? v : { ...v, events: (await contracts.auditEvents({})).length, checkpoints: (await contracts.checkpoints()).length } };
      },
    }),
    defineRoute({
      id: 'get-policy', method: 'get', path: '/v1/policy', summary: 'Read the active negative list', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      responses: { 200: PolicyDocument },
      handler: async () => ({ status: 200, body: await contracts.activePolicy() }),
    }),
    defineRoute({
      id: 'policy-history', method: 'get', path: '/v1/policy/versions', summary: 'List every negative-list version published, newest first',
      roles: ['owner', 'buyer', 'reviewer', 'operator'], responses: { 200: PolicyHistory },
      handler: async () => {
        const active = await contracts.activePolicy();
        const items = (await contracts.policyHistory()).map((v) => ({ ...v, active: v.policyId === active.policyId && v.version === active.version }));
        return { status: 200, body: { items } };
      },
    }),
    defineRoute({
      id: 'get-policy-version', method: 'get', path: '/v1/policy/versions/:policyId/:version', summary: 'Read one negative-list version (findings name the version they were made under)',
      roles: ['owner', 'buyer', 'reviewer', 'operator'], params: PolicyVersionParams, responses: { 200: PolicyDocument },
      handler: async ({ params }) => ({ status: 200, body: await contracts.policyVersion(params.policyId, params.version) }),
    }),
    defineRoute({
      id: 'list-purposes', method: 'get', path: '/v1/purposes', summary: 'List the purposes a buyer may declare, with their Chinese and English names',
      roles: 'public', responses: { 200: PurposeList },
      handler: async () => {
        const active = await contracts.activePolicy();
        const purposeRules = active.rules.filter((r) => r.kind === 'purpose');
        const purposes = PURPOSES.purposes.map((p) => {
          const naming = purposeRules.filter((r) => r.purposes.includes(p.code));
          return { ...p, prohibited: naming.some((r) => r.effect === 'deny'), ruleIds: naming.map((r) => r.id) };
        });
        return { status: 200, body: { ...PURPOSES, activePolicy: { policyId: active.policyId, version: active.version }, purposes } };
      },
    }),
    defineRoute({
      id: 'publish-policy', method: 'put', path: '/v1/policy', summary: 'Publish a new negative-list version', roles: ['operator'],
      body: z.record(z.string(), z.unknown()), responses: { 200: PolicyDocument },
      handler: async ({ body, principal }) => ({ status: 200, body: await contracts.publishPolicy(body, principal!.userId) }),
    }),
  ];
}
