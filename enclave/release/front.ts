import type { z } from 'zod';
import { computationHash, type Computation } from '../../contracts/computation.js';
import { DomainError } from '../../contracts/errors.js';
import type { BundleManifest } from '../../formats/manifest.js';
import type { BudgetTerms, OutputPolicy, TradeContext } from '../../formats/enclave-protocol.js';
import { signReceipt, type Receipt } from '../../formats/receipt.js';
import { buildReceiptPayload, type ReceiptPrivacy } from '../../formats/receipt-payload.js';
import type { HeDecryptor } from '../../he/seal.js';
import type { Keystore } from '../keystore/keystore.js';
import { chargeKeyOf, type PrivacyBudgetLedger } from '../privacy/ledger.js';
import type { RowMap } from '../privacy/row-map.js';
import type { ShareQueue } from '../state/share-queue.js';
import type { SandboxLimits, SealedChunkStream } from '../sandbox/sandbox.js';
import { checkReleaseAuthority } from './authority.js';
import type { BlobReader } from './blob-reader.js';
import { loadRowChunks, streamRowChunks, type RowChunks } from './row-chunks.js';
import type { RowMaps } from './row-map.js';
import { phaseClock, type PhaseClock } from './timings.js';

/**
 * The one release front of the enclave, for every computation kind (aggregate, sql, verify):
 *  1. parse the request;
 *  2. authority: the approval re-verified with the pinned operator key and bound to trade, dataset commitment
 *     (recomputed from the manifest), computation hash and buyer; the approved privacy terms; the rows sealed
 *     to this enclave's unwrap key (authority.ts);
 *  3. the kind's checks that need no row (shapes, budgets, the refusal allowance);
 *  4. the row map, where the kind needs it: from memory or the privacy database, else derived here from the
 *     row chunks the enclave reads itself from its blob store (no resend round trip); a kind may ask for it
 *     later, from its computation (rows.map());
 *  5. the kind's computation (row chunks read lazily, each re-hashed against the manifest: all at once, kept for
 *     the release, or streamed one at a time);
 *  6. the receipt, signed with the enclave's key.
 * No row byte crosses the IPC boundary: the request names the rows by the manifest only.
 */

export interface ReleaseDeps {
  keystore: Keystore;
  ledger: PrivacyBudgetLedger;
  blobs: BlobReader;
  rowMaps: RowMaps;
  /** the HE decryptor (aggregate releases) */
  decryptor?: HeDecryptor;
  /** Only a test enclave (SHUYU_ENCLAVE_TEST_MODE=1) accepts policy mode 'exact-for-tests'. */
  testMode: boolean;
  now?: () => Date;
  /** limits of the sandbox workers (SQL, verify, row-map derivation) */
  limits?: Partial<SandboxLimits>;
  /** a cluster's enclaves sharing large SQL runs (enclave/sql/shares.ts), when configured */
  shares?: { queue: ShareQueue; key: Uint8Array; worker: string; count: number };
}

/** What every release request carries, whatever its kind. */
export interface ReleaseRequestBase {
  trade: z.infer<typeof TradeContext>;
  manifest: BundleManifest;
  computation: Computation;
  approval?: unknown;
  reviewerCertificate?: unknown;
  policy?: z.infer<typeof OutputPolicy>;
  budget?: z.infer<typeof BudgetTerms> | undefined;
}

/** The rows of the release's dataset version, read on first need and then kept for the release. */
export interface ReleaseRows {
  chunks(): Promise<RowChunks>;
  /** the same chunks read one at a time as they are asked for (each re-hashed then), so they are not all held */
  stream(): SealedChunkStream;
  /** the row map, derived from chunks() when not stored */
  map(): Promise<RowMap>;
  /** the stored row map, if any (never reads a chunk) */
  storedMap(): Promise<RowMap | undefined>;
}

export interface ReleaseSubject {
  commitment: string;
  now: Date;
  rows: ReleaseRows;
  /** the row map the kind asked for (step 4) */
  rowMap: RowMap | undefined;
  clock: PhaseClock;
  /** runs `f` when the release has ended, released or refused (a slot of the refusal allowance is given back) */
  onEnd(f: () => Promise<void>): void;
}

export interface Released<R> {
  result: R;
  privacy: ReceiptPrivacy & Record<string, unknown>;
  /** fields of the response beside receipt, result and privacy (e.g. verify's callId) */
  extra?: Record<string, unknown>;
}

