import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { z } from 'zod';
import { DomainError } from '../../contracts/errors.js';
import {
  canonicalJson,
  fromB64,
  fromUtf8,
  openBox,
  sealBox,
  sm2Fingerprint,
  sm2KeyPair,
  sm2PublicFromPrivate,
  sm2PublicKeyFromPem,
  sm2PublicKeyToPem,
  sm3Hex,
  toB64,
  utf8,
} from '../../crypto/index.js';
import { HeContext } from '../../he/seal.js';
import { type BfvParams, BFV_PARAMS, DEFAULT_BFV_PARAMS } from '../../he/params.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import type { Store } from '../../store/engine.js';
import { isUniqueViolation } from '../../store/errors.js';

/**
 * The enclave's keystore, created on first start in the enclave's data directory (embedded) or as rows of the
 * enclave's state store (`enclave_keystore`, in its PostgreSQL schema: a cluster's enclaves share it):
 *   keystore.json       SM2 signing key, SM2 unwrap key, BFV secret key, the pinned operator key and the
 *                       SM3 hashes of the public HE files — sealed (sealBox) under a key derived from the
 *                       master secret with PBKDF2-HMAC-SM3 (RFC 8018 §5.2, PRF = HMAC-SM3)
 *   he-public-key.bin   BFV public key     }
 *   he-relin-keys.bin   BFV relin keys     } public material; integrity pinned by the sealed hashes
 *   he-galois-keys.bin  BFV Galois keys    }
 * The master secret is supplied at start (env or a file outside this directory) and never written here.
 */

/** Where the keystore's four files live: a directory, or rows of the enclave's state store. */
export interface KeystoreStorage {
  /** for messages: the directory, or the store */
  readonly where: string;
  read(name: string): Promise<Uint8Array | undefined>;
  /** true when a complete keystore is there (its sealed file is written last, in its own step or transaction) */
  exists(): Promise<boolean>;
  /** Writes a new keystore (the sealed file last); false when another enclave created one first (nothing written). */
  create(files: { name: string; bytes: Uint8Array | string }[]): Promise<boolean>;
  /** Replaces one file (the sealed file, on master-secret rotation) in one atomic step. */
  replace(name: string, bytes: Uint8Array | string): Promise<void>;
}

export function directoryKeystore(dir: string): KeystoreStorage {
  return {
    where: dir,
    read: async (name) => {
      try {
        return new Uint8Array(await readFile(join(dir, name)));
      } catch {
        return undefined;
      }
    },
    exists: () => stat(join(dir, FILES.store)).then(() => true, () => false),
    async create(files) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      for (const f of files) await writeAtomic(join(dir, f.name), f.bytes);
      return true;
    },
    replace: (name, bytes) => writeAtomic(join(dir, name), bytes),
  };
}

/** The keystore as rows of the enclave's state store (its tables made by enclave/state's migrations). */
export function storeKeystore(store: Store): KeystoreStorage {
  const bytesOf = (b: Uint8Array | string): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return {
    where: 'the enclave state store',
    read: async (name) => {
      const r = await store.get<{ bytes: Buffer }>('SELECT bytes FROM enclave_keystore WHERE name = ?', name);
      return r ? new Uint8Array(r.bytes) : undefined;
    },
    exists: async () => (await store.get('SELECT 1 AS one FROM enclave_keystore WHERE name = ?', FILES.store)) !== undefined,
    async create(files) {
      try {
        // one transaction: enclaves starting together on an empty store create one keystore, the others open it
        return await store.transaction(async () => {
          if (await store.get('SELECT 1 AS one FROM enclave_keystore WHERE name = ?', FILES.store)) return false;
          const at = new Date().toISOString();
          for (const f of files) await store.run('INSERT INTO enclave_keystore (name, bytes, created_at) VALUES (?, ?, ?)', f.name, bytesOf(f.bytes), at);
          return true;
        });
      } catch (e) {
        if (isUniqueViolation(e)) return false;
        throw e;
      }
    },
    async replace(name, bytes) {
      await store.run('UPDATE enclave_keystore SET bytes = ? WHERE name = ?', bytesOf(bytes), name);
    },
  };
}

