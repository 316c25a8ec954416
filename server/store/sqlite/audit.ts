import type { AuditEvent, SignedCheckpoint } from '../../../contracts/audit/chain.js';
import type { AuditStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';
import { stmt } from '../statements.js';

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

export function sqliteAuditStore(db: Db): AuditStore {
  const last = db.prepare('SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1');
  const insert = db.prepare(`INSERT INTO audit_events (seq, id, at, actor, entity_type, entity_id, action, data, prev_hash, hash)
    VALUES (@seq, @id, @at, @actor, @entityType, @entityId, @action, @data, @prevHash, @hash)`);
  const putCp = db.prepare('INSERT INTO audit_checkpoints (seq, doc) VALUES (?, ?)');
  const latestCp = db.prepare('SELECT doc FROM audit_checkpoints ORDER BY seq DESC LIMIT 1');
  const allCp = db.prepare('SELECT doc FROM audit_checkpoints ORDER BY seq');
  return {
    last: () => {
      const r = last.get() as EventRow | undefined;
      return r && toEvent(r);
    },
    append: (e) =>
      void insert.run({
        seq: e.seq,
        id: e.id,
        at: e.at,
        actor: e.actor,
        entityType: e.entityType,
        entityId: e.entityId,
        action: e.action,
        data: JSON.stringify(e.data),
        prevHash: e.prevHash,
        hash: e.hash,
      }),
    events: (f) => {
      const where = ['seq > ?'];
      const args: unknown[] = [f.afterSeq ?? 0];
      if (f.entityType) (where.push('entity_type = ?'), args.push(f.entityType));
      if (f.entityId) (where.push('entity_id = ?'), args.push(f.entityId));
      return (stmt(db, `SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`).all(...args, f.limit ?? 1_000_000) as EventRow[]).map(toEvent);
    },
    putCheckpoint: (cp) => void putCp.run(cp.statement.seq, JSON.stringify(cp)),
    latestCheckpoint: () => {
      const r = latestCp.get() as { doc: string } | undefined;
      return r && (JSON.parse(r.doc) as SignedCheckpoint);
    },
    checkpoints: () => (allCp.all() as { doc: string }[]).map((r) => JSON.parse(r.doc) as SignedCheckpoint),
  };
}
