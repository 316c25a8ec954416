-- Request counts per client and fixed window, shared by every server of a cluster (the rate limiter's
-- store, server/http/rate-limit-store.ts). Window first in the key: the prune of ended windows is a range.
CREATE TABLE rate_limit_hits (
  window_start TEXT NOT NULL,
  client_key TEXT NOT NULL,
  hits INTEGER NOT NULL,
  PRIMARY KEY (window_start, client_key)
);