const storageOf = (where: string | KeystoreStorage): KeystoreStorage => (typeof where === 'string' ? directoryKeystore(where) : where);

const FORMAT = 'shuyu.keystore.v1';
const AAD = utf8(FORMAT);
const KDF_ITERATIONS = 20_000;

const Sealed = z
  .object({
    signingPrivateKey: z.string(),
    unwrapPrivateKey: z.string(),
    operatorPublicKeyPem: z.string(),
    he: z.object({ paramsId: z.string(), secretKey: z.string(), publicKeySm3: z.string(), relinKeysSm3: z.string(), galoisKeysSm3: z.string() }).strict(),
    createdAt: z.string(),
  })
  .strict();

const KeystoreFile = z
  .object({
    format: z.literal(FORMAT),
    kdf: z.object({ alg: z.literal('PBKDF2-HMAC-SM3'), salt: z.string(), iterations: z.number().int().min(1000) }).strict(),
    sealed: z.string(),
  })
  .strict();

export interface Keystore {
  /** where it was opened from (a directory, or the state store) */
  dir: string;
  signing: { privateKey: Uint8Array; publicKey: Uint8Array };
  unwrap: { privateKey: Uint8Array; publicKey: Uint8Array };
  operatorPublicKeyPem: string;
  he: { params: BfvParams; secretKey: Uint8Array; publicKey: Uint8Array; relinKeys: Uint8Array; galoisKeys: Uint8Array };
}

const FILES = { store: 'keystore.json', pk: 'he-public-key.bin', rk: 'he-relin-keys.bin', gk: 'he-galois-keys.bin' } as const;

/** The keystore's files, the sealed one last: what moves, byte for byte, when embedded state is imported. */
export const KEYSTORE_FILES: readonly string[] = [FILES.pk, FILES.rk, FILES.gk, FILES.store];
export const SEALED_KEYSTORE_FILE = FILES.store;

function deriveKey(masterSecret: string | Uint8Array, salt: Uint8Array, iterations: number): Uint8Array {
  const secret = typeof masterSecret === 'string' ? utf8(masterSecret) : masterSecret;
  if (secret.length < 16) throw new DomainError('keystore-master-secret', 'the master secret must be at least 16 bytes');
  return new Uint8Array(pbkdf2Sync(secret, salt, iterations, 32, 'sm3'));
}

/** Refuse a master-secret file kept inside the keystore directory (it must live elsewhere). */
export function assertSecretOutside(dir: string, secretFile: string): void {
  const rel = relative(resolve(dir), resolve(secretFile));
  if (!rel.startsWith('..') && !isAbsolute(rel)) {
    throw new DomainError('keystore-master-secret', 'the master secret file must not be stored inside the enclave keystore directory');
  }
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, path);
}

