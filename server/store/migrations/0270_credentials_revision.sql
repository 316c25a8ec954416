-- One counter the database bumps, in the writing transaction, on every change to a token or to what a
-- token's principal is made of (its user's role, organisation, name). Servers of a cluster check the
-- principals they cache against it on each request, so a revocation through one server holds on all at once.
CREATE TABLE credentials_revision (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  v INTEGER NOT NULL
);
INSERT INTO credentials_revision (id, v) VALUES (1, 0);
-- @sqlite
CREATE TRIGGER credentials_tokens_update AFTER UPDATE ON tokens BEGIN UPDATE credentials_revision SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_tokens_delete AFTER DELETE ON tokens BEGIN UPDATE credentials_revision SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_users_update AFTER UPDATE OF org_id, name, role ON users BEGIN UPDATE credentials_revision SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER credentials_users_delete AFTER DELETE ON users BEGIN UPDATE credentials_revision SET v = v + 1 WHERE id = 1; END;
-- @postgres
CREATE FUNCTION credentials_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE credentials_revision SET v = v + 1 WHERE id = 1; RETURN NULL; END $$;
CREATE TRIGGER credentials_tokens_change AFTER UPDATE OR DELETE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION credentials_revision_bump();
CREATE TRIGGER credentials_users_update AFTER UPDATE OF org_id, name, role ON users FOR EACH STATEMENT EXECUTE FUNCTION credentials_revision_bump();
CREATE TRIGGER credentials_users_delete AFTER DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION credentials_revision_bump();
-- @all
