/**
 * What the owner's pages read: the organisation's datasets, their active offers, the trades on them,
 * the revenue each earned (from the ledger statement) and the uploads not yet published. The owner's
 * SDK client also seals and uploads files, which needs Node: these pages call the same routes directly.
 */
import type { Dataset, Evaluation, Offer, Statement, Trade, Upload } from '../../client-sdk/sdk/types.js';
import { accountIds } from '../../contracts/ledger/ledger.js';
import { all, ApiError, get } from '../api.js';

export type { Dataset, Evaluation, Offer, Trade, Upload };

export const offersOf = async (datasetId: string): Promise<Offer[]> => (await get<{ items: Offer[] }>(`/catalog/${datasetId}/offers`)).items;

export const ownTrades = (): Promise<Trade[]> => all<Trade>('/trades');

/** Revenue credited to the organisation per trade (captures of delivered trades), from the whole statement. */
export async function revenueByTrade(orgId: string): Promise<Map<string, number>> {
  const revenue = accountIds.revenue(orgId);
  const out = new Map<string, number>();
  let after: number | undefined;
  for (;;) {
    const st = await get<Statement>('/ledger/statements', { limit: 200, after });
    for (const txn of st.transactions) {
      if (!txn.tradeId) continue;
      const amount = txn.entries.filter((e) => e.accountId === revenue).reduce((a, e) => a + e.amount, 0);
      if (amount) out.set(txn.tradeId, (out.get(txn.tradeId) ?? 0) + amount);
    }
    if (st.nextAfter === null || st.transactions.length === 0) break;
    after = st.nextAfter;
  }
  return out;
}

/** Revenue summed per dataset through the trades that earned it. */
export function revenueByDataset(trades: readonly Trade[], byTrade: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const tr of trades) {
    const r = byTrade.get(tr.id);
    if (r) out.set(tr.datasetId, (out.get(tr.datasetId) ?? 0) + r);
  }
  return out;
}

/** Uploads not yet published; null when the server has no such list (an older deployment). */
export async function openUploads(): Promise<Upload[] | null> {
  try {
    return (await get<{ items: Upload[] }>('/uploads')).items;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}
