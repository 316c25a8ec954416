/**
 * SM2 on the recommended curve (GB/T 32918): keys, signatures over SM3(Z_A ‖ M) with DER (r, s),
 * and public-key encryption in OpenSSL's ASN.1 C1C3C2 form. Keys are raw bytes: private = 32-byte
 * big-endian d, public = 65-byte 04 ‖ x ‖ y. Validation is strict: bad keys throw
 * CryptoError('bad-key'); a bad signature of any kind is just `false`.
 */
import { invert } from '@noble/curves/abstract/modular.js';
import { asBytes, bytesEqual, toHex } from './encoding.js';
import { derSequence, derOctets, derTop, derUint } from './der.js';
import { CryptoError } from './errors.js';
import { sm3Parts } from './sm3.js';
import { feIsZero } from './sm2-field.js';
import { AffineTable, Jacobian, multiplyOnce, xMatches } from './sm2-table.js';
import { SM2P256V1, type Sm2Curve, type Sm2Point } from './sm2-curve.js';
import {
  bigToBytes,
  bytesToBig,
  randomNonce,
  randomScalar,
  sm2DecryptCore,
  sm2Za,
  sm2EncryptCore,
  sm2SignDigest,
  sm2VerifyDigest,
  type EphemeralMul,
  type NonceSource,
  type Sm2CiphertextParts,
  type Sm2DecodedCiphertext,
} from './sm2-core.js';

/** GM/T 0009-2012 §10 default user ID. */
export const SM2_DEFAULT_ID = '1234567812345678';
const CURVE: Sm2Curve = SM2P256V1;

export interface Sm2KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}
export interface Sm2SignOptions {
  id?: string | Uint8Array;
}

const idBytes = (id: string | Uint8Array | undefined): Uint8Array => asBytes(id ?? SM2_DEFAULT_ID);

/** Z_A depends only on (ID, public key): cached per key for the last few IDs used with it. */
type ZaCache = Map<string, Uint8Array>;
function digestFor(cache: ZaCache, P: Sm2Point, id: string | Uint8Array | undefined, message: Uint8Array | string): bigint {
  const idb = idBytes(id);
  const k = typeof id === 'string' ? id : toHex(idb);
  let za = cache.get(k);
  if (!za) {
    za = sm2Za(CURVE, idb, P);
    if (cache.size >= 4) cache.delete(cache.keys().next().value!);
    cache.set(k, za);
  }
  return bytesToBig(sm3Parts(za, asBytes(message))); // e = SM3(Z_A ‖ M), GB/T 32918.2 §6.1 A1–A2
}

// ── private keys ────────────────────────────────────────────────────────────────────────────────

interface PrivateState {
  bytes: Uint8Array; // copy, to detect a caller mutating the array after caching
  d: bigint;
  dInv: bigint; // (1 + d)⁻¹ mod n, GB/T 32918.2 §6.1 A6
  P: Sm2Point;
  za: ZaCache;
}
// Keyed by the caller's array object: a keystore holds its key object, so the public point and the
// inverse are computed once per key instead of once per signature.
const privateCache = new WeakMap<Uint8Array, PrivateState>();

function privateState(privateKey: Uint8Array): PrivateState {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32) throw new CryptoError('bad-key', 'SM2 private key must be 32 bytes');
  const hit = privateCache.get(privateKey);
  if (hit && bytesEqual(hit.bytes, privateKey)) return hit;
  const d = bytesToBig(privateKey);
  // GB/T 32918.1 §6.1: d ∈ [1, n−2] (n−1 would make 1 + d non-invertible).
  if (d < 1n || d > CURVE.n - 2n) throw new CryptoError('bad-key', 'SM2 private key out of range');
  const st = { bytes: privateKey.slice(), d, dInv: invert(1n + d, CURVE.n), P: CURVE.G.multiply(d), za: new Map() };
  privateCache.set(privateKey, st);
  return st;
}

// ── public keys ─────────────────────────────────────────────────────────────────────────────────

