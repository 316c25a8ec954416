-- An upload's blob counts as received only when that upload delivered its bytes. Uploads opened before
-- this rule could hold blobs marked received because the store already had them: they must send them.
UPDATE upload_blobs SET received_at = NULL
 WHERE upload_id IN (SELECT id FROM uploads WHERE state IN ('open', 'completing'));
UPDATE uploads SET state = 'open' WHERE state = 'completing';
