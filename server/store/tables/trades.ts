import type { TradeStore } from '../../../contracts/store.js';
import type { TradeState } from '../../../contracts/trade/states.js';
import type { Trade, TradeTransition } from '../../../contracts/trade/trade.js';
import type { Db } from '../db.js';

const parse = (row: unknown): Trade | undefined => (row ? (JSON.parse((row as { doc: string }).doc) as Trade) : undefined);
const placeholders = (n: number) => Array(n).fill('?').join(', ');
type TransitionRow = { trade_id: string; from_state: TradeState; to_state: TradeState; actor: string; reason: string; code: string | null; params: string | null; at: string };

export function tradeStore(db: Db): TradeStore {
  return {
    insert: async (t) =>
      void (await db.run(
        `INSERT INTO trades (id, state, quote_id, offer_id, offer_version, dataset_id, owner_org_id, buyer_org_id, expires_at, doc, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        t.id,
        t.state,
        t.quoteId,
        t.offerId,
        t.offerVersion,
        t.datasetId,
        t.ownerOrgId,
        t.buyerOrgId,
        t.expiresAt,
        JSON.stringify(t),
        t.createdAt,
        t.updatedAt,
      )),
    get: async (id) => parse(await db.get('SELECT doc FROM trades WHERE id = ?', id)),
    getByQuote: async (q) => parse(await db.get('SELECT doc FROM trades WHERE quote_id = ?', q)),
    update: async (t, expected) =>
      (await db.run('UPDATE trades SET state = ?, expires_at = ?, doc = ?, updated_at = ? WHERE id = ? AND state = ?', t.state, t.expiresAt, JSON.stringify(t), t.updatedAt, t.id, expected)) === 1,
    appendTransition: async (t: TradeTransition) =>
      void (await db.run(
        'INSERT INTO trade_transitions (trade_id, from_state, to_state, actor, reason, code, params, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        t.tradeId,
        t.from,
        t.to,
        t.actor,
        t.reason,
        t.code,
        JSON.stringify(t.params),
        t.at,
      )),
    transitions: async (id) =>
      (await db.all<TransitionRow>('SELECT trade_id, from_state, to_state, actor, reason, code, params, at FROM trade_transitions WHERE trade_id = ? ORDER BY seq', id)).map((r) => ({
        tradeId: r.trade_id,
        from: r.from_state,
        to: r.to_state,
        actor: r.actor,
        reason: r.reason,
        // steps recorded before reasons had codes read back as their text
        ...(r.code ? { code: r.code as TradeTransition['code'], params: JSON.parse(r.params ?? '{}') as TradeTransition['params'] } : { code: 'trade.note' as const, params: { text: r.reason } }),
        at: r.at,
      })),
    due: async (states, now) =>
      (await db.all(`SELECT doc FROM trades WHERE state IN (${placeholders(states.length)}) AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at`, ...states, now)).map((r) => parse(r)!),
    countByBuyer: async (buyer, offerId, states, since) =>
      (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM trades WHERE buyer_org_id = ? AND offer_id = ? AND state IN (${placeholders(states.length)}) AND created_at >= ?`, buyer, offerId, ...states, since ?? ''))!.n,
    list: async (f) => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.buyerOrgId) (where.push('buyer_org_id = ?'), args.push(f.buyerOrgId));
      if (f.ownerOrgId) (where.push('owner_org_id = ?'), args.push(f.ownerOrgId));
      if (f.states?.length) (where.push(`state IN (${placeholders(f.states.length)})`), args.push(...f.states));
      if (f.afterId) (where.push('id > ?'), args.push(f.afterId));
      const sql = `SELECT doc FROM trades ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
      return (await db.all(sql, ...args, f.limit ?? 100)).map((r) => parse(r)!);
    },
  };
}
