import SEALModule from 'node-seal/throws_wasm_node_es.js';
import type { SEALLibrary } from 'node-seal/implementation/seal.js';
import { DomainError } from '../contracts/errors.js';
import { sm3Hex } from '../crypto/index.js';
import { type BfvParams, maxCiphertextBytes } from './params.js';

/**
 * THE node-seal adapter: every use of node-seal in Shuyu goes through this file, so moving to node-seal 7
 * (Node ≥ 22) touches only it. Rules it enforces (notes/node-seal-and-sm2.md, SEAL guidance):
 * - one SEAL WASM instance per thread (each `await SEAL()` reserves its own never-shrinking heap);
 * - every SEAL object is `.delete()`d in a finally — nothing is garbage-collected;
 * - untrusted ciphertexts/keys are size-capped, then loaded only with SEAL's checked load, then their
 *   parms id, size and form are compared with the context;
 * - SEAL failures (Error or raw WebAssembly.Exception) become a typed DomainError, never a crash.
 */

export class HeError extends DomainError {
  constructor(type: 'he-ciphertext-invalid' | 'he-key-invalid' | 'he-params' | 'he-overflow' | 'he-not-aggregate' | 'he-internal', message: string, detail: Record<string, unknown> = {}) {
    super(type, message, detail);
    this.name = 'HeError';
  }
}

// node-seal's ES build ships CJS-typed declarations; under NodeNext its default export arrives one level down.
const SEAL = ((SEALModule as unknown as { default?: unknown }).default ?? SEALModule) as () => Promise<SEALLibrary>;
type Context = ReturnType<SEALLibrary['Context']>;
export type CipherText = ReturnType<SEALLibrary['CipherText']>;
export type GaloisKeys = ReturnType<SEALLibrary['GaloisKeys']>;
type BatchEncoder = ReturnType<SEALLibrary['BatchEncoder']>;
type Evaluator = ReturnType<SEALLibrary['Evaluator']>;

let sealPromise: Promise<SEALLibrary> | undefined;
/** The thread's single SEAL instance. */
export const loadSeal = (): Promise<SEALLibrary> => (sealPromise ??= SEAL());

const describe = (e: unknown): string =>
  e instanceof Error ? e.message : typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : 'SEAL raised a WebAssembly exception';

/** Run a SEAL call, converting whatever it throws into a typed error. */
function guard<T>(type: ConstructorParameters<typeof HeError>[0], what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DomainError) throw e;
    throw new HeError(type, `${what}: ${describe(e)}`);
  }
}

