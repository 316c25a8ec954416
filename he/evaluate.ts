import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { AggregateComputation } from '../contracts/computation.js';
import { AggregateComputation as AggregateComputationSchema } from '../contracts/computation.js';
import { DomainError } from '../contracts/errors.js';
import { canonicalJson, sm3Hex } from '../crypto/index.js';
import type { BundleManifest } from '../formats/manifest.js';
import { blocksFor, checkOverflow, planAggregate, type AggregatePlan } from './layout.js';
import { BFV_PARAMS } from './params.js';
import type { EncryptedAggregate } from '../formats/encrypted-aggregate.js';
import type { BlobRef, EncryptOutput, EncryptTask, EvaluateOutput, EvaluateTask, WorkerFailure } from './worker-impl.js';

/**
 * Server-side HE evaluation (public keys only), on piscina worker threads so the HTTP thread stays
 * responsive. Layout v1: sums the ciphertexts of each group's partitions and rotate-and-sums them. Layout v2
 * (packed): passes on each block the computation touches (adding its ciphertexts when it has several); the
 * enclave adds the planned slots (he/layout.ts says why).
 */

export interface EvaluateAggregateInput {
  manifest: BundleManifest;
  computation: AggregateComputation;
  /** The enclave's Galois keys (public): a file path or bytes, with their SM3 fingerprint. */
  galoisKeys: { fingerprint: string; path?: string; bytes?: Uint8Array };
  /** Where the blob store keeps the blob named by this SM3 hex. */
  blobPath: (sm3: string) => string;
}

// compiled (dist/): the implementation's `run` itself; under tsx: worker.mjs, which registers tsx in the thread first
const COMPILED = import.meta.url.endsWith('.js');
const WORKER = new URL(COMPILED ? './worker-impl.js' : './worker.mjs', import.meta.url).href;

/**
 * niceIncrement (default 10, the server's): a long HE job yields the CPU to the HTTP thread (catalogue/quote
 * latency during jobs); the job still gets every cycle the server does not need. Linux applies nice
 * per thread. An owner's sealer has no HTTP thread to protect and passes 0.
 */
export function createHeWorkerPool(threads = Math.min(2, availableParallelism()), niceIncrement = 10): Piscina {
  return new Piscina({ filename: WORKER, name: COMPILED ? 'run' : 'default', minThreads: 1, maxThreads: threads, idleTimeout: 30_000, niceIncrement });
}

export const computationHashOf = (c: AggregateComputation): string => sm3Hex(canonicalJson(c));

function unwrap<T>(out: T | WorkerFailure): T {
  if (out && typeof out === 'object' && 'failed' in out) throw new DomainError(out.failed.type, out.failed.message, out.failed.detail);
  return out as T;
}

export class HeEvaluator {
  private readonly pool: Piscina;
  constructor(opts: { threads?: number; niceIncrement?: number } = {}) {
    this.threads = opts.threads ?? Math.min(2, availableParallelism());
    this.pool = createHeWorkerPool(this.threads, opts.niceIncrement);
  }
  private readonly threads: number;
  /** Timing of the last evaluation (for benches and metrics). */
  lastStats: { loadMs: number; opsMs: number; ciphertexts: number } | undefined;

