-- a release admitted under the refusal allowance holds one of its slots until it ends: deleted when it
-- succeeds, turned into its privacy_refusal row when it is refused, reused by a retry of the same charge key
CREATE TABLE IF NOT EXISTS privacy_refusal_reservation (
  charge_key   TEXT PRIMARY KEY,
  buyer_org_id TEXT NOT NULL,
  dataset_key  TEXT NOT NULL,
  attempt      TEXT NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS privacy_refusal_reservation_by_pair ON privacy_refusal_reservation (buyer_org_id, dataset_key);
