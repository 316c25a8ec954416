-- Insertion order as a column of its own: SQLite's implicit rowid has no PostgreSQL counterpart. The newest
-- policy version is the active one; an upload's blobs are listed in the manifest's order.
ALTER TABLE policies ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE upload_blobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
-- @sqlite
UPDATE policies SET seq = rowid;
UPDATE upload_blobs SET seq = rowid;
-- @all
CREATE INDEX policies_seq ON policies (seq);
