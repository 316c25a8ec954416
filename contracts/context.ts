import { AuditLog } from './audit/log.js';
import type { DatasetSchema } from './dataset/schema.js';
import { type Clock, systemClock } from './ids.js';
import { Ledger } from './ledger/ledger.js';
import { DEFAULT_POLICY } from './policy/default.js';
import type { PolicyDocument } from './policy/schema.js';
import type { Signer } from './signer.js';
import type { ContractsStore } from './store.js';

/** What contracts/ needs to know about a dataset; the server owns datasets and passes this in. */
export interface DatasetRef {
  id: string;
  ownerOrgId: string;
  /** SM3 commitment over the sealed manifest (formats). */
  commitment: string;
  schema: DatasetSchema;
  rowCount: number;
  /** the owner's dataset-wide privacy budget (all buyers together); defaults apply when absent */
  privacyBudget?: { epsilonBudgetTotal: number; deltaBudgetTotal: number };
}

/** The acting person: user id and organisation id as the server authenticated them. */
export interface Actor {
  userId: string;
  orgId: string;
}

/** A buyer as the negative list sees it (the name is matched against the entity list). */
export interface BuyerRef extends Actor {
  orgName: string;
}

export interface ContractsOptions {
  store: ContractsStore;
  /** Signs quotes and audit checkpoints: the platform key, held by the enclave. */
  signer: Signer;
  clock?: Clock;
  /** The operator key that certifies reviewer keys (read when a review is decided). */
  operatorPublicKeyPem?: string | (() => Promise<string | undefined> | string | undefined);
  /** How long a quote stays valid (default 15 min). */
  quoteTtlMs?: number;
  /** How long a trade may wait for a reviewer before it expires (default 72 h). */
  reviewTtlMs?: number;
  /** How long an auto-approved trade may wait for execution (default 24 h). */
  autoApprovalTtlMs?: number;
  /** Longest an approval may stay valid after the decision (default 7 days; never past the offer's validUntil). */
  approvalMaxValidityMs?: number;
}

/** Shared wiring of the services: one store, one clock, one audit log, one ledger. */
export class Context {
  readonly store: ContractsStore;
  readonly clock: Clock;
  readonly signer: Signer;
  readonly audit: AuditLog;
  readonly ledger: Ledger;
  readonly quoteTtlMs: number;
  readonly reviewTtlMs: number;
  readonly autoApprovalTtlMs: number;
  readonly approvalMaxValidityMs: number;
  private readonly operatorKey: ContractsOptions['operatorPublicKeyPem'];

  constructor(o: ContractsOptions) {
    this.store = o.store;
    this.clock = o.clock ?? systemClock;
    this.signer = o.signer;
    this.audit = new AuditLog(o.store.audit, this.clock);
    this.ledger = new Ledger(o.store.ledger, this.audit, this.clock, o.store.transaction);
    this.quoteTtlMs = o.quoteTtlMs ?? 15 * 60_000;
    this.reviewTtlMs = o.reviewTtlMs ?? 72 * 3_600_000;
    this.autoApprovalTtlMs = o.autoApprovalTtlMs ?? 24 * 3_600_000;
    this.approvalMaxValidityMs = o.approvalMaxValidityMs ?? 7 * 86_400_000;
    this.operatorKey = o.operatorPublicKeyPem;
  }

  nowIso(): string {
    return this.clock.now().toISOString();
  }

  async operatorPublicKeyPem(): Promise<string | undefined> {
    return typeof this.operatorKey === 'function' ? await this.operatorKey() : this.operatorKey;
  }

  /** The active negative list; the shipped default is installed on first use. */
  async policy(): Promise<PolicyDocument> {
    const active = await this.store.policies.active();
    if (active) return active;
    await this.store.transaction(async () => {
      if (await this.store.policies.active()) return;
      await this.store.policies.put(DEFAULT_POLICY, this.nowIso());
      await this.audit.append({ actor: 'system', entityType: 'policy', entityId: DEFAULT_POLICY.policyId, action: 'policy.published', data: { version: DEFAULT_POLICY.version, default: true } });
    });
    return (await this.store.policies.active())!;
  }
}