interface PublicEntry {
  P: Sm2Point;
  uses: number;
  za: ZaCache;
  table?: AffineTable;
  /** encryptions to this key so far, and from the second on its constant-time k·P table (sm2EncryptWithNonce) */
  encUses: number;
  mulP?: EphemeralMul;
}
// LRU of decoded public keys, by the key's own 65 bytes (hex). A key seen twice also gets a window
// table of its multiples (~40 ms once, 264 KiB): verification then costs ~60 mixed additions.
// One-off keys are not worth the table. Tables dominate the memory, so they have their own bound:
// at most maxTables keys keep one (≤ 66 MiB), dropped least recently used first.
let maxKeys = 1024;
let maxTables = 256;
const PRECOMPUTE_AFTER_USES = 2;
const KEY_WINDOW = 8;
const BASE_WINDOW = 10;
let baseTable: AffineTable | undefined; // s'·G of verification (~150 ms once, on first verify; 864 KiB)
const gTable = (): AffineTable => (baseTable ??= new AffineTable(CURVE.G.toAffine().x, CURVE.G.toAffine().y, BASE_WINDOW));
const publicCache = new Map<string, PublicEntry>();
const tabled = new Map<string, PublicEntry>(); // the entries holding a table, least recently used first
// Encryption to a key used more than once (a sealer wraps one data key per row chunk, all to the enclave's
// key): k·P over a window table of P (constant time, ~0.6 MB each) instead of a blinded walk per wrap.
// Bounded separately (a process encrypts to few keys), and by maxTables = 0 too.
const ENC_WINDOW = 8;
const MAX_ENC_TABLES = 8;
const encTabled = new Map<string, PublicEntry>(); // least recently used first
// C1 = k·G: the curve's W=10 base table (for signing: ~0.3 s to build on a cold thread) is used once it exists;
// until then — in a process that only encrypts, like an owner's sealer — a W=8 table of G (~0.1 s, 0.3 MB).
let encryptionG: EphemeralMul | undefined;
const kG = (): EphemeralMul | undefined => (CURVE.baseTableBuilt() ? undefined : (encryptionG ??= CURVE.ephemeralMultiplier(CURVE.G.toAffine(), ENC_WINDOW)));

function decodePublic(publicKey: Uint8Array): Sm2Point {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 65 || publicKey[0] !== 0x04) {
    throw new CryptoError('bad-key', 'SM2 public key must be 65 bytes 04 ‖ x ‖ y');
  }
  try {
    const P = CURVE.Point.fromBytes(publicKey); // checks x, y < p and the curve equation
    P.assertValidity();
    return P;
  } catch {
    throw new CryptoError('bad-key', 'SM2 public key is not a point on the curve');
  }
}

function evictOldestKey(): void {
  const oldest = publicCache.keys().next().value!;
  publicCache.delete(oldest);
  tabled.delete(oldest);
  encTabled.delete(oldest);
}

function evictOldestTable(): void {
  const [oldest, e] = tabled.entries().next().value!;
  e.table = undefined;
  e.uses = 0;
  tabled.delete(oldest);
}

function publicEntry(publicKey: Uint8Array, forVerify = false): PublicEntry {
  const hex = publicKey instanceof Uint8Array ? toHex(publicKey) : '';
  let e = publicCache.get(hex);
  if (e) {
    publicCache.delete(hex); // re-insert = most recently used
  } else {
    e = { P: decodePublic(publicKey), uses: 0, za: new Map<string, Uint8Array>(), encUses: 0 };
    if (publicCache.size >= maxKeys) evictOldestKey();
  }
  publicCache.set(hex, e);
  if (forVerify) {
    if (e.table) {
      tabled.delete(hex);
      tabled.set(hex, e);
    } else if (++e.uses >= PRECOMPUTE_AFTER_USES) {
      if (maxTables > 0) {
        const a = e.P.toAffine();
        e.table = new AffineTable(a.x, a.y, KEY_WINDOW);
        if (tabled.size >= maxTables) evictOldestTable();
        tabled.set(hex, e);
      }
    }
  }
  return e;
}