/** SEAL's serialisation header (native/src/seal/serialization.h): magic 0xA15E, 16 bytes, then the payload. */
function checkSealHeader(bytes: Uint8Array, maxBytes: number, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new HeError('he-ciphertext-invalid', `${what}: not bytes`);
  if (bytes.length > maxBytes) throw new HeError('he-ciphertext-invalid', `${what}: ${bytes.length} bytes exceeds the ${maxBytes}-byte limit for these parameters`);
  if (bytes.length < 16) throw new HeError('he-ciphertext-invalid', `${what}: truncated (${bytes.length} bytes)`);
  if (bytes[0] !== 0x5e || bytes[1] !== 0xa1 || bytes[2] !== 0x10) throw new HeError('he-ciphertext-invalid', `${what}: not a SEAL object (bad magic)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = dv.getBigUint64(8, true);
  if (declared !== BigInt(bytes.length)) throw new HeError('he-ciphertext-invalid', `${what}: truncated or padded (header says ${declared} bytes, got ${bytes.length})`);
}

/**
 * Packed form of a fresh owner ciphertext ("SYCT"), replacing SEAL's zstd for the bulk of a bundle.
 * The data-level primes are 36 bits (params.coeffModulusBits), so each coefficient SEAL stores in a u64
 * fits 4 bytes plus one nibble: 4.5 bytes instead of 8 (zstd reaches ~5.4 on these uniformly random
 * residues and costs ~1.7 ms per ciphertext to compress, ~0.9 ms to decompress; packing is a copy loop).
 *   "SYCT" ‖ version 1 ‖ u32le headLen ‖ head ‖ low 32 bits of every coefficient (u32le) ‖ high nibbles
 * `head` is SEAL's own uncompressed serialisation up to the coefficient array (header, parms id, sizes),
 * and the unpacked bytes are exactly SEAL's uncompressed serialisation, so loading still goes through
 * SEAL's checked load and every context check below — the packing adds no parsing SEAL does not redo.
 */
const PACK_MAGIC = [0x53, 0x59, 0x43, 0x54]; // "SYCT"
const PACK_VERSION = 1;
const PACK_PREFIX = 4 + 1 + 4;
const MAX_PACK_HEAD = 1024;
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Coefficients in a fresh (size-2) ciphertext at the data level. */
const coefficientCount = (p: BfvParams): number => 2 * p.polyModulusDegree * (p.coeffModulusBits.length - 1);

export const isPackedCiphertext = (bytes: Uint8Array): boolean => bytes.length >= 4 && PACK_MAGIC.every((b, i) => bytes[i] === b);

/** SEAL's uncompressed serialisation → packed, or undefined when a coefficient does not fit 36 bits. */
function packCiphertext(raw: Uint8Array, count: number): Uint8Array | undefined {
  const headLen = raw.length - count * 8;
  if (!littleEndian || headLen < 16 || headLen > MAX_PACK_HEAD) return undefined;
  const words = new Uint32Array(count * 2);
  new Uint8Array(words.buffer).set(raw.subarray(headLen));
  const out = new Uint8Array(PACK_PREFIX + headLen + count * 4 + count / 2);
  out.set(PACK_MAGIC, 0);
  out[4] = PACK_VERSION;
  new DataView(out.buffer).setUint32(5, headLen, true);
  out.set(raw.subarray(0, headLen), PACK_PREFIX);
  const loAt = PACK_PREFIX + headLen;
  const lo = new Uint32Array(count);
  const nibAt = loAt + count * 4;
  for (let i = 0; i < count; i++) {
    const hi = words[2 * i + 1]!;
    if (hi > 15) return undefined;
    lo[i] = words[2 * i]!;
    out[nibAt + (i >> 1)]! |= hi << ((i & 1) << 2);
  }
  out.set(new Uint8Array(lo.buffer), loAt);
  words.fill(0);
  return out;
}

/** Packed → SEAL's uncompressed serialisation (structure only; SEAL's checked load judges the content). */
function unpackCiphertext(bytes: Uint8Array, count: number, what: string): Uint8Array {
  const bad = (m: string) => new HeError('he-ciphertext-invalid', `${what}: ${m}`);
  if (!littleEndian) throw bad('packed ciphertexts need a little-endian host');
  if (bytes.length < PACK_PREFIX) throw bad('truncated');
  if (bytes[4] !== PACK_VERSION) throw bad(`unsupported packed version ${bytes[4]}`);
  const headLen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(5, true);
  if (headLen < 16 || headLen > MAX_PACK_HEAD) throw bad('packed header has an impossible length');
  if (bytes.length !== PACK_PREFIX + headLen + count * 4 + count / 2) throw bad(`truncated or padded (${bytes.length} bytes is not a packed ciphertext of these parameters)`);
  const loAt = PACK_PREFIX + headLen;
  const nibAt = loAt + count * 4;
  const lo = new Uint32Array(count);
  new Uint8Array(lo.buffer).set(bytes.subarray(loAt, nibAt));
  const words = new Uint32Array(count * 2);
  for (let i = 0; i < count; i++) {
    words[2 * i] = lo[i]!;
    words[2 * i + 1] = (bytes[nibAt + (i >> 1)]! >> ((i & 1) << 2)) & 15;
  }
  const raw = new Uint8Array(headLen + count * 8);
  raw.set(bytes.subarray(PACK_PREFIX, loAt), 0);
  raw.set(new Uint8Array(words.buffer), headLen);
  return raw;
}

const sameParms = (a: BigUint64Array, b: BigUint64Array): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * A BFV context for one parameter set, bound to this thread's SEAL instance. Holds the encoder and
 * evaluator; keys are loaded per use and freed by the caller through the returned handles.
 */
export class HeContext {
  private constructor(
    readonly seal: SEALLibrary,
    readonly params: BfvParams,
    readonly context: Context,
    readonly encoder: BatchEncoder,
    readonly evaluator: Evaluator,
    private readonly dataParms: BigUint64Array,
  ) {}

  static async create(params: BfvParams): Promise<HeContext> {
    const seal = await loadSeal();
    const parms = seal.EncryptionParameters(seal.SchemeType.bfv);
    const coeff = seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
    const plain = seal.PlainModulus.Batching(params.polyModulusDegree, params.plainModulusBits);
    try {
      return guard('he-params', `BFV parameters ${params.id}`, () => {
        parms.setPolyModulusDegree(params.polyModulusDegree);
        parms.setCoeffModulus(coeff);
        parms.setPlainModulus(plain);
        if (plain.value !== params.plainModulus) throw new HeError('he-params', `SEAL picked plain modulus ${plain.value}, expected ${params.plainModulus}`);
        const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
        if (!context.parametersSet()) throw new HeError('he-params', `SEAL rejects parameters ${params.id}`);
        const encoder = seal.BatchEncoder(context);
        const evaluator = seal.Evaluator(context);
        const first = context.firstParmsId;
        const dataParms = BigUint64Array.from(first.values);
        first.delete();
        return new HeContext(seal, params, context, encoder, evaluator, dataParms);
      });
    } finally {
      coeff.delete();
      plain.delete();
      parms.delete();
    }
  }

  get slots(): number {
    return this.params.polyModulusDegree;
  }

  /** Checked load of an untrusted ciphertext, SEAL-serialised or packed (caller deletes the result). */
  loadCiphertext(bytes: Uint8Array, what = 'ciphertext'): CipherText {
    if (!(bytes instanceof Uint8Array)) throw new HeError('he-ciphertext-invalid', `${what}: not bytes`);
    if (isPackedCiphertext(bytes)) {
      if (bytes.length > maxCiphertextBytes(this.params)) throw new HeError('he-ciphertext-invalid', `${what}: ${bytes.length} bytes exceeds the ${maxCiphertextBytes(this.params)}-byte limit for these parameters`);
      bytes = unpackCiphertext(bytes, coefficientCount(this.params), what);
    }
    checkSealHeader(bytes, maxCiphertextBytes(this.params), what);
    const ct = this.seal.CipherText();
    try {
      guard('he-ciphertext-invalid', `${what}: not valid for these HE parameters (SEAL's checked load)`, () => ct.loadArray(this.context, bytes));
      const pid = ct.parmsId;
      const ok = sameParms(pid.values, this.dataParms);
      pid.delete();
      if (!ok) throw new HeError('he-ciphertext-invalid', `${what}: made for other parameters or level than ${this.params.id}`);
      if (ct.size !== 2) throw new HeError('he-ciphertext-invalid', `${what}: has ${ct.size} components (expected a fresh-size ciphertext of 2)`);
      if (ct.isNttForm) throw new HeError('he-ciphertext-invalid', `${what}: is in NTT form`);
      if (ct.polyModulusDegree !== this.params.polyModulusDegree) throw new HeError('he-ciphertext-invalid', `${what}: wrong polynomial degree`);
      return ct;
    } catch (e) {
      ct.delete();
      throw e;
    }
  }

  saveCiphertext(ct: CipherText): Uint8Array {
    return guard('he-internal', 'saving ciphertext', () => ct.saveArray(this.seal.ComprModeType.zstd));
  }

  /** Packed when every coefficient fits (a copy loop each way, ~2.4× smaller than base64 of zstd), else zstd. */
  saveCiphertextPacked(ct: CipherText): Uint8Array {
    return guard('he-internal', 'saving ciphertext', () => packCiphertext(ct.saveArray(this.seal.ComprModeType.none), coefficientCount(this.params)) ?? ct.saveArray(this.seal.ComprModeType.zstd));
  }

  /** Checked load of Galois keys (public) — caller deletes. */
  loadGaloisKeys(bytes: Uint8Array): GaloisKeys {
    checkSealHeader(bytes, 256 * 1024 * 1024, 'Galois keys');
    const gk = this.seal.GaloisKeys();
    try {
      guard('he-key-invalid', 'Galois keys', () => gk.loadArray(this.context, bytes));
      for (const step of this.params.galoisSteps) {
        const elt = galoisElement(step, this.params.polyModulusDegree);
        if (!gk.hasKey(elt)) throw new HeError('he-key-invalid', `Galois keys lack the key for rotation step ${step}`);
      }
      return gk;
    } catch (e) {
      gk.delete();
      throw e;
    }
  }

  /** Owner side: an encryptor under the enclave's public key. */
  encryptor(publicKeyBytes: Uint8Array): HeEncryptor {
    checkSealHeader(publicKeyBytes, 16 * 1024 * 1024, 'HE public key');
    const pk = this.seal.PublicKey();
    try {
      guard('he-key-invalid', 'HE public key', () => pk.loadArray(this.context, publicKeyBytes));
      const enc = guard('he-key-invalid', 'HE public key', () => this.seal.Encryptor(this.context, pk));
      return new HeEncryptor(this, enc, pk);
    } catch (e) {
      pk.delete();
      throw e;
    }
  }

  /** Enclave side only. */
  decryptor(secretKeyBytes: Uint8Array): HeDecryptor {
    const sk = this.seal.SecretKey();
    try {
      guard('he-key-invalid', 'HE secret key', () => sk.loadArray(this.context, secretKeyBytes));
      const dec = guard('he-key-invalid', 'HE secret key', () => this.seal.Decryptor(this.context, sk));
      return new HeDecryptor(this, dec, sk);
    } catch (e) {
      sk.delete();
      throw e;
    }
  }

  /** Enclave keystore creation: all BFV keys, serialised (zstd). */
  generateKeys(): { secretKey: Uint8Array; publicKey: Uint8Array; relinKeys: Uint8Array; galoisKeys: Uint8Array } {
    const z = this.seal.ComprModeType.zstd;
    const kg = this.seal.KeyGenerator(this.context);
    const sk = kg.secretKey();
    const pk = kg.createPublicKey();
    const rk = kg.createRelinKeys();
    const gk = kg.createGaloisKeys(Int32Array.from(this.params.galoisSteps));
    try {
      return { secretKey: sk.saveArray(z), publicKey: pk.saveArray(z), relinKeys: rk.saveArray(z), galoisKeys: gk.saveArray(z) };
    } finally {
      for (const o of [sk, pk, rk, gk, kg]) o.delete();
    }
  }

  /**
   * Σ of whole ciphertexts, then rotate-and-sum across all slots, so every slot of the result holds the
   * total. `acc` is consumed (deleted); the returned ciphertext belongs to the caller.
   */
  totalOfAllSlots(acc: CipherText, gk: GaloisKeys): CipherText {
    const tmp = this.seal.CipherText();
    try {
      guard('he-internal', 'rotate-and-sum', () => {
        for (let step = 1; step < this.slots / 2; step *= 2) {
          this.evaluator.rotateRows(acc, step, gk, tmp);
          this.evaluator.add(acc, tmp, acc);
        }
        this.evaluator.rotateColumns(acc, gk, tmp);
        this.evaluator.add(acc, tmp, acc);
      });
      return acc;
    } catch (e) {
      acc.delete();
      throw e;
    } finally {
      tmp.delete();
    }
  }

  /** acc += ct (in place). */
  addInto(acc: CipherText, ct: CipherText): void {
    guard('he-internal', 'add', () => this.evaluator.add(acc, ct, acc));
  }

  delete(): void {
    this.encoder.delete();
    this.evaluator.delete();
    this.context.delete();
  }
}

