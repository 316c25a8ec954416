import type { ResourceKind } from '../http/route.js';
import type { Services } from './services.js';

export type ObjectLoader = (id: string) => Promise<{ orgIds: string[]; value: unknown } | null>;

/**
 * Object loaders for the router's ownership check: each returns the object and the organisations it
 * belongs to. Offers and trades come from the trade wiring (server/wiring/trade-routes.ts) via `extra`.
 */
export function objectLoaders(s: Services, extra: Partial<Record<ResourceKind, ObjectLoader>>): Record<ResourceKind, ObjectLoader> {
  const none: ObjectLoader = async () => null;
  return {
    dataset: async (id) => {
      const d = await s.datasets.getDataset(id);
      return d ? { orgIds: [d.orgId], value: d } : null;
    },
    'catalog-entry': async (id) => {
      const d = await s.datasets.getDataset(id);
      return d ? { orgIds: [d.orgId], value: d } : null;
    },
    upload: async (id) => {
      const u = await s.datasets.getUpload(id);
      return u && u.state !== 'aborted' ? { orgIds: [u.orgId], value: u } : null;
    },
    user: async (id) => {
      const u = await s.identity.getUser(id);
      return u ? { orgIds: [u.orgId], value: u } : null;
    },
    offer: extra.offer ?? none,
    trade: extra.trade ?? none,
  };
}
