import type { Offer } from '../../../contracts/offer/offer.js';
import type { PolicyDocument } from '../../../contracts/policy/schema.js';
import type { SignedQuote } from '../../../contracts/pricing/quote.js';
import type { Review } from '../../../contracts/review/review.js';
import type { OfferStore, PolicyStore, PolicyVersionInfo, QuoteStore, ReviewStore } from '../../../contracts/store.js';
import type { Db } from '../db.js';

type DocRow = { doc: string };
const parse = <T>(row: unknown): T | undefined => (row ? (JSON.parse((row as DocRow).doc) as T) : undefined);

export function sqliteOfferStore(db: Db): OfferStore {
  const insert = db.prepare('INSERT INTO offers (id, version, dataset_id, owner_org_id, status, doc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const byVersion = db.prepare('SELECT doc FROM offers WHERE id = ? AND version = ?');
  const latest = db.prepare('SELECT doc FROM offers WHERE id = ? ORDER BY version DESC LIMIT 1');
  const versions = db.prepare('SELECT doc FROM offers WHERE id = ? ORDER BY version');
  const latestAll = db.prepare(`SELECT o.doc, o.dataset_id, o.owner_org_id, o.status FROM offers o
    WHERE o.version = (SELECT MAX(version) FROM offers p WHERE p.id = o.id) ORDER BY o.id`);
  // one dataset's offers through the offers_dataset index, instead of every offer's latest version
  const latestOfDataset = db.prepare(`SELECT o.doc, o.dataset_id, o.owner_org_id, o.status FROM offers o
    WHERE o.dataset_id = ? AND o.version = (SELECT MAX(version) FROM offers p WHERE p.id = o.id) ORDER BY o.id`);
  return {
    insert: (o) => void insert.run(o.id, o.version, o.datasetId, o.ownerOrgId, o.status, JSON.stringify(o), o.createdAt),
    get: (id, version) => parse<Offer>(version === undefined ? latest.get(id) : byVersion.get(id, version)),
    versions: (id) => versions.all(id).map((r) => parse<Offer>(r)!),
    list: (f) =>
      ((f.datasetId ? latestOfDataset.all(f.datasetId) : latestAll.all()) as { doc: string; dataset_id: string; owner_org_id: string; status: string }[])
        .filter((r) => (!f.datasetId || r.dataset_id === f.datasetId) && (!f.ownerOrgId || r.owner_org_id === f.ownerOrgId) && (!f.status || r.status === f.status))
        .map((r) => parse<Offer>(r)!),
  };
}

/**
 * How many offers on a dataset are active (by their latest version): the same answer as
 * `list({ datasetId, status: 'active' }).length`, counted by SQLite without reading the offer documents.
 * The catalogue shows it for every entry of every page.
 */
export function sqliteActiveOfferCount(db: Db): (datasetId: string) => number {
  const count = db.prepare(`SELECT COUNT(*) AS n FROM offers o
    WHERE o.dataset_id = ? AND o.status = 'active' AND o.version = (SELECT MAX(version) FROM offers p WHERE p.id = o.id)`);
  return (datasetId) => (count.get(datasetId) as { n: number }).n;
}

export function sqlitePolicyStore(db: Db): PolicyStore {
  const insert = db.prepare('INSERT INTO policies (policy_id, version, doc, activated_at) VALUES (?, ?, ?, ?)');
  const active = db.prepare('SELECT doc FROM policies ORDER BY activated_at DESC, rowid DESC LIMIT 1');
  const get = db.prepare('SELECT doc FROM policies WHERE policy_id = ? AND version = ?');
  const history = db.prepare(
    "SELECT policy_id AS policyId, version, json_array_length(doc, '$.rules') AS rules, activated_at AS activatedAt FROM policies ORDER BY activated_at DESC, rowid DESC",
  );
  return {
    put: (doc, at) => void insert.run(doc.policyId, doc.version, JSON.stringify(doc), at),
    active: () => parse<PolicyDocument>(active.get()),
    get: (id, version) => parse<PolicyDocument>(get.get(id, version)),
    history: () => history.all() as PolicyVersionInfo[],
  };
}

export function sqliteQuoteStore(db: Db): QuoteStore {
  const insert = db.prepare('INSERT INTO quotes (id, buyer_org_id, offer_id, doc, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const get = db.prepare('SELECT doc FROM quotes WHERE id = ?');
  return {
    insert: (q) => void insert.run(q.statement.quoteId, q.statement.buyerOrgId, q.statement.offerId, JSON.stringify(q), q.statement.expiresAt, q.statement.issuedAt),
    get: (id) => parse<SignedQuote>(get.get(id)),
  };
}

export function sqliteReviewStore(db: Db): ReviewStore {
  const insert = db.prepare('INSERT INTO reviews (id, trade_id, reviewer_id, reviewer_org_id, decision, doc, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const get = db.prepare('SELECT doc FROM reviews WHERE trade_id = ?');
  return {
    insert: (r) => void insert.run(r.id, r.tradeId, r.reviewerId, r.reviewerOrgId, r.decision, JSON.stringify(r), r.decidedAt),
    forTrade: (id) => parse<Review>(get.get(id)),
  };
}