/** Changes the cache bounds (tests; a process with unusual memory limits); evicts at once if over. */
export function sm2SetPublicCacheLimits(limits: { keys?: number; tables?: number }): void {
  maxKeys = Math.max(1, limits.keys ?? maxKeys);
  maxTables = Math.max(0, limits.tables ?? maxTables);
  while (publicCache.size > maxKeys) evictOldestKey();
  while (tabled.size > maxTables) evictOldestTable();
  while (encTabled.size > Math.min(maxTables, MAX_ENC_TABLES)) evictOldestEncTable();
}

function evictOldestEncTable(): void {
  const [oldest, e] = encTabled.entries().next().value!;
  e.mulP = undefined;
  e.encUses = 0;
  encTabled.delete(oldest);
}

/** The entry of an encryption key, with its k·P table from the key's second encryption on. */
function encryptionEntry(publicKey: Uint8Array): PublicEntry {
  const e = publicEntry(publicKey);
  const hex = toHex(publicKey);
  if (e.mulP) {
    encTabled.delete(hex);
    encTabled.set(hex, e);
  } else if (++e.encUses >= PRECOMPUTE_AFTER_USES && Math.min(maxTables, MAX_ENC_TABLES) > 0) {
    e.mulP = CURVE.ephemeralMultiplier(e.P.toAffine(), ENC_WINDOW);
    if (encTabled.size >= Math.min(maxTables, MAX_ENC_TABLES)) evictOldestEncTable();
    encTabled.set(hex, e);
  }
  return e;
}

/** How many public keys are cached and how many bytes their tables hold (for tests and ops). */
export function sm2PublicCacheStats(): { keys: number; tables: number; tableBytes: number; encryptionTables: number } {
  let tableBytes = baseTable?.bytes ?? 0;
  for (const e of tabled.values()) tableBytes += e.table!.bytes;
  return { keys: publicCache.size, tables: tabled.size, tableBytes, encryptionTables: encTabled.size };
}

const publicPoint = (publicKey: Uint8Array): Sm2Point => publicEntry(publicKey).P;

/** Throws CryptoError('bad-key') unless `publicKey` is a valid uncompressed SM2 point. */
export function sm2AssertPublicKey(publicKey: Uint8Array): void {
  publicPoint(publicKey);
}

export function sm2KeyPair(): Sm2KeyPair {
  const privateKey = bigToBytes(randomScalar(CURVE.n - 2n));
  return { privateKey, publicKey: sm2PublicFromPrivate(privateKey) };
}

export function sm2PublicFromPrivate(privateKey: Uint8Array): Uint8Array {
  return privateState(privateKey).P.toBytes(false);
}

// ── signatures (GB/T 32918.2) ───────────────────────────────────────────────────────────────────

export const encodeSm2Signature = (r: bigint, s: bigint): Uint8Array => derSequence(derUint(r), derUint(s));

/** Strict DER (r, s); undefined for anything malformed or non-canonical. */
export function decodeSm2Signature(der: Uint8Array): { r: bigint; s: bigint } | undefined {
  try {
    if (!(der instanceof Uint8Array) || der.length > 80) return undefined;
    const seq = derTop(der);
    const r = seq.readUint();
    const s = seq.readUint();
    seq.end_();
    return { r, s };
  } catch {
    return undefined;
  }
}

/** Signing with an injected nonce source — for known-answer tests only. */
export function sm2SignWithNonce(privateKey: Uint8Array, message: Uint8Array | string, nonce: NonceSource, opts: Sm2SignOptions = {}): Uint8Array {
  const st = privateState(privateKey);
  const e = digestFor(st.za, st.P, opts.id, message);
  const { r, s } = sm2SignDigest(CURVE, st.d, e, nonce, st.dInv);
  return encodeSm2Signature(r, s);
}

export function sm2Sign(privateKey: Uint8Array, message: Uint8Array | string, opts: Sm2SignOptions = {}): Uint8Array {
  return sm2SignWithNonce(privateKey, message, randomNonce(CURVE), opts);
}

