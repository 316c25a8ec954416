-- Identities: organisations, users (one role each), bearer tokens (SM3 hash only), SM2 keys, reviewer certificates.
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  region TEXT NOT NULL DEFAULT 'CN',
  created_at TEXT NOT NULL
);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('owner', 'buyer', 'reviewer', 'operator')),
  public_key_pem TEXT,
  key_fingerprint TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX users_org ON users(org_id);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE reviewer_certificates (
  id TEXT PRIMARY KEY,
  reviewer_id TEXT NOT NULL REFERENCES users(id),
  fingerprint TEXT NOT NULL,
  certificate_json TEXT NOT NULL,
  issued_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX reviewer_certificates_reviewer ON reviewer_certificates(reviewer_id);
-- HTTP-level idempotency: the first response to (user, route, key) is replayed for the same body.
CREATE TABLE http_idempotency (
  user_id TEXT NOT NULL,
  route_id TEXT NOT NULL,
  idem_key TEXT NOT NULL,
  body_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
  status INTEGER,
  response_json TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (user_id, route_id, idem_key)
);
