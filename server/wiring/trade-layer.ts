import type { RouteDef, ResourceKind } from '../http/route.js';
import type { ObjectLoader } from '../api/resources.js';
import type { Services } from '../api/services.js';

/** The offers/quotes/trades/review/ledger/audit part of the API, built on contracts/ (engineer B). */
export interface TradeLayer {
  routes: RouteDef[];
  loaders: Partial<Record<ResourceKind, ObjectLoader>>;
  activeOffers: (datasetId: string) => number;
  startWorker?: (enclave: import('./enclave.js').EnclaveHandle) => void;
  stopWorker?: () => Promise<void>;
}

export function tradeLayer(_s: Services): TradeLayer {
  return { routes: [], loaders: {}, activeOffers: () => 0 };
}
