-- The enclave's own state: the same tables (names and columns) the enclave kept in its SQLite file before
-- this migration set existed, so an existing embedded file is taken over as it is (state.ts adds the columns
-- older files lack before this runs). On PostgreSQL they live in the enclave's own schema.

-- ε/δ charges: one row per charge key, with the released output a retry replays
CREATE TABLE IF NOT EXISTS privacy_charge (
  charge_key       TEXT PRIMARY KEY,
  buyer_org_id     TEXT NOT NULL,
  dataset_id       TEXT NOT NULL,
  epsilon_micro    INTEGER NOT NULL CHECK (epsilon_micro >= 0),
  delta            REAL NOT NULL DEFAULT 0,
  output_json      TEXT NOT NULL,
  created_at       TEXT NOT NULL,
  dataset_key      TEXT,
  trade_id         TEXT,
  computation_hash TEXT
);
CREATE INDEX IF NOT EXISTS privacy_charge_by_pair ON privacy_charge (buyer_org_id, dataset_id);
CREATE INDEX IF NOT EXISTS privacy_charge_by_key ON privacy_charge (dataset_key, buyer_org_id);

-- data-dependent refusals per buyer and dataset (types and times, never values)
CREATE TABLE IF NOT EXISTS privacy_refusal (
  charge_key   TEXT PRIMARY KEY,
  trade_id     TEXT NOT NULL,
  buyer_org_id TEXT NOT NULL,
  dataset_key  TEXT NOT NULL,
  type         TEXT NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS privacy_refusal_by_pair ON privacy_refusal (buyer_org_id, dataset_key);

-- charge keys bound one to one to approved trades and their computation
CREATE TABLE IF NOT EXISTS privacy_charge_key (
  charge_key       TEXT PRIMARY KEY,
  trade_id         TEXT NOT NULL UNIQUE,
  computation_hash TEXT NOT NULL,
  created_at       TEXT NOT NULL
);

-- the smallest dataset-wide limit ever presented for what was sealed
CREATE TABLE IF NOT EXISTS privacy_dataset_limit (
  dataset_key   TEXT PRIMARY KEY,
  epsilon_micro INTEGER,
  delta         REAL
);

-- the differencing guard's joint history: released sets and each release's plan
CREATE TABLE IF NOT EXISTS privacy_release_sets (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  buyer_org_id TEXT NOT NULL,
  dataset_id   TEXT NOT NULL,
  sets         TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  planned      TEXT
);
CREATE INDEX IF NOT EXISTS privacy_release_sets_history ON privacy_release_sets (buyer_org_id, dataset_id);

-- row maps per dataset commitment: codes and dense subject numbers, never values
CREATE TABLE IF NOT EXISTS privacy_row_map (
  dataset_commitment   TEXT PRIMARY KEY,
  row_count            INTEGER NOT NULL,
  partitions           BLOB NOT NULL,
  subjects             BLOB,
  created_at           TEXT NOT NULL,
  max_rows_per_subject INTEGER,
  dimension_names      TEXT,
  dimension_codes      BLOB
);

-- the per-person row cap pinned by the first exact release of a dataset version
CREATE TABLE IF NOT EXISTS privacy_exact_row_cap (
  dataset_key TEXT PRIMARY KEY,
  row_cap     INTEGER NOT NULL CHECK (row_cap >= 1),
  trade_id    TEXT NOT NULL,
  created_at  TEXT NOT NULL
);

-- 核验 calls (column names only), rate-limited per buyer and dataset
CREATE TABLE IF NOT EXISTS verify_call (
  id           TEXT PRIMARY KEY,
  trade_id     TEXT NOT NULL,
  buyer_org_id TEXT NOT NULL,
  dataset_id   TEXT NOT NULL,
  columns      TEXT NOT NULL,
  outcome      TEXT NOT NULL CHECK (outcome IN ('answered', 'rate-limited', 'failed')),
  at           TEXT NOT NULL,
  at_ms        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS verify_call_by_buyer ON verify_call (buyer_org_id, dataset_id, at_ms);

-- the sealed keystore when the enclave's state is in PostgreSQL (embedded: files in the keystore folder):
-- keystore.json sealed under the master secret, and the public HE key files its sealed hashes pin
CREATE TABLE IF NOT EXISTS enclave_keystore (
  name       TEXT PRIMARY KEY,
  bytes      BLOB NOT NULL,
  created_at TEXT NOT NULL
);
