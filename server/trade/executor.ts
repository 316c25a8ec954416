import type { Logger } from 'pino';
// The HE evaluator (node-seal, worker pool) and the SQL/verify release schemas (node-sql-parser, sql.js) are
// imported by the first job that needs them: ~1.5 s of loading a server start does not need.
import { DomainError, isDomainError } from '../../contracts/errors.js';
import { isChargedPrivacyRefusal, type Trade } from '../../contracts/trade/trade.js';
import { isFinal } from '../../contracts/trade/states.js';
import type { AggregateComputation } from '../../contracts/computation.js';
import type { HeEvaluator } from '../../he/evaluate.js';
import { BundleManifest } from '../../formats/manifest.js';
import { SqlReleaseResponse, VerifyReleaseResponse } from '../../formats/enclave-protocol.js';
import type { DatasetService } from '../datasets/datasets.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { IdentityService } from '../identity/identity.js';
import type { EnclaveHandle } from '../enclave/handle.js';
import type { JobContext } from '../jobs/worker.js';
import { TransientJobError } from '../jobs/worker.js';
import type { Contracts } from './contracts.js';

export interface ExecutorDeps {
  contracts: Contracts;
  datasets: DatasetService;
  blobs: BlobStore;
  identity: IdentityService;
  enclave: EnclaveHandle;
  log: Logger;
  heThreads: number;
}

/**
 * Runs one approved trade: approved → executing; HE evaluation of the sealed ciphertexts on worker
 * threads (public keys only); release in the enclave, which re-verifies the signed approval, decrypts one
 * value per group, applies the output gate and signs the receipt; the receipt is stored with the job
 * BEFORE delivery, so a crash after the release re-delivers the same receipt; deliver captures the
 * escrow once (idempotent in contracts/). The enclave charges ε under the key `trade:<id>`, once.
 * A privacy refusal (any charged `privacy-*` type) fails the trade and takes its quoted refusal charge.
 */
export class TradeExecutor {
  private he: HeEvaluator | null = null;

  constructor(private readonly d: ExecutorDeps) {}

  async run(ctx: JobContext): Promise<void> {
    const { contracts } = this.d;
    let trade = await contracts.getTrade(ctx.job.tradeId);
    if (isFinal(trade.state)) return; // nothing left to do
    trade = await contracts.startExecution({ tradeId: trade.id, actor: 'worker' });
    let receipt = ctx.job.receipt as { payload: string } | null;
    if (!receipt) {
      let out;
      try {
        out = await this.release(trade);
      } catch (e) {
        // A privacy refusal ends the trade here, charged as quoted, with its type and parameters; the job
        // still fails (the worker then finds the trade failed and leaves it).
        if (isDomainError(e) && isChargedPrivacyRefusal(e.type)) {
          await contracts.refuseForPrivacy({ tradeId: trade.id, actor: 'worker', type: e.type, params: e.detail, message: e.message });
        }
        throw e;
      }
      await ctx.saveRelease(out.result, out.receipt);
      receipt = out.receipt;
    }
    const payload = JSON.parse(receipt.payload) as { receiptId?: string };
    await contracts.deliver({ tradeId: trade.id, actor: 'worker', result: { receiptId: payload.receiptId ?? null } });
  }

  /** A final failure: the trade fails with a reason the buyer can read and the hold is released. */
  async onFinalFailure(tradeId: string, type: string, reason: string): Promise<void> {
    const t = await this.d.contracts.getTrade(tradeId);
    if (t.state !== 'executing') return; // not started (e.g. approval expired): expiry handles it
    const readable =
      type === 'execution-failed' || type === 'transient'
        ? 'the computation could not be run; no money was taken'
        : `refused while running (${type}): ${reason}`;
    await this.d.contracts.fail({ tradeId, actor: 'worker', reason: readable, type });
  }

