-- The trade layer's tables (contracts/): offers, negative-list policies, quotes, trades and their
-- transitions, reviews, the double-entry ledger, and the audit chain. Users/orgs/datasets are referenced by id only
-- (no foreign keys: they live in 02xx migrations owned by the server).

CREATE TABLE offers (
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  dataset_id TEXT NOT NULL,
  owner_org_id TEXT NOT NULL,
  status TEXT NOT NULL,
  doc TEXT NOT NULL,            -- canonical JSON of the whole Offer
  created_at TEXT NOT NULL,
  PRIMARY KEY (id, version)
);
CREATE INDEX offers_dataset ON offers (dataset_id, id, version);

CREATE TABLE policies (
  policy_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  doc TEXT NOT NULL,
  activated_at TEXT NOT NULL,
  PRIMARY KEY (policy_id, version)
);

CREATE TABLE quotes (
  id TEXT PRIMARY KEY,
  buyer_org_id TEXT NOT NULL,
  offer_id TEXT NOT NULL,
  doc TEXT NOT NULL,            -- the SignedQuote as JSON
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL
);

CREATE TABLE trades (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  quote_id TEXT NOT NULL UNIQUE, -- a quote buys one trade: resubmitting it is idempotent
  offer_id TEXT NOT NULL,
  offer_version INTEGER NOT NULL,
  dataset_id TEXT NOT NULL,
  owner_org_id TEXT NOT NULL,
  buyer_org_id TEXT NOT NULL,
  expires_at TEXT,
  doc TEXT NOT NULL,            -- the Trade as JSON
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX trades_state_expiry ON trades (state, expires_at);
CREATE INDEX trades_buyer_offer ON trades (buyer_org_id, offer_id);
CREATE INDEX trades_owner ON trades (owner_org_id);

CREATE TABLE trade_transitions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  trade_id TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX trade_transitions_trade ON trade_transitions (trade_id, seq);

CREATE TABLE reviews (
  id TEXT PRIMARY KEY,
  trade_id TEXT NOT NULL UNIQUE,
  reviewer_id TEXT NOT NULL,
  reviewer_org_id TEXT NOT NULL,
  decision TEXT NOT NULL,
  doc TEXT NOT NULL,
  decided_at TEXT NOT NULL
);

CREATE TABLE ledger_accounts (
  id TEXT PRIMARY KEY,          -- e.g. wallet:<orgId>, escrow:<tradeId>, revenue:<orgId>, fee:platform, external:topup
  kind TEXT NOT NULL,
  owner_id TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0,  -- integer fen; a cache of SUM(journal) kept in the same transaction
  CHECK (kind = 'external' OR balance >= 0)
);

CREATE TABLE ledger_transactions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  idempotency_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  trade_id TEXT,
  memo TEXT NOT NULL,
  request_hash TEXT NOT NULL,   -- SM3 of the request, to tell a replay from a conflicting reuse of a key
  at TEXT NOT NULL
);
CREATE INDEX ledger_transactions_trade ON ledger_transactions (trade_id);

CREATE TABLE ledger_entries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
  account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
  amount INTEGER NOT NULL CHECK (amount <> 0)  -- fen; debit negative, credit positive; a transaction sums to 0
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, seq);

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,      -- 1, 2, 3 … without gaps
  id TEXT NOT NULL UNIQUE,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  action TEXT NOT NULL,
  data TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_events_entity ON audit_events (entity_type, entity_id, seq);

CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY,      -- the last event seq the checkpoint covers
  doc TEXT NOT NULL             -- the SignedCheckpoint as JSON
);