  async evaluateAggregate(input: EvaluateAggregateInput): Promise<EncryptedAggregate> {
    const parsed = AggregateComputationSchema.safeParse(input.computation);
    if (!parsed.success) throw new DomainError('computation-invalid', parsed.error.issues.map((i) => i.message).join('; '));
    const computation = parsed.data;
    const { manifest } = input;
    const params = BFV_PARAMS[manifest.he.paramsId];
    if (!params) throw new DomainError('he-params', `unknown HE parameter set ${manifest.he.paramsId}`);
    const plan = planAggregate(manifest, computation);
    checkOverflow(manifest, computation, params);
    if (manifest.layout.packing) return this.passBlocks(input, computation, plan);

    // ciphertext refs per (partition, column), in seq order
    const refs = new Map<string, BlobRef[]>();
    for (const c of manifest.chunks) {
      if (c.kind !== 'he' || c.partition === undefined) continue;
      const k = `${c.partition}|${c.column}`;
      let list = refs.get(k);
      if (!list) refs.set(k, (list = []));
      list[c.seq] = { sm3: c.sm3, path: input.blobPath(c.sm3) };
    }

    // one work item per (group, column); spread over the threads by ciphertext count
    type Item = { gi: number; col: string; refs: BlobRef[] };
    const items: Item[] = [];
    plan.groups.forEach((g, gi) => {
      for (const col of plan.columns) {
        items.push({ gi, col, refs: g.partitions.flatMap((p) => refs.get(`${p}|${col}`) ?? []) });
      }
    });
    const buckets: { load: number; items: Item[] }[] = Array.from({ length: this.threads }, () => ({ load: 0, items: [] }));
    for (const it of [...items].sort((a, b) => b.refs.length - a.refs.length)) {
      const b = buckets.reduce((m, x) => (x.load < m.load ? x : m));
      b.items.push(it);
      b.load += it.refs.length + 12; // + the rotations
    }
    const stats: EvaluateOutput['stats'][] = [];
    const results = await Promise.all(
      buckets
        .filter((b) => b.items.length > 0)
        .map(async (b) => {
          const task: EvaluateTask = {
            kind: 'evaluate',
            paramsId: params.id,
            galoisKeys: input.galoisKeys,
            groups: b.items.map((it) => ({ key: [it.gi], columns: { [it.col]: it.refs } })),
          };
          const out = unwrap((await this.pool.run(task)) as EvaluateOutput | WorkerFailure);
          stats.push(out.stats);
          return out.groups.map((g) => ({ gi: g.key[0]!, columns: g.columns }));
        }),
    );
    const merged = plan.groups.map((g) => ({ key: g.key, columns: {} as Record<string, string> }));
    for (const part of results) for (const r of part) Object.assign(merged[r.gi]!.columns, r.columns);
    // threads run in parallel: the slowest thread bounds each phase
    this.lastStats = {
      loadMs: Math.max(0, ...stats.map((s) => s.loadMs)),
      opsMs: Math.max(0, ...stats.map((s) => s.opsMs)),
      ciphertexts: stats.reduce((n, s) => n + s.ciphertexts, 0),
    };
    return {
      format: 'shuyu.he-aggregate.v1',
      paramsId: params.id,
      datasetCommitment: manifest.commitment,
      computationHash: computationHashOf(computation),
      groupBy: plan.groupBy,
      groups: merged,
    };
  }

  /** Layout v2: the touched blocks, each block's ciphertexts added (one task per thread, blocks spread evenly). */
  private async passBlocks(input: EvaluateAggregateInput, computation: AggregateComputation, plan: AggregatePlan): Promise<EncryptedAggregate> {
    const { manifest } = input;
    const refs = new Map<number, BlobRef[]>();
    for (const c of manifest.chunks) {
      if (c.kind !== 'he' || c.block === undefined) continue;
      let list = refs.get(c.block);
      if (!list) refs.set(c.block, (list = []));
      list[c.seq] = { sm3: c.sm3, path: input.blobPath(c.sm3) };
    }
    const blocks = blocksFor(manifest.layout, plan);
    const shares = Array.from({ length: Math.min(this.threads, blocks.length) }, (_, t) => blocks.filter((_, i) => i % this.threads === t));
    const stats: EvaluateOutput['stats'][] = [];
    const parts = await Promise.all(
      shares.map(async (share) => {
        const task: EvaluateTask = {
          kind: 'evaluate',
          paramsId: manifest.he.paramsId,
          galoisKeys: input.galoisKeys,
          rotate: false,
          groups: share.map((b) => ({ key: [b], columns: { block: refs.get(b) ?? [] } })),
        };
        const out = unwrap((await this.pool.run(task)) as EvaluateOutput | WorkerFailure);
        stats.push(out.stats);
        return out.groups.map((g) => ({ block: g.key[0]!, ciphertext: g.columns.block! }));
      }),
    );
    this.lastStats = {
      loadMs: Math.max(0, ...stats.map((s) => s.loadMs)),
      opsMs: Math.max(0, ...stats.map((s) => s.opsMs)),
      ciphertexts: stats.reduce((n, s) => n + s.ciphertexts, 0),
    };
    const missing = parts.flat().find((b) => b.ciphertext === undefined);
    if (missing) throw new DomainError('he-ciphertext-invalid', `block ${missing.block} has no ciphertext in the manifest`);
    return {
      format: 'shuyu.he-aggregate.v1',
      paramsId: manifest.he.paramsId,
      datasetCommitment: manifest.commitment,
      computationHash: computationHashOf(computation),
      groupBy: plan.groupBy,
      groups: plan.groups.map((g) => ({ key: g.key, columns: {} })),
      blocks: parts.flat().sort((a, b) => a.block - b.block),
    };
  }

  /** Owner side: encrypt vectors under the enclave's HE public key on the worker threads. */
  async encrypt(task: Omit<EncryptTask, 'kind'>): Promise<Uint8Array[]> {
    const out = unwrap((await this.pool.run({ kind: 'encrypt', ...task } satisfies EncryptTask, { transferList: task.vectors.map((v) => v.buffer as ArrayBuffer) })) as EncryptOutput | WorkerFailure);
    return out.ciphertexts;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
