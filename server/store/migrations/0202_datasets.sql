-- Uploads in progress (never visible) and datasets (visible only after verifyBundle).
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  keywords_json TEXT NOT NULL DEFAULT '[]',
  manifest_json TEXT NOT NULL,
  manifest_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'completing', 'completed', 'aborted')),
  total_bytes INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  dataset_id TEXT
);
CREATE INDEX uploads_state ON uploads(state, expires_at);
-- Every blob an upload needs; received_at is set once the bytes are in the store with the right hash.
CREATE TABLE upload_blobs (
  upload_id TEXT NOT NULL REFERENCES uploads(id),
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  kind TEXT NOT NULL,
  received_at TEXT,
  PRIMARY KEY (upload_id, hash)
);
CREATE INDEX upload_blobs_hash ON upload_blobs(hash);
CREATE TABLE datasets (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  title TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  keywords_json TEXT NOT NULL DEFAULT '[]',
  sector TEXT NOT NULL,
  max_level INTEGER NOT NULL,
  row_count INTEGER NOT NULL,
  schema_json TEXT NOT NULL,
  manifest_json TEXT NOT NULL,
  manifest_hash TEXT NOT NULL,
  commitment TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE INDEX datasets_org ON datasets(org_id);
CREATE INDEX datasets_sector ON datasets(sector);
CREATE TABLE dataset_blobs (
  dataset_id TEXT NOT NULL REFERENCES datasets(id),
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  kind TEXT NOT NULL,
  PRIMARY KEY (dataset_id, hash)
);
CREATE INDEX dataset_blobs_hash ON dataset_blobs(hash);