export async function openOrCreateKeystore(opts: {
  /** a directory, or the state store's rows (storeKeystore) */
  dir: string | KeystoreStorage;
  masterSecret: string | Uint8Array;
  operatorPublicKeyPem: string;
  heParamsId?: string;
}): Promise<{ keystore: Keystore; created: boolean }> {
  const storage = storageOf(opts.dir);
  // validate the operator key before anything is written
  let operatorKey: Uint8Array;
  try {
    operatorKey = sm2PublicKeyFromPem(opts.operatorPublicKeyPem);
  } catch {
    throw new DomainError('keystore-operator-key', 'the operator public key is not a valid SM2 PEM');
  }
  if (await storage.exists()) return { keystore: await openKeystore(storage, opts.masterSecret, opts.operatorPublicKeyPem), created: false };

  const params = BFV_PARAMS[opts.heParamsId ?? DEFAULT_BFV_PARAMS.id];
  if (!params) throw new DomainError('he-params', `unknown HE parameter set ${opts.heParamsId}`);
  const he = await HeContext.create(params);
  let heKeys;
  try {
    heKeys = he.generateKeys();
  } finally {
    he.delete();
  }
  const signing = sm2KeyPair();
  const unwrap = sm2KeyPair();
  const operatorPem = sm2PublicKeyToPem(operatorKey); // normalised
  const sealedBody = Sealed.parse({
    signingPrivateKey: toB64(signing.privateKey),
    unwrapPrivateKey: toB64(unwrap.privateKey),
    operatorPublicKeyPem: operatorPem,
    he: {
      paramsId: params.id,
      secretKey: toB64(heKeys.secretKey),
      publicKeySm3: sm3Hex(heKeys.publicKey),
      relinKeysSm3: sm3Hex(heKeys.relinKeys),
      galoisKeysSm3: sm3Hex(heKeys.galoisKeys),
    },
    createdAt: new Date().toISOString(),
  });
  const written = await storage.create([
    { name: FILES.pk, bytes: heKeys.publicKey },
    { name: FILES.rk, bytes: heKeys.relinKeys },
    { name: FILES.gk, bytes: heKeys.galoisKeys },
    { name: FILES.store, bytes: sealedFile(sealedBody, opts.masterSecret) }, // last: its presence means "complete"
  ]);
  // another enclave created the keystore meanwhile: every enclave of the deployment holds the same keys
  if (!written) return { keystore: await openKeystore(storage, opts.masterSecret, opts.operatorPublicKeyPem), created: false };
  return {
    created: true,
    keystore: {
      dir: storage.where,
      signing,
      unwrap,
      operatorPublicKeyPem: operatorPem,
      he: { params, secretKey: heKeys.secretKey, publicKey: heKeys.publicKey, relinKeys: heKeys.relinKeys, galoisKeys: heKeys.galoisKeys },
    },
  };
}

/** keystore.json's text: the sealed body under a fresh salt and a key derived from the master secret. */
function sealedFile(body: z.infer<typeof Sealed>, masterSecret: string | Uint8Array): string {
  const salt = new Uint8Array(randomBytes(16));
  const key = deriveKey(masterSecret, salt, KDF_ITERATIONS);
  try {
    const file = {
      format: FORMAT,
      kdf: { alg: 'PBKDF2-HMAC-SM3' as const, salt: toB64(salt), iterations: KDF_ITERATIONS },
      sealed: toB64(sealBox(key, utf8(canonicalJson(body)), AAD)),
    };
    return JSON.stringify(file, null, 1);
  } finally {
    key.fill(0);
  }
}

async function openSealedBody(storage: KeystoreStorage, masterSecret: string | Uint8Array): Promise<z.infer<typeof Sealed>> {
  let file: z.infer<typeof KeystoreFile>;
  try {
    file = KeystoreFile.parse(JSON.parse(fromUtf8((await storage.read(FILES.store))!)));
  } catch {
    throw new DomainError('keystore-corrupt', 'the keystore file is unreadable or malformed');
  }
  const key = deriveKey(masterSecret, fromB64(file.kdf.salt), file.kdf.iterations);
  try {
    return Sealed.parse(JSON.parse(fromUtf8(openBox(key, fromB64(file.sealed), AAD))));
  } catch {
    throw new DomainError('keystore-locked', 'the keystore cannot be opened: wrong master secret, or the keystore was tampered with');
  } finally {
    key.fill(0);
  }
}

/**
 * Master-secret rotation: re-seal keystore.json under a new master secret (fresh salt). The keys inside do not
 * change, so bundles, receipts and pinned fingerprints stay valid. One atomic rename: a crash leaves either the
 * old file (opens with the old secret) or the new one (opens with the new secret), never neither. The server
 * must be stopped, and restarted with the new secret.
 */
