import type { TradeStore } from '../../../contracts/store.js';
import type { TradeState } from '../../../contracts/trade/states.js';
import type { Trade, TradeTransition } from '../../../contracts/trade/trade.js';
import type { Db } from '../db.js';
import { stmt } from '../statements.js';

const parse = (row: unknown): Trade | undefined => (row ? (JSON.parse((row as { doc: string }).doc) as Trade) : undefined);
const placeholders = (n: number) => Array(n).fill('?').join(', ');

export function sqliteTradeStore(db: Db): TradeStore {
  const insert = db.prepare(`INSERT INTO trades (id, state, quote_id, offer_id, offer_version, dataset_id, owner_org_id, buyer_org_id, expires_at, doc, created_at, updated_at)
    VALUES (@id, @state, @quoteId, @offerId, @offerVersion, @datasetId, @ownerOrgId, @buyerOrgId, @expiresAt, @doc, @createdAt, @updatedAt)`);
  const get = db.prepare('SELECT doc FROM trades WHERE id = ?');
  const byQuote = db.prepare('SELECT doc FROM trades WHERE quote_id = ?');
  const update = db.prepare('UPDATE trades SET state = @state, expires_at = @expiresAt, doc = @doc, updated_at = @updatedAt WHERE id = @id AND state = @expected');
  const addTransition = db.prepare('INSERT INTO trade_transitions (trade_id, from_state, to_state, actor, reason, code, params, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const transitions = db.prepare('SELECT trade_id, from_state, to_state, actor, reason, code, params, at FROM trade_transitions WHERE trade_id = ? ORDER BY seq');
  const row = (t: Trade) => ({
    id: t.id,
    state: t.state,
    quoteId: t.quoteId,
    offerId: t.offerId,
    offerVersion: t.offerVersion,
    datasetId: t.datasetId,
    ownerOrgId: t.ownerOrgId,
    buyerOrgId: t.buyerOrgId,
    expiresAt: t.expiresAt,
    doc: JSON.stringify(t),
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  });
  return {
    insert: (t) => void insert.run(row(t)),
    get: (id) => parse(get.get(id)),
    getByQuote: (q) => parse(byQuote.get(q)),
    update: (t, expected) => update.run({ id: t.id, state: t.state, expiresAt: t.expiresAt, doc: JSON.stringify(t), updatedAt: t.updatedAt, expected }).changes === 1,
    appendTransition: (t: TradeTransition) => void addTransition.run(t.tradeId, t.from, t.to, t.actor, t.reason, t.code, JSON.stringify(t.params), t.at),
    transitions: (id) =>
      (transitions.all(id) as { trade_id: string; from_state: TradeState; to_state: TradeState; actor: string; reason: string; code: string | null; params: string | null; at: string }[]).map((r) => ({
        tradeId: r.trade_id,
        from: r.from_state,
        to: r.to_state,
        actor: r.actor,
        reason: r.reason,
        // steps recorded before reasons had codes read back as their text
        ...(r.code ? { code: r.code as TradeTransition['code'], params: JSON.parse(r.params ?? '{}') as TradeTransition['params'] } : { code: 'trade.note' as const, params: { text: r.reason } }),
        at: r.at,
      })),
    due: (states, now) =>
      stmt(db, `SELECT doc FROM trades WHERE state IN (${placeholders(states.length)}) AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at`)
        .all(...states, now)
        .map((r) => parse(r)!),
    countByBuyer: (buyer, offerId, states, since) =>
      (
        stmt(db, `SELECT COUNT(*) AS n FROM trades WHERE buyer_org_id = ? AND offer_id = ? AND state IN (${placeholders(states.length)}) AND created_at >= ?`)
          .get(buyer, offerId, ...states, since ?? '') as { n: number }
      ).n,
    list: (f) => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.buyerOrgId) (where.push('buyer_org_id = ?'), args.push(f.buyerOrgId));
      if (f.ownerOrgId) (where.push('owner_org_id = ?'), args.push(f.ownerOrgId));
      if (f.states?.length) (where.push(`state IN (${placeholders(f.states.length)})`), args.push(...f.states));
      if (f.afterId) (where.push('id > ?'), args.push(f.afterId));
      const sql = `SELECT doc FROM trades ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
      return stmt(db, sql).all(...args, f.limit ?? 100).map((r) => parse(r)!);
    },
  };
}