export class HeEncryptor {
  private readonly plain;
  private readonly ct;
  constructor(
    private readonly he: HeContext,
    private readonly enc: ReturnType<SEALLibrary['Encryptor']>,
    private readonly pk: ReturnType<SEALLibrary['PublicKey']>,
  ) {
    this.plain = he.seal.PlainText();
    this.ct = he.seal.CipherText();
  }

  /** Encrypt one vector of N signed integers (already reduced into the centred range) → packed bytes (zstd if it cannot pack). */
  encryptVector(values: BigInt64Array): Uint8Array {
    if (values.length !== this.he.slots) throw new HeError('he-internal', `vector must have ${this.he.slots} slots`);
    return guard('he-internal', 'encrypt', () => {
      this.he.encoder.encode(values, this.plain);
      this.enc.encrypt(this.plain, this.ct);
      const raw = this.ct.saveArray(this.he.seal.ComprModeType.none);
      return packCiphertext(raw, coefficientCount(this.he.params)) ?? this.ct.saveArray(this.he.seal.ComprModeType.zstd);
    });
  }

  delete(): void {
    this.plain.delete();
    this.ct.delete();
    this.enc.delete();
    this.pk.delete();
  }
}

export class HeDecryptor {
  private readonly plain;
  constructor(
    private readonly he: HeContext,
    private readonly dec: ReturnType<SEALLibrary['Decryptor']>,
    private readonly sk: ReturnType<SEALLibrary['SecretKey']>,
  ) {
    this.plain = he.seal.PlainText();
  }

