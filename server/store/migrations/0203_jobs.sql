-- The durable job queue. One job per approved trade; a lease (owner + expiry) marks who runs
-- it; an expired lease lets the next worker (e.g. after a crash and restart) pick it up again.
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  trade_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_expires_at TEXT,
  result_json TEXT,
  receipt_json TEXT,
  error_type TEXT,
  error_message TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs(state, lease_expires_at);
