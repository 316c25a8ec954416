-- Reading a ledger transaction's entries (every idempotent replay and every statement) looks them up
-- by transaction id; without this index that is a scan of the whole journal.
CREATE INDEX IF NOT EXISTS ledger_entries_transaction ON ledger_entries (transaction_id, seq);