  /**
   * Decrypt an aggregate ciphertext and return its ONE value. Every slot must hold the same value (the
   * result of rotate-and-sum); anything else is a per-slot vector and is refused without being returned.
   */
  decryptAggregate(bytes: Uint8Array, what = 'aggregate'): bigint {
    const ct = this.he.loadCiphertext(bytes, what);
    try {
      const slots = guard('he-internal', 'decrypt', () => {
        this.dec.decrypt(ct, this.plain);
        return this.he.encoder.decodeBigInt(this.plain, true) as BigInt64Array;
      });
      const v = slots[0]!;
      let uniform = true;
      for (let i = 1; i < slots.length; i++) if (slots[i] !== v) uniform = false;
      slots.fill(0n);
      if (!uniform) throw new HeError('he-not-aggregate', `${what}: is not a fully summed aggregate (slots differ); refused`);
      return v;
    } finally {
      ct.delete();
    }
  }

  get plainModulus(): bigint {
    return this.he.params.plainModulus;
  }

  /**
   * Decrypt a packed block of partition totals (layout v2) and return its slots; the caller reads only the
   * slots of the planned partitions and columns and wipes the array.
   */
  decryptSlots(bytes: Uint8Array, what = 'block'): BigInt64Array {
    const ct = this.he.loadCiphertext(bytes, what);
    try {
      return guard('he-internal', 'decrypt', () => {
        this.dec.decrypt(ct, this.plain);
        return this.he.encoder.decodeBigInt(this.plain, true) as BigInt64Array;
      });
    } finally {
      ct.delete();
    }
  }

  delete(): void {
    this.plain.delete();
    this.dec.delete();
    this.sk.delete();
  }
}

/** SEAL's GaloisTool::get_elt_from_step for BFV: step 0 → 2N−1 (swap rows), else 3^step mod 2N. */
export function galoisElement(step: number, n: number): number {
  const m = 2 * n;
  if (step === 0) return m - 1;
  let pos = step < 0 ? n / 2 + step : step; // rotation left by step
  let elt = 1;
  const g = 3;
  while (pos-- > 0) elt = (elt * g) % m;
  return elt;
}

export const fingerprintBytes = (bytes: Uint8Array): string => sm3Hex(bytes);