/**
 * One computation kind: its request schema, its checks before any row is read (answering what its computation
 * reuses), its row-map need and its computation.
 */
export interface ReleaseKind<Req extends ReleaseRequestBase, R, P = void> {
  label: string;
  request: z.ZodType<Req, unknown>;
  /** step 3 (may throw) */
  admit(req: Req, s: Omit<ReleaseSubject, 'rowMap'>, deps: ReleaseDeps): P | Promise<P>;
  /**
   * step 4: 'required' loads (or derives) the map before the computation; 'stored' passes it only when already
   * kept; 'lazy' leaves it to the computation (rows.map(), e.g. after a query was validated, so a refused query
   * opens no row); 'none': not used
   */
  rowMap(req: Req, deps: ReleaseDeps): 'required' | 'stored' | 'lazy' | 'none';
  compute(req: Req, s: ReleaseSubject, deps: ReleaseDeps, prepared: P): Promise<Released<R>>;
}

const refuse = (type: string, message: string): DomainError => new DomainError(type, message);

type ReleaseResponse<R> = { receipt: Receipt; result: R; privacy: Record<string, unknown> } & Record<string, unknown>;

/** Steps 1–6 for a request of `kind` as it arrived (untrusted input). */
export async function release<Req extends ReleaseRequestBase, R, P>(
  kind: ReleaseKind<Req, R, P>,
  input: unknown,
  deps: ReleaseDeps,
): Promise<ReleaseResponse<R>> {
  const parsed = kind.request.safeParse(input);
  if (!parsed.success)
    throw refuse('release-invalid', `${kind.label} release request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return releaseParsed(kind, parsed.data, deps);
}

/**
 * Steps 2–6 for a request already parsed with `kind.request` (the process's message dispatcher validates every
 * payload with the same schema; parsing a large manifest and ciphertext set twice would only cost time).
 */
export async function releaseParsed<Req extends ReleaseRequestBase, R, P>(
  kind: ReleaseKind<Req, R, P>,
  req: Req,
  deps: ReleaseDeps,
): Promise<ReleaseResponse<R>> {
  const clock = phaseClock(kind.label);
  if (req.policy?.mode === 'exact-for-tests' && !deps.testMode)
    throw refuse('release-refused', "policy mode 'exact-for-tests' is only accepted by a test enclave");
  const now = (deps.now ?? (() => new Date()))();
  const commitment = checkReleaseAuthority(req, deps.keystore, now, { testMode: deps.testMode });
  // the charge key (the server's word) stands for this approved trade and computation only
  await deps.ledger.bindChargeKey({ chargeKey: chargeKeyOf(req), tradeId: req.trade.tradeId, computationHash: computationHash(req.computation) });
  clock.mark('authority');

  let chunks: Promise<RowChunks> | undefined;
  const rows: ReleaseRows = {
    chunks: () => (chunks ??= loadRowChunks(req.manifest, deps.blobs)),
    stream: () => {
      const fromStore = streamRowChunks(req.manifest, deps.blobs);
      // chunks the release already holds (its row map was derived from them) are not read again
      return { count: fromStore.count, rows: fromStore.rows, read: (i) => (chunks ? chunks.then((c) => c[i] ?? fromStore.read(i)) : fromStore.read(i)) };
    },
    map: () => deps.rowMaps.of(req.manifest, rows.chunks),
    storedMap: () => deps.rowMaps.stored(req.manifest),
  };
  const ends: (() => Promise<void>)[] = [];
  const subject = { commitment, now, rows, clock, onEnd: (f: () => Promise<void>) => void ends.push(f) };
  let out: Released<R>;
  try {
    const prepared = await kind.admit(req, subject, deps);
    clock.mark('admit');
    const need = kind.rowMap(req, deps);
    const rowMap = need === 'required' ? await rows.map() : need === 'stored' ? await rows.storedMap() : undefined;
    clock.mark('row map');
    out = await kind.compute(req, { ...subject, rowMap }, deps, prepared);
  } finally {
    // what failed here stays held (conservatively) and does not replace the release's own outcome
    for (const f of ends) await f().catch(() => {});
  }
  const payload = buildReceiptPayload({
    trade: req.trade,
    datasetCommitment: commitment,
    computation: req.computation,
    result: out.result,
    privacy: out.privacy,
  });
  const receipt = signReceipt(payload, deps.keystore.signing);
  clock.mark('sign');
  clock.done();
  return { ...(out.extra ?? {}), receipt, result: out.result, privacy: out.privacy };
}