export async function rotateMasterSecret(
  dir: string | KeystoreStorage,
  oldSecret: string | Uint8Array,
  newSecret: string | Uint8Array,
): Promise<{ fingerprint: string }> {
  const storage = storageOf(dir);
  const body = await openSealedBody(storage, oldSecret);
  await storage.replace(FILES.store, sealedFile(body, newSecret));
  const reopened = await openKeystore(storage, newSecret);
  return { fingerprint: sm2Fingerprint(reopened.signing.publicKey) };
}

export async function openKeystore(dir: string | KeystoreStorage, masterSecret: string | Uint8Array, expectedOperatorPem?: string): Promise<Keystore> {
  const storage = storageOf(dir);
  const body = await openSealedBody(storage, masterSecret);
  if (expectedOperatorPem !== undefined) {
    let given: string;
    try {
      given = sm2Fingerprint(sm2PublicKeyFromPem(expectedOperatorPem));
    } catch {
      throw new DomainError('keystore-operator-key', 'the operator public key is not a valid SM2 PEM');
    }
    if (given !== sm2Fingerprint(sm2PublicKeyFromPem(body.operatorPublicKeyPem))) {
      throw new DomainError('keystore-operator-key', 'the operator key differs from the one pinned at first start; the enclave refuses to start');
    }
  }
  const params = BFV_PARAMS[body.he.paramsId];
  if (!params) throw new DomainError('he-params', `keystore uses unknown HE parameter set ${body.he.paramsId}`);
  const readPinned = async (name: string, sm3: string): Promise<Uint8Array> => {
    const bytes = (await storage.read(name)) ?? new Uint8Array(0);
    if (sm3Hex(bytes) !== sm3) throw new DomainError('keystore-corrupt', `${name} is missing or was modified`);
    return bytes;
  };
  const signingPriv = fromB64(body.signingPrivateKey);
  const unwrapPriv = fromB64(body.unwrapPrivateKey);
  return {
    dir: storage.where,
    signing: { privateKey: signingPriv, publicKey: sm2PublicFromPrivate(signingPriv) },
    unwrap: { privateKey: unwrapPriv, publicKey: sm2PublicFromPrivate(unwrapPriv) },
    operatorPublicKeyPem: body.operatorPublicKeyPem,
    he: {
      params,
      secretKey: fromB64(body.he.secretKey),
      publicKey: await readPinned(FILES.pk, body.he.publicKeySm3),
      relinKeys: await readPinned(FILES.rk, body.he.relinKeysSm3),
      galoisKeys: await readPinned(FILES.gk, body.he.galoisKeysSm3),
    },
  };
}

/** What the server may serve: public halves and fingerprints only. */
export function publicInfoOf(ks: Keystore): EnclavePublicInfo {
  const keyInfo = (pub: Uint8Array) => ({ publicKeyPem: sm2PublicKeyToPem(pub), fingerprint: sm2Fingerprint(pub) });
  const p = ks.he.params;
  return {
    signing: keyInfo(ks.signing.publicKey),
    unwrap: keyInfo(ks.unwrap.publicKey),
    operator: keyInfo(sm2PublicKeyFromPem(ks.operatorPublicKeyPem)),
    he: {
      paramsId: p.id,
      scheme: 'bfv',
      polyModulusDegree: p.polyModulusDegree,
      coeffModulusBits: p.coeffModulusBits,
      plainModulus: p.plainModulus.toString(),
      galoisSteps: p.galoisSteps,
      publicKey: toB64(ks.he.publicKey),
      galoisKeys: toB64(ks.he.galoisKeys),
      publicKeyFingerprint: sm3Hex(ks.he.publicKey),
      galoisKeysFingerprint: sm3Hex(ks.he.galoisKeys),
    },
  };
}

/** Path of the public Galois keys file (the server's evaluator may read it directly: it is public). */
export const galoisKeysPath = (dir: string): string => join(dir, FILES.gk);
