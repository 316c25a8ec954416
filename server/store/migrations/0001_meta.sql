-- Key/value settings of one deployment (e.g. the deployment id); other tables come with their modules.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
