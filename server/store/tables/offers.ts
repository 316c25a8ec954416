import type { Offer } from '../../../contracts/offer/offer.js';
import type { PolicyDocument } from '../../../contracts/policy/schema.js';
import type { SignedQuote } from '../../../contracts/pricing/quote.js';
import type { Review } from '../../../contracts/review/review.js';
import type { OfferStore, PolicyStore, QuoteStore, ReviewStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';

type DocRow = { doc: string };
const parse = <T>(row: unknown): T | undefined => (row ? (JSON.parse((row as DocRow).doc) as T) : undefined);
const LATEST = 'o.version = (SELECT MAX(version) FROM offers p WHERE p.id = o.id)';

export function offerStore(db: Db): OfferStore {
  return {
    insert: async (o) =>
      void (await db.run('INSERT INTO offers (id, version, dataset_id, owner_org_id, status, doc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', o.id, o.version, o.datasetId, o.ownerOrgId, o.status, JSON.stringify(o), o.createdAt)),
    get: async (id, version) =>
      parse<Offer>(
        version === undefined
          ? await db.get('SELECT doc FROM offers WHERE id = ? ORDER BY version DESC LIMIT 1', id)
          : await db.get('SELECT doc FROM offers WHERE id = ? AND version = ?', id, version),
      ),
    versions: async (id) => (await db.all('SELECT doc FROM offers WHERE id = ? ORDER BY version', id)).map((r) => parse<Offer>(r)!),
    list: async (f) => {
      // one dataset's offers through the offers_dataset index, instead of every offer's latest version
      const rows = f.datasetId
        ? await db.all<{ doc: string; owner_org_id: string; status: string }>(`SELECT o.doc, o.owner_org_id, o.status FROM offers o WHERE o.dataset_id = ? AND ${LATEST} ORDER BY o.id`, f.datasetId)
        : await db.all<{ doc: string; owner_org_id: string; status: string }>(`SELECT o.doc, o.owner_org_id, o.status FROM offers o WHERE ${LATEST} ORDER BY o.id`);
      return rows.filter((r) => (!f.ownerOrgId || r.owner_org_id === f.ownerOrgId) && (!f.status || r.status === f.status)).map((r) => parse<Offer>(r)!);
    },
  };
}

/**
 * How many offers on a dataset are active (by their latest version): the same answer as
 * `list({ datasetId, status: 'active' }).length`, counted by the database without reading the offer documents.
 * The catalogue shows it for every entry of every page.
 */
export function activeOfferCount(db: Db): (datasetId: string) => Promise<number> {
  return async (datasetId) => (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM offers o WHERE o.dataset_id = ? AND o.status = 'active' AND ${LATEST}`, datasetId))!.n;
}

export function policyStore(db: Db): PolicyStore {
  return {
    // seq orders activations: the newest put is the active version
    put: async (doc, at) =>
      void (await db.run('INSERT INTO policies (policy_id, version, doc, activated_at, seq) VALUES (?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM policies))', doc.policyId, doc.version, JSON.stringify(doc), at)),
    active: async () => parse<PolicyDocument>(await db.get('SELECT doc FROM policies ORDER BY activated_at DESC, seq DESC LIMIT 1')),
    get: async (id, version) => parse<PolicyDocument>(await db.get('SELECT doc FROM policies WHERE policy_id = ? AND version = ?', id, version)),
    history: async () =>
      (await db.all<{ policy_id: string; version: number; doc: string; activated_at: string }>('SELECT policy_id, version, doc, activated_at FROM policies ORDER BY activated_at DESC, seq DESC')).map((r) => ({
        policyId: r.policy_id,
        version: r.version,
        rules: (JSON.parse(r.doc) as PolicyDocument).rules.length,
        activatedAt: r.activated_at,
      })),
  };
}

export function quoteStore(db: Db): QuoteStore {
  return {
    insert: async (q) =>
      void (await db.run(
        'INSERT INTO quotes (id, buyer_org_id, offer_id, doc, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        q.statement.quoteId,
        q.statement.buyerOrgId,
        q.statement.offerId,
        JSON.stringify(q),
        q.statement.expiresAt,
        q.statement.issuedAt,
      )),
    get: async (id) => parse<SignedQuote>(await db.get('SELECT doc FROM quotes WHERE id = ?', id)),
  };
}

export function reviewStore(db: Db): ReviewStore {
  return {
    insert: async (r) =>
      void (await db.run('INSERT INTO reviews (id, trade_id, reviewer_id, reviewer_org_id, decision, doc, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)', r.id, r.tradeId, r.reviewerId, r.reviewerOrgId, r.decision, JSON.stringify(r), r.decidedAt)),
    forTrade: async (id) => parse<Review>(await db.get('SELECT doc FROM reviews WHERE trade_id = ?', id)),
  };
}