  private async release(trade: Trade): Promise<{ result: unknown; receipt: { payload: string } }> {
    const ds = await this.d.datasets.getDataset(trade.datasetId);
    if (!ds) throw new DomainError('dataset-missing', 'the dataset of this trade no longer exists');
    if (ds.commitment !== trade.datasetCommitment) throw new DomainError('dataset-changed', 'the dataset changed after the trade was approved');
    const offer = await this.d.contracts.getOffer(trade.offerId, trade.offerVersion);
    const cert = trade.reviewerId ? await this.d.identity.reviewerCertificate(trade.reviewerId) : null;
    if (!trade.approval || !cert) throw new DomainError('invalid-approval', 'the trade has no signed approval with a certified reviewer key');
    const epsilon = trade.epsilonMilli / 1000;
    const terms = trade.privacyTerms ?? null;
    const common = {
      trade: {
        tradeId: trade.id,
        datasetId: trade.datasetId,
        buyerOrgId: trade.buyerOrgId,
        offerId: trade.offerId,
        offerVersion: trade.offerVersion,
        priceFen: trade.priceFen,
        purpose: trade.purpose.code,
      },
      approval: trade.approval,
      reviewerCertificate: cert.certificate,
      // The terms the trade runs under — the ones its approval (v2) states and the enclave checks.
      policy: {
        minGroupSize: terms?.minGroupSize ?? trade.minGroupSize,
        mode: 'enforce' as const,
        ...(epsilon > 0 ? { dp: { epsilon, ...(terms?.delta ? { delta: terms.delta } : {}) } } : {}),
        maxRowsPerPerson: terms?.maxRowsPerPerson ?? offer.terms.maxRowsPerPerson,
      },
      budget: {
        limitEpsilon: terms?.epsilonBudgetPerBuyer ?? offer.terms.epsilonBudgetPerBuyer,
        chargeKey: `trade:${trade.id}`,
        refusalAllowance: terms?.refusalAllowance ?? offer.terms.refusalAllowance ?? 3,
        ...(terms ? { datasetLimitEpsilon: terms.epsilonBudgetTotal, datasetLimitDelta: terms.deltaBudgetTotal } : {}),
      },
    };
    const manifest = BundleManifest.parse(await this.d.datasets.manifestOf(ds.id));
    let client;
    try {
      client = await this.d.enclave.client();
    } catch (e) {
      throw new TransientJobError(`enclave unavailable: ${(e as Error).message}`);
    }
    const transient = (e: unknown): never => {
      if (e instanceof DomainError && (e.type === 'enclave-unavailable' || e.type === 'enclave-timeout')) throw new TransientJobError(e.message);
      throw e;
    };
    // The enclave reads the sealed row chunks itself from the blob store (by the manifest's SM3 names, re-hashed
    // there): no row byte goes over IPC.
    if (trade.computation.kind === 'sql' || trade.computation.kind === 'verify') {
      try {
        if (trade.computation.kind === 'sql') {
          const out = await client.call('sql', { ...common, manifest, computation: trade.computation }, SqlReleaseResponse);
          return { result: { ...out.result, privacy: out.privacy }, receipt: out.receipt };
        }
        const { budget: _noBudget, policy: _noPolicy, ...verifyCommon } = common;
        const out = await client.call('verify', { ...verifyCommon, manifest, computation: trade.computation }, VerifyReleaseResponse);
        return { result: { kind: 'verify', answer: out.result, privacy: out.privacy }, receipt: out.receipt };
      } catch (e) {
        return transient(e);
      }
    }
    let galois;
    try {
      galois = await this.d.enclave.galoisKeys();
    } catch (e) {
      throw new TransientJobError(`enclave unavailable: ${(e as Error).message}`);
    }
    if (!this.he) {
      const { HeEvaluator } = await import('../../he/evaluate.js');
      this.he ??= new HeEvaluator({ threads: this.d.heThreads });
    }
    const encrypted = await this.he.evaluateAggregate({
      manifest,
      computation: trade.computation as AggregateComputation,
      galoisKeys: { fingerprint: galois.fingerprint, bytes: galois.bytes },
      blobPath: (h) => this.d.blobs.pathOf(h),
    });
    try {
      // one call: the enclave keeps the dataset version's row map (built at admission) or derives it itself
      const out = await client.releaseAggregate({ ...common, manifest, computation: trade.computation as AggregateComputation, encrypted });
      return { result: { ...out.result, privacy: out.privacy }, receipt: out.receipt };
    } catch (e) {
      return transient(e);
    }
  }

  async close(): Promise<void> {
    await this.he?.close();
    this.he = null;
  }
}
