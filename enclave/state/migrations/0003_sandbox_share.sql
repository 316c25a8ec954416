-- shares of a SQL run split across the enclaves of a cluster: the coordinating enclave queues them, any enclave
-- leases one (compare-and-set on state and lease), runs it and stores its merged partials; payload and result
-- are sealed under a key derived from the shared keystore, and the run's rows are deleted once merged
CREATE TABLE IF NOT EXISTS sandbox_share (
  task_id     TEXT PRIMARY KEY,
  run_id      TEXT NOT NULL,
  share_index INTEGER NOT NULL,
  payload     TEXT NOT NULL,
  state       TEXT NOT NULL,
  worker      TEXT,
  lease_until BIGINT NOT NULL,
  result      TEXT,
  error_type  TEXT,
  created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sandbox_share_by_state ON sandbox_share (state, created_at);
CREATE INDEX IF NOT EXISTS sandbox_share_by_run ON sandbox_share (run_id);
