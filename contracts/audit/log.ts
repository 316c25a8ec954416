import { canonicalJson, sm2Fingerprint, sm2PublicKeyFromPem, toB64, utf8 } from '../../crypto/index.js';
import { type Clock, newId } from '../ids.js';
import type { Signer } from '../signer.js';
import { type AuditEvent, chainEvent, type CheckpointStatement, GENESIS_HASH, type SignedCheckpoint } from './chain.js';

/** The audit chain's storage port (contracts/store.ts gathers the ports). */
export interface AuditStore {
  last(): Promise<AuditEvent | undefined>;
  append(event: AuditEvent): Promise<void>;
  /** Events with seq > afterSeq, ascending. */
  events(filter: { afterSeq?: number; limit?: number; entityType?: string; entityId?: string }): Promise<AuditEvent[]>;
  putCheckpoint(cp: SignedCheckpoint): Promise<void>;
  latestCheckpoint(): Promise<SignedCheckpoint | undefined>;
  checkpoints(): Promise<SignedCheckpoint[]>;
}

export interface AuditInput {
  actor: string;
  entityType: string;
  entityId: string;
  action: string;
  data?: Record<string, unknown>;
}

/**
 * Appends events to the chain. Call `append` inside the store transaction of the change it records,
 * so the event and the change commit together; seq and prevHash come from the last stored event in
 * that same transaction, which keeps the chain linear (SQLite serialises writers; on PostgreSQL two
 * appends from one head conflict on seq and one transaction is re-run).
 */
export class AuditLog {
  constructor(
    private readonly store: AuditStore,
    private readonly clock: Clock,
  ) {}

  async append(input: AuditInput): Promise<AuditEvent> {
    const prev = await this.store.last();
    const data = JSON.parse(canonicalJson(input.data ?? {})) as Record<string, unknown>; // refuses undefined/NaN early
    const event = chainEvent(
      {
        seq: (prev?.seq ?? 0) + 1,
        id: newId(),
        at: this.clock.now().toISOString(),
        actor: input.actor,
        entityType: input.entityType,
        entityId: input.entityId,
        action: input.action,
        data,
      },
      prev,
    );
    await this.store.append(event);
    return event;
  }

  /**
   * Signs the current head. Signing may be asynchronous (the key is in the enclave), so the head is
   * read first and the checkpoint names exactly that seq — events appended meanwhile are covered by
   * the next checkpoint.
   */
  async checkpoint(signer: Signer): Promise<SignedCheckpoint> {
    const last = await this.store.last();
    const latest = await this.store.latestCheckpoint();
    if (latest && last && latest.statement.seq === last.seq) return latest;
    const statement: CheckpointStatement = {
      type: 'shuyu.audit-checkpoint.v1',
      seq: last?.seq ?? 0,
      head: last?.hash ?? GENESIS_HASH,
      at: this.clock.now().toISOString(),
      keyFingerprint: sm2Fingerprint(sm2PublicKeyFromPem(signer.publicKeyPem)),
      previous: latest ? { seq: latest.statement.seq, head: latest.statement.head } : null,
    };
    const signature = toB64(await signer.sign(utf8(canonicalJson(statement))));
    const cp: SignedCheckpoint = { statement, signature, publicKeyPem: signer.publicKeyPem };
    const again = await this.store.latestCheckpoint();
    if (again && again.statement.seq !== latest?.statement.seq) return again; // another caller got there first
    await this.store.putCheckpoint(cp);
    // another caller (another server) may have stored a checkpoint of the same head meanwhile: that one stands
    const stored = await this.store.latestCheckpoint();
    return stored && stored.statement.seq === cp.statement.seq ? stored : cp;
  }
}
