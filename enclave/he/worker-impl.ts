import { readFileSync } from 'node:fs';
import { sm3Hex, toB64 } from '../crypto/index.js';
import { BFV_PARAMS } from './params.js';
import { HeContext, HeError, type CipherText, type GaloisKeys, type HeEncryptor } from './seal.js';

/**
 * Body of the piscina worker (enclave/he/worker.mjs loads it). Public-key material only: the server uses
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
}
export interface EvaluateOutput {
  groups: { key: number[]; columns: Record<string, string> }[];
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
  const gk = galoisKeysFor(he, task.galoisKeys);
  const out: EvaluateOutput['groups'] = [];
  for (const g of task.groups) {
    const columns: Record<string, string> = {};
    for (const [col, refs] of Object.entries(g.columns)) {
      if (refs.length === 0) continue;
      let acc: CipherText | undefined;
      try {
        for (const ref of refs) {
          const ct = he.loadCiphertext(readBlob(ref), `ciphertext ${ref.sm3.slice(0, 12)}…`);
          if (!acc) acc = ct;
          else {
            try {
              he.addInto(acc, ct);
            } finally {
              ct.delete();
            }
          }
        }
        const total = he.totalOfAllSlots(acc!, gk);
        acc = total;
        columns[col] = toB64(he.saveCiphertext(total));
      } finally {
        acc?.delete();
      }
    }
    out.push({ key: g.key, columns });
  }
  return { groups: out };
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

export async function run(task: WorkerTask): Promise<EvaluateOutput | EncryptOutput> {
  return task.kind === 'evaluate' ? evaluate(task) : encrypt(task);
}
