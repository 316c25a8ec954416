-- One counter bumped by the database itself on every change to a table the catalogue
-- shows (datasets, offers). The server caches catalogue pages per counter value; triggers (rather than
-- the code paths that write) also catch writes by another connection or tool, so no change is missed.
CREATE TABLE catalog_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  v INTEGER NOT NULL
);
INSERT INTO catalog_version (id, v) VALUES (1, 0);
-- @sqlite
CREATE TRIGGER catalog_datasets_insert AFTER INSERT ON datasets BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_datasets_update AFTER UPDATE ON datasets BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_datasets_delete AFTER DELETE ON datasets BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_offers_insert AFTER INSERT ON offers BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_offers_update AFTER UPDATE ON offers BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_offers_delete AFTER DELETE ON offers BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; END;
-- @postgres
CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE catalog_version SET v = v + 1 WHERE id = 1; RETURN NULL; END $$;
CREATE TRIGGER catalog_datasets_change AFTER INSERT OR UPDATE OR DELETE ON datasets FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
CREATE TRIGGER catalog_offers_change AFTER INSERT OR UPDATE OR DELETE ON offers FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
-- @all
