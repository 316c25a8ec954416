import type { AuditEvent, SignedCheckpoint } from '../../../contracts/audit/chain.js';
import type { AuditStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';

type EventRow = { seq: number; id: string; at: string; actor: string; entity_type: string; entity_id: string; action: string; data: string; prev_hash: string; hash: string };
const toEvent = (r: EventRow): AuditEvent => ({
  seq: r.seq,
  id: r.id,
  at: r.at,
  actor: r.actor,
  entityType: r.entity_type,
  entityId: r.entity_id,
  action: r.action,
  data: JSON.parse(r.data) as Record<string, unknown>,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/** The audit chain's tables; seq is the primary key, so two appends from one head cannot both commit. */
export function auditStore(db: Db): AuditStore {
  return {
    last: async () => {
      const r = await db.get<EventRow>('SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1');
      return r && toEvent(r);
    },
    append: async (e) =>
      void (await db.run(
        'INSERT INTO audit_events (seq, id, at, actor, entity_type, entity_id, action, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        e.seq,
        e.id,
        e.at,
        e.actor,
        e.entityType,
        e.entityId,
        e.action,
        JSON.stringify(e.data),
        e.prevHash,
        e.hash,
      )),
    events: async (f) => {
      const where = ['seq > ?'];
      const args: unknown[] = [f.afterSeq ?? 0];
      if (f.entityType) (where.push('entity_type = ?'), args.push(f.entityType));
      if (f.entityId) (where.push('entity_id = ?'), args.push(f.entityId));
      return (await db.all<EventRow>(`SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, ...args, f.limit ?? 1_000_000)).map(toEvent);
    },
    // two processes may sign the same head at once: the first stored checkpoint of a seq stands
    putCheckpoint: async (cp) => void (await db.run('INSERT INTO audit_checkpoints (seq, doc) VALUES (?, ?) ON CONFLICT (seq) DO NOTHING', cp.statement.seq, JSON.stringify(cp))),
    latestCheckpoint: async () => {
      const r = await db.get<{ doc: string }>('SELECT doc FROM audit_checkpoints ORDER BY seq DESC LIMIT 1');
      return r && (JSON.parse(r.doc) as SignedCheckpoint);
    },
    checkpoints: async () => (await db.all<{ doc: string }>('SELECT doc FROM audit_checkpoints ORDER BY seq')).map((r) => JSON.parse(r.doc) as SignedCheckpoint),
  };
}
