/**
 * The console talks to the trade layer through the SDK's role clients (client-sdk/sdk) — the same
 * requests, approval building and receipt verification as the CLI, not a second copy. Same origin;
 * the token is this tab's.
 */
import { BuyerClient, type PinnedEnclaveKey } from '../client-sdk/sdk/buyer.js';
import { OperatorClient } from '../client-sdk/sdk/operator.js';
import { ReviewerClient } from '../client-sdk/sdk/reviewer.js';
import { tokenStore } from './api.js';

export type { Trade, TradeDetail, ReviewCase, Offer, Wallet, Statement, LedgerTxn, AuditEvents, AuditVerification, PolicyDocument } from '../client-sdk/sdk/types.js';

const connection = () => ({ url: location.origin, token: tokenStore.get() ?? undefined, timeoutMs: 30_000 });

const PIN_KEY = 'shuyu.enclavePin';

/** Trust on first use, as the CLI does: the enclave's receipt key is pinned in this browser the first time. */
export function buyerClient(): BuyerClient {
  const stored = localStorage.getItem(PIN_KEY);
  return new BuyerClient({ ...connection(), pinned: stored ? (JSON.parse(stored) as PinnedEnclaveKey) : undefined });
}
export const savePin = (pin: PinnedEnclaveKey): void => localStorage.setItem(PIN_KEY, JSON.stringify(pin));

export const reviewerClient = (): ReviewerClient => new ReviewerClient(connection());
export const operatorClient = (): OperatorClient => new OperatorClient(connection());
