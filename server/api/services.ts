import type { Logger } from 'pino';
import type { Db } from '../store/db.js';
import type { Clock } from '../../contracts/ids.js';
import type { ServerConfig } from '../config/config.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { IdentityService } from '../identity/identity.js';
import type { DatasetService } from '../datasets/datasets.js';
import type { Metrics } from '../http/metrics.js';

/** What the enclave offers the API (a subset of EnclaveClient). */
export interface EnclavePort {
  publicInfo(): Promise<Record<string, unknown>>;
  isUp(): boolean;
  /** ε/δ a buyer has been charged on a dataset, from the enclave's privacy ledger (review cases). */
  budgetSpent?(buyerOrgId: string, datasetId: string): Promise<{ epsilon: number; delta: number; charges: number }>;
}

/** Everything a route handler may use; built once by server/app.ts. */
export interface Services {
  config: ServerConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  metrics: Metrics;
  blobs: BlobStore;
  identity: IdentityService;
  datasets: DatasetService;
  enclave: EnclavePort | null;
  startedAt: number;
  version: string;
}
