import type { Computation } from '../contracts/computation.js';
import { newId } from '../contracts/ids.js';
import { canonicalJson, sm3Hex } from '../crypto/index.js';
import type { TradeContext } from './enclave-protocol.js';

/**
 * The receipt payload: what a delivered trade's signed result names. Shared by
 * the HE release and the SQL/verify paths so every receipt has one shape. `signReceipt`
 * (formats/receipt.ts) adds the signing key's fingerprint and signs canonicalJson of it.
 */

export interface ReceiptPrivacy {
  minGroupSize: number;
  /**
   * What a key missing from the result means: 'empty-or-withheld' (exact: no rows, or below k — never
   * which, and never counted) or 'none' (DP: every key of the public domain is released).
   */
  absentGroups?: 'empty-or-withheld' | 'none' | (string & {});
  mechanism: string;
  epsilonSpent: number;
  epsilonRemaining: number | null;
  delta?: number;
  [k: string]: unknown;
}

export interface ReceiptPayloadInput {
  trade: TradeContext;
  datasetCommitment: string;
  /** The parsed computation; the payload carries it as canonical JSON plus its SM3 hash. */
  computation: Computation;
  result: unknown;
  privacy: ReceiptPrivacy;
  /** defaults: a fresh UUIDv7 and now */
  receiptId?: string;
  issuedAt?: string;
}

export function buildReceiptPayload(input: ReceiptPayloadInput): Record<string, unknown> {
  const canonicalComputation = canonicalJson(input.computation);
  // JSON round trip drops undefined fields so the payload is canonical-JSON-safe.
  const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
  return {
    type: 'shuyu.receipt.v1',
    receiptId: input.receiptId ?? newId(),
    tradeId: input.trade.tradeId,
    datasetId: input.trade.datasetId,
    datasetCommitment: input.datasetCommitment,
    offerId: input.trade.offerId,
    offerVersion: input.trade.offerVersion,
    buyerOrgId: input.trade.buyerOrgId,
    computation: canonicalComputation,
    computationHash: sm3Hex(canonicalComputation),
    result: plain(input.result),
    privacy: plain(input.privacy),
    price: { amountFen: input.trade.priceFen, currency: 'CNY' },
    issuedAt: input.issuedAt ?? new Date().toISOString(),
  };
}
