import type { RouteDef, ResourceKind } from '../http/route.js';
import type { ObjectLoader } from '../api/resources.js';
import type { Services } from '../api/services.js';
import type { Signer } from '../../contracts/signer.js';
import { isDomainError } from '../../contracts/errors.js';
import { contractsOn, type Contracts } from '../trade/contracts.js';
import { JobQueue } from '../jobs/queue.js';
import { activeOfferCount } from '../store/tables/offers.js';
import { JobWorker } from '../jobs/worker.js';
import { TradeExecutor } from '../trade/executor.js';
import { marketRoutes } from '../api/routes/market.js';
import { tradeRoutes, type TradeDeps } from '../api/routes/trades.js';
import { moneyRoutes } from '../api/routes/money.js';
import type { EnclaveHandle } from '../enclave/handle.js';

/** The offers/quotes/trades/review/ledger/audit part of the API on contracts/, plus the job worker. */
export interface TradeLayer {
  routes: RouteDef[];
  loaders: Partial<Record<ResourceKind, ObjectLoader>>;
  activeOffers: (datasetId: string) => Promise<number>;
  contracts: Contracts;
  jobs: JobQueue;
  /** `embedded`: this process owns the store, so leases left running at start-up belong to a dead run. */
  startWorker(enclave: EnclaveHandle, o?: { embedded: boolean }): Promise<void>;
  stopWorker(): Promise<void>;
  /** The lease owner name of this process's job worker (null before startWorker). */
  workerOwner(): string | null;
}

const HOUSEKEEPING_MS = 30_000;

export function tradeLayer(s: Services, signer: Signer): TradeLayer {
  const contracts = contractsOn(s.db, signer, s.clock, s.identity, s.config.approvalMaxValidityMs);
  const jobs = new JobQueue(s.db, s.clock);
  let worker: JobWorker | null = null;
  let executor: TradeExecutor | null = null;
  let housekeeping: NodeJS.Timeout | null = null;
  const d: TradeDeps = { s, contracts, jobs, kick: () => worker?.kick() };
  const orNull = async <T>(f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (e) {
      if (isDomainError(e) && e.type === 'not-found') return null;
      throw e;
    }
  };
  return {
    routes: [...marketRoutes(d), ...tradeRoutes(d), ...moneyRoutes(d)],
    loaders: {
      offer: async (id) => {
        const o = await orNull(() => contracts.getOffer(id));
        return o ? { orgIds: [o.ownerOrgId], value: o } : null;
      },
      trade: async (id) => {
        const t = await orNull(() => contracts.getTrade(id));
        return t ? { orgIds: [t.buyerOrgId, t.ownerOrgId], value: t } : null;
      },
    },
    activeOffers: activeOfferCount(s.db),
    contracts,
    jobs,
    async startWorker(enclave, o = { embedded: true }) {
      executor = new TradeExecutor({
        contracts,
        datasets: s.datasets,
        blobs: s.blobs,
        identity: s.identity,
        enclave,
        log: s.log,
        heThreads: s.config.heWorkerThreads,
      });
      const ex = executor;
      const expired = o.embedded ? await jobs.expireLeasesAtStartup() : 0;
      if (expired) s.log.info({ jobs: expired }, 'resuming jobs interrupted by the previous run');
      const adopted = await jobs.adoptApprovedWithoutJob();
      if (adopted) s.log.info({ trades: adopted }, 'queued approved trades that had no job');
      worker = new JobWorker(
        jobs,
        (ctx) => ex.run(ctx),
        (job, type, reason) => ex.onFinalFailure(job.tradeId, type, reason),
        { leaseMs: s.config.jobLeaseMs, pollMs: s.config.jobPollMs, maxAttempts: s.config.jobMaxAttempts },
        s.log,
      );
      worker.start();
      const tidy = async () => {
        try {
          const gone = await contracts.expireDue();
          if (gone.length) s.log.info({ trades: gone.length }, 'expired trades released');
          await s.datasets.sweep({ startup: false });
          await contracts.checkpoint();
        } catch (e) {
          s.log.warn({ err: (e as Error).message }, 'housekeeping failed; retrying next round');
        }
      };
      housekeeping = setInterval(() => void tidy(), HOUSEKEEPING_MS);
      housekeeping.unref();
    },
    workerOwner: () => worker?.owner ?? null,
    async stopWorker() {
      if (housekeeping) clearInterval(housekeeping);
      await worker?.stop();
      await executor?.close();
    },
  };
}
