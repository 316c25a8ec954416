import { readFileSync } from 'node:fs';
import { DomainError } from '../contracts/errors.js';
import { sm3Hex, toB64 } from '../crypto/index.js';
import { BFV_PARAMS } from './params.js';
import { HeContext, HeError, type CipherText, type GaloisKeys, type HeEncryptor } from './seal.js';

/**
 * Body of the piscina worker (he/worker.mjs loads it). Public-key material only: the server uses
 * `evaluate` (Galois keys), the owner's sealer uses `encrypt` (HE public key). Each worker thread keeps
 * one SEAL instance, one context per parameter set and the most recent keys, all freed on replacement.
 */

export interface BlobRef {
  sm3: string;
  path: string;
}

export interface EvaluateTask {
  kind: 'evaluate';
  paramsId: string;
  galoisKeys: { fingerprint: string; path?: string; bytes?: Uint8Array };
  groups: { key: number[]; columns: Record<string, BlobRef[]> }[];
  /**
   * false: only add the listed ciphertexts (layout v2 blocks, summed by slot in the enclave); a single one is
   * passed on as its stored bytes, so the enclave can match it to the manifest's SM3. Default true.
   */
  rotate?: boolean;
}
export interface EvaluateOutput {
  groups: { key: number[]; columns: Record<string, string> }[];
  /** time spent reading + checking + loading ciphertexts vs homomorphic operations, in this thread */
  stats: { loadMs: number; opsMs: number; ciphertexts: number };
}

export interface EncryptTask {
  kind: 'encrypt';
  paramsId: string;
  publicKey: { fingerprint: string; bytes: Uint8Array };
  vectors: BigInt64Array[];
}
export interface EncryptOutput {
  ciphertexts: Uint8Array[];
}

export type WorkerTask = EvaluateTask | EncryptTask;

const contexts = new Map<string, HeContext>();
let galois: { fingerprint: string; keys: GaloisKeys } | undefined;
let encryptor: { fingerprint: string; enc: HeEncryptor } | undefined;

async function contextFor(paramsId: string): Promise<HeContext> {
  const params = BFV_PARAMS[paramsId];
  if (!params) throw new HeError('he-params', `unknown HE parameter set ${paramsId}`);
  let he = contexts.get(paramsId);
  if (!he) contexts.set(paramsId, (he = await HeContext.create(params)));
  return he;
}

function galoisKeysFor(he: HeContext, g: EvaluateTask['galoisKeys']): GaloisKeys {
  if (galois?.fingerprint === g.fingerprint) return galois.keys;
  const bytes = g.bytes ?? (g.path ? readFileSync(g.path) : undefined);
  if (!bytes) throw new HeError('he-key-invalid', 'no Galois keys given');
  if (sm3Hex(bytes) !== g.fingerprint) throw new HeError('he-key-invalid', 'Galois keys do not match their fingerprint');
  const keys = he.loadGaloisKeys(bytes);
  galois?.keys.delete();
  galois = { fingerprint: g.fingerprint, keys };
  return keys;
}

function readBlob(ref: BlobRef): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(ref.path);
  } catch {
    throw new HeError('he-ciphertext-invalid', `ciphertext blob ${ref.sm3} is missing`);
  }
  if (sm3Hex(bytes) !== ref.sm3) throw new HeError('he-ciphertext-invalid', `ciphertext blob ${ref.sm3} does not match its SM3 name (tampered)`);
  return bytes;
}

async function evaluate(task: EvaluateTask): Promise<EvaluateOutput> {
  const he = await contextFor(task.paramsId);
  const rotate = task.rotate ?? true;
  const gk = rotate ? galoisKeysFor(he, task.galoisKeys) : undefined;
  const out: EvaluateOutput['groups'] = [];
  const stats = { loadMs: 0, opsMs: 0, ciphertexts: 0 };
  for (const g of task.groups) {
    const columns: Record<string, string> = {};
    for (const [col, refs] of Object.entries(g.columns)) {
      if (refs.length === 0) continue;
      if (!rotate && refs.length === 1) {
        const t0 = performance.now();
        columns[col] = toB64(readBlob(refs[0]!));
        stats.loadMs += performance.now() - t0;
        stats.ciphertexts++;
        continue;
      }
      let acc: CipherText | undefined;
      try {
        for (const ref of refs) {
          const t0 = performance.now();
          const ct = he.loadCiphertext(readBlob(ref), `ciphertext ${ref.sm3.slice(0, 12)}…`);
          const t1 = performance.now();
          stats.loadMs += t1 - t0;
          stats.ciphertexts++;
          if (!acc) acc = ct;
          else {
            try {
              he.addInto(acc, ct);
            } finally {
              ct.delete();
            }
          }
          stats.opsMs += performance.now() - t1;
        }
        const t2 = performance.now();
        const total = gk ? he.totalOfAllSlots(acc!, gk) : acc!;
        acc = total;
        stats.opsMs += performance.now() - t2;
        // packed: the enclave loads it with a copy loop instead of zstd, and the release message is smaller
        columns[col] = toB64(he.saveCiphertextPacked(total));
      } finally {
        acc?.delete();
      }
    }
    out.push({ key: g.key, columns });
  }
  return { groups: out, stats };
}

async function encrypt(task: EncryptTask): Promise<EncryptOutput> {
  const he = await contextFor(task.paramsId);
  if (encryptor?.fingerprint !== task.publicKey.fingerprint) {
    if (sm3Hex(task.publicKey.bytes) !== task.publicKey.fingerprint) throw new HeError('he-key-invalid', 'HE public key does not match its fingerprint');
    const enc = he.encryptor(task.publicKey.bytes);
    encryptor?.enc.delete();
    encryptor = { fingerprint: task.publicKey.fingerprint, enc };
  }
  return { ciphertexts: task.vectors.map((v) => encryptor!.enc.encryptVector(v)) };
}

/** Typed errors cross the thread boundary as data (structured clone would drop the DomainError class). */
export interface WorkerFailure {
  failed: { type: string; message: string; detail: Record<string, unknown> };
}

export async function run(task: WorkerTask): Promise<EvaluateOutput | EncryptOutput | WorkerFailure> {
  try {
    return task.kind === 'evaluate' ? await evaluate(task) : await encrypt(task);
  } catch (e) {
    if (e instanceof DomainError) return { failed: { type: e.type, message: e.message, detail: e.detail } };
    return { failed: { type: 'he-internal', message: `HE worker failed: ${e instanceof Error ? e.message : String(e)}`, detail: {} } };
  }
}