export function sm2Verify(publicKey: Uint8Array, message: Uint8Array | string, derSignature: Uint8Array, opts: Sm2SignOptions = {}): boolean {
  const entry = publicEntry(publicKey, true); // throws bad-key: a broken key is a caller bug, not a bad signature
  const sig = decodeSm2Signature(derSignature);
  if (!sig) return false;
  try {
    return verifyEntry(entry, digestFor(entry.za, entry.P, opts.id, message), sig.r, sig.s);
  } catch {
    return false;
  }
}

/** sm2Verify after the digest (B3–B4 done): for tests of the arithmetic on chosen (e, r, s). */
export const sm2VerifyDigestFor = (publicKey: Uint8Array, e: bigint, r: bigint, s: bigint): boolean => verifyEntry(publicEntry(publicKey, true), e, r, s);

const acc = new Jacobian();

/** GB/T 32918.2 §7.1 B1–B2, B5–B7 on the cached tables (sm2-table.ts). */
function verifyEntry(entry: PublicEntry, e: bigint, r: bigint, s: bigint): boolean {
  const n = CURVE.n;
  if (r < 1n || r >= n || s < 1n || s >= n) return false; // B1, B2
  const t = (r + s) % n; // B5
  if (t === 0n) return false;
  acc.reset();
  if (entry.table) entry.table.addMultiple(acc, t); // B6: t·P_A …
  else {
    const a = entry.P.toAffine();
    multiplyOnce(acc, a.x, a.y, t); // (first use: doublings, so before any other addend)
  }
  gTable().addMultiple(acc, s); // … + s'·G
  // Z = 0: Q is the point at infinity or an addition hit acc = ±addend; noble's complete formulas decide.
  if (acc.empty || feIsZero(acc.Z)) return sm2VerifyDigest(CURVE, entry.P, e, r, s);
  return xMatches(acc, e, r, n); // B7
}

// ── encryption (GB/T 32918.4, OpenSSL / GM/T 0009 ASN.1 C1C3C2) ────────────────────────────────────

/** SEQUENCE { x INTEGER, y INTEGER, C3 OCTET STRING (SM3), C2 OCTET STRING } — as OpenSSL writes it. */
export function sm2EncryptWithNonce(publicKey: Uint8Array, plaintext: Uint8Array, nonce: NonceSource): Uint8Array {
  const entry = encryptionEntry(publicKey);
  if (!(plaintext instanceof Uint8Array)) throw new CryptoError('bad-input', 'plaintext must be bytes');
  return encodeSm2Ciphertext(sm2EncryptCore(CURVE, entry.P, plaintext, nonce, { kP: entry.mulP, kG: kG() }));
}

export function encodeSm2Ciphertext({ C1, C3, C2 }: Sm2CiphertextParts): Uint8Array {
  return derSequence(derUint(C1.x), derUint(C1.y), derOctets(C3), derOctets(C2));
}

export function sm2Encrypt(publicKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return sm2EncryptWithNonce(publicKey, plaintext, randomNonce(CURVE));
}

/** Parses and validates the ASN.1 ciphertext; C1 must be a point on `curve`. */
export function decodeSm2Ciphertext(curve: Sm2Curve, ciphertext: Uint8Array): Sm2DecodedCiphertext {
  try {
    const seq = derTop(ciphertext);
    const x = seq.readUint();
    const y = seq.readUint();
    const C3 = seq.readOctets();
    const C2 = seq.readOctets();
    seq.end_();
    if (x >= curve.p || y >= curve.p || C3.length !== 32 || C2.length === 0) throw new Error('range');
    const C1 = curve.Point.fromAffine({ x, y });
    C1.assertValidity(); // B1: C1 on the curve (h = 1, so no small-subgroup check beyond this)
    return { C1, C3, C2 };
  } catch {
    throw new CryptoError('bad-ciphertext', 'malformed SM2 ciphertext');
  }
}

export function sm2Decrypt(privateKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const st = privateState(privateKey);
  if (!(ciphertext instanceof Uint8Array)) throw new CryptoError('bad-ciphertext', 'ciphertext must be bytes');
  return sm2DecryptCore(st.d, decodeSm2Ciphertext(CURVE, ciphertext));
}

