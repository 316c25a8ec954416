import type { Express } from 'express';
import type { Logger } from 'pino';
import type { Db } from './store/db.js';
import { systemClock, type Clock } from '../contracts/ids.js';
import type { ServerConfig } from './config/config.js';
import type { BlobStore } from './blobs/blob-store.js';
import { IdentityService, type AuditSink } from './identity/identity.js';
import { AuditLog } from '../contracts/audit/log.js';
import { auditStore } from './store/tables/audit.js';
import { DatasetService } from './datasets/datasets.js';
import { createBundlePort } from './wiring/bundle.js';
import type { BundlePort } from './datasets/bundle-port.js';
import { Metrics } from './http/metrics.js';
import { createHttpApp } from './http/app.js';
// node's createServer takes the app's request/response classes from here (server/start.ts)
export { httpClassesOf } from './http/app.js';
import { IdempotencyStore } from './http/idempotency.js';
import { RATE_LIMIT_WINDOW_MS, SharedRateLimitStore } from './http/rate-limit-store.js';
import type { RouteDef } from './http/route.js';
import { buildOpenApi } from './api/openapi.js';
import { objectLoaders } from './api/resources.js';
import type { EnclavePort, Services } from './api/services.js';
import { systemRoutes } from './api/routes/system.js';
import { identityRoutes } from './api/routes/identity.js';
import { datasetRoutes } from './api/routes/datasets.js';
import { tradeLayer, type TradeLayer } from './wiring/trade-layer.js';
import { loadPlatformSigner } from './trade/platform-signer.js';
import type { Signer } from '../contracts/signer.js';
import { dataDirLayout } from './config/data-dir.js';

export const API_VERSION = '0.1.0';

export interface AppDeps {
  config: ServerConfig;
  db: Db;
  blobs: BlobStore;
  log: Logger;
  clock?: Clock;
  enclave?: EnclavePort | null;
  bundle?: BundlePort;
  metrics?: Metrics;
  /** Signs quotes and audit checkpoints (default: DATA_DIR/platform-signing-key.sealed under masterSecret). */
  platformSigner?: Signer;
  masterSecret?: string;
}

export interface ShuyuApp {
  app: Express;
  /** THE route table: the router and the authorisation-matrix test are both generated from it. */
  routes: readonly RouteDef[];
  services: Services;
  trade: TradeLayer;
}

/** Builds the whole HTTP application on a store, without listening (tests drive it with supertest). */
export function createApp(deps: AppDeps): ShuyuApp {
  const clock = deps.clock ?? systemClock;
  const metrics = deps.metrics ?? new Metrics();
  // Server-side state changes (identities, uploads, datasets) join the same SM3 audit chain as contracts/.
  const auditLog = new AuditLog(auditStore(deps.db), clock);
  const audit: AuditSink = (e) => auditLog.append(e);
  const identity = new IdentityService(deps.db, clock, audit);
  const datasets = new DatasetService(deps.db, deps.blobs, deps.bundle ?? createBundlePort(), clock, deps.config, audit);
  const services: Services = {
    config: deps.config,
    db: deps.db,
    log: deps.log,
    clock,
    metrics,
    blobs: deps.blobs,
    identity,
    datasets,
    enclave: deps.enclave ?? null,
    startedAt: Date.now(),
    version: API_VERSION,
  };
  // Without a master secret (in-process apps without an enclave) the platform key is sealed under a fixed
  // label: such apps hold no data keys, and startServer always passes the real secret.
  const signer = deps.platformSigner ?? loadPlatformSigner(dataDirLayout(deps.config.dataDir).platformKeyFile, deps.masterSecret ?? 'no-master-secret:in-process');
  const trade = tradeLayer(services, signer);
  let openapi: Record<string, unknown> | null = null;
  const routes: RouteDef[] = [
    ...systemRoutes(services, () => (openapi ??= buildOpenApi(routes, API_VERSION))),
    ...identityRoutes(services),
    ...datasetRoutes(services, trade.activeOffers),
    ...trade.routes,
  ];
  const ids = new Set<string>();
  for (const r of routes) {
    if (ids.has(r.id)) throw new Error(`route id ${r.id} is used twice`);
    ids.add(r.id);
  }
  const countByState = async (table: 'jobs' | 'uploads') =>
    Object.fromEntries((await deps.db.all<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM ${table} GROUP BY state`)).map((r) => [r.state, r.n]));
  metrics.gauge('shuyu_jobs', () => countByState('jobs'));
  metrics.gauge('shuyu_uploads', () => countByState('uploads'));
  const loaders = objectLoaders(services, trade.loaders);
  const app = createHttpApp(
    routes,
    {
      authenticate: (h, tokenHash) => identity.authenticate(h, tokenHash),
      loadObject: (kind, id) => loaders[kind](id),
      idempotency: new IdempotencyStore(deps.db, deps.config.requestTimeoutMs * 2),
      now: () => clock.now().toISOString(),
      log: deps.log,
      metrics,
      // counted in the store, so every server of a cluster counts against the same limit
      rateLimitStore: new SharedRateLimitStore(deps.db, { limit: deps.config.rateLimitPerMinute, windowMs: RATE_LIMIT_WINDOW_MS }),
    },
    deps.config,
  );
  return { app, routes, services, trade };
}
