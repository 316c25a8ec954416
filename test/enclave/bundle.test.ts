import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isDomainError } from '../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem, sm3Hex } from '../../crypto/index.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import { type BundleManifest, withCommitment } from '../../formats/manifest.js';
import { decodeSealedRowChunk, encodeSealedRowChunk, openRowChunk, rowChunkAad, sealRowChunk } from '../../formats/row-chunk.js';
import { verifyBundle } from '../../he/bundle-check.js';
import { HeContext, loadSeal } from '../../he/seal.js';
import { BFV_N4096_T40 } from '../../he/params.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { openOrCreateKeystore, publicInfoOf, type Keystore } from '../../enclave/keystore/keystore.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import { generateRows, testSchema, writeCsv } from './fixtures.js';

/** Sealed-bundle format: verifyBundle rejects every tampered piece; ciphertext loading never crashes. */
describe('formats: sealed bundles, row chunks and ciphertext loading', function () {
  this.timeout(60_000);
  let dir: string;
  let ks: Keystore;
  let info: EnclavePublicInfo;
  let sealed: SealResult;
  let he: HeContext;
  const blobs = new Map<string, Uint8Array>();
  /** An N = 8192 ciphertext: well-formed SEAL, wrong parameters for this domain. */
  let foreign: Uint8Array;
  /** N = 4096 but another plain modulus: same size, other parms id. */
  let sameSizeForeign: Uint8Array;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-bundle-'));
    ({ keystore: ks } = await openOrCreateKeystore({ dir: join(dir, 'ks'), masterSecret: 'bundle-test-secret-0123', operatorPublicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) }));
    info = publicInfoOf(ks);
    writeCsv(join(dir, 'd.csv'), generateRows(600, 11));
    const evaluator = new HeEvaluator({ threads: 1 });
    try {
      sealed = await sealDataset({ input: join(dir, 'd.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'b'), rowsPerChunk: 200, evaluator });
    } finally {
      await evaluator.close();
    }
    for (const c of sealed.manifest.chunks) blobs.set(c.sm3, new Uint8Array(readFileSync(bundleBlobPath(join(dir, 'b'), c.sm3))));
    he = await HeContext.create(BFV_N4096_T40);
    foreign = await foreignCiphertext(8192, 40);
    sameSizeForeign = await foreignCiphertext(4096, 30);
  });
  after(() => {
    he?.delete();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (m: Map<string, Uint8Array>) => (h: string) => m.get(h);
  async function rejects(manifest: unknown, store: Map<string, Uint8Array>, pattern: RegExp, opts = {}) {
    try {
      await verifyBundle(manifest, get(store), opts);
      expect.fail('accepted');
    } catch (e) {
      expect(isDomainError(e) && e.type, String(e)).to.equal('bundle-invalid');
      expect((e as { detail: { problems: string[] } }).detail.problems.join(' | ')).to.match(pattern);
    }
  }
  /** The attacker controls the manifest too: rewrite one chunk and recompute the commitment. */
  function rewrite(kind: 'he' | 'rows', bytes: Uint8Array): { manifest: BundleManifest; store: Map<string, Uint8Array> } {
    const m = structuredClone(sealed.manifest);
    const i = m.chunks.findIndex((c) => c.kind === kind);
    const h = sm3Hex(bytes);
    m.chunks[i] = { ...m.chunks[i]!, sm3: h, size: bytes.length } as never;
    const { commitment: _c, ...body } = m;
    const store = new Map(blobs);
    store.set(h, bytes);
    return { manifest: withCommitment(body), store };
  }

  it('accepts the bundle as sealed, bound to the expected enclave keys', async () => {
    const m = await verifyBundle(sealed.manifest, get(blobs), {
      expected: { paramsId: info.he.paramsId, hePublicKeyFingerprint: info.he.publicKeyFingerprint, unwrapKeyFingerprint: info.unwrap.fingerprint },
    });
    expect(m.commitment).to.equal(sealed.manifest.commitment);
    expect(m.rowCount).to.equal(600);
  });

  it('rejects a manifest edited without its commitment, or sealed to other keys', async () => {
    await rejects({ ...sealed.manifest, rowCount: 599 }, blobs, /commitment/);
    await rejects(sealed.manifest, blobs, /another HE public key/, { expected: { hePublicKeyFingerprint: 'a'.repeat(64) } });
    await rejects({ ...sealed.manifest, extra: 1 }, blobs, /manifest/);
  });

  it('rejects a flipped byte, a missing blob, and a dropped chunk', async () => {
    const c = sealed.manifest.chunks[0]!;
    const flipped = new Map(blobs);
    const b = Uint8Array.from(blobs.get(c.sm3)!);
    b[100]! ^= 1;
    flipped.set(c.sm3, b);
    await rejects(sealed.manifest, flipped, /does not match its SM3 name/);
    const missing = new Map(blobs);
    missing.delete(c.sm3);
    await rejects(sealed.manifest, missing, /missing/);
    const { commitment: _c, ...body } = structuredClone(sealed.manifest);
    body.chunks = body.chunks.filter((x) => x !== body.chunks.find((h) => h.kind === 'he'));
    await rejects(withCommitment(body), blobs, /missing or repeated ciphertext/);
    const rowsGone = structuredClone(sealed.manifest);
    const { commitment: _d, ...b2 } = rowsGone;
    b2.chunks = b2.chunks.filter((x) => !(x.kind === 'rows' && x.index === 1));
    await rejects(withCommitment(b2), blobs, /row chunks are missing|holds? \d+ rows/);
  });

  it('rejects truncated, garbage, wrong-parameter and oversized ciphertexts even with a consistent manifest', async () => {
    const ct = blobs.get(sealed.manifest.chunks.find((c) => c.kind === 'he')!.sm3)!;
    let r = rewrite('he', ct.subarray(0, ct.length - 1000));
    await rejects(r.manifest, r.store, /truncated/);
    r = rewrite('he', Uint8Array.from(ct, (x, i) => (i < 16 ? x : (x * 31 + i) & 0xff)));
    await rejects(r.manifest, r.store, /ciphertext/);
    r = rewrite('he', foreign);
    await rejects(r.manifest, r.store, /limit/);
    r = rewrite('he', sameSizeForeign);
    await rejects(r.manifest, r.store, /not valid for these HE parameters|other parameters/);
    r = rewrite('he', new Uint8Array(300_000));
    await rejects(r.manifest, r.store, /over the .*limit/);
    r = rewrite('rows', new Uint8Array(64).fill(9));
    await rejects(r.manifest, r.store, /bad magic/);
  });

  /** Every case is refused by the checked load with the typed error (never loaded, never a crash). */
  const expectAllRefused = (cases: [string, Uint8Array][]): void => {
    for (const [what, bytes] of cases) {
      try {
        he.loadCiphertext(bytes, what).delete();
        expect.fail(`${what} loaded`);
      } catch (e) {
        expect(isDomainError(e) && e.type, `${what}: ${e}`).to.equal('he-ciphertext-invalid');
      }
    }
  };

  it('the checked load refuses hostile ciphertexts with a typed error and never crashes', () => {
    const ct = blobs.get(sealed.manifest.chunks.find((c) => c.kind === 'he')!.sm3)!;
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['random', Uint8Array.from({ length: 5000 }, (_, i) => (i * 131) & 0xff)],
      ['truncated', ct.subarray(0, 60_000)],
      ['header lies', (() => { const b = Uint8Array.from(ct); b[8] = (b[8]! + 1) & 0xff; return b; })()],
      ['body corrupted', (() => { const b = Uint8Array.from(ct); for (let i = 20; i < 2000; i++) b[i] = 0xff; return b; })()],
      ['N = 8192', foreign],
      ['other plain modulus', sameSizeForeign],
      ['oversized', new Uint8Array(2_000_000)],
    ];
    expectAllRefused(cases);
    he.loadCiphertext(ct).delete(); // and the real one still loads
  });

  it('owner ciphertexts are packed (4.5 bytes per coefficient); SEAL zstd ciphertexts still load; hostile packed ones are refused', () => {
    const ct = blobs.get(sealed.manifest.chunks.find((c) => c.kind === 'he')!.sm3)!;
    expect(Buffer.from(ct.subarray(0, 4)).toString('latin1')).to.equal('SYCT');
    const loaded = he.loadCiphertext(ct);
    const zstd = he.saveCiphertext(loaded); // the SEAL serialisation of the same ciphertext
    loaded.delete();
    expect(ct.length).to.be.lessThan(zstd.length);
    he.loadCiphertext(zstd).delete();
    const coefficientsAt = ct.length - 2 * 4096 * 2 * 4.5; // low words, then nibbles
    const hostile: [string, Uint8Array][] = [
      ['packed version 2', (() => { const b = Uint8Array.from(ct); b[4] = 2; return b; })()],
      ['packed head length 0', (() => { const b = Uint8Array.from(ct); b.fill(0, 5, 9); return b; })()],
      ['packed, one byte short', ct.subarray(0, ct.length - 1)],
      ['packed, a coefficient ≥ q (all high nibbles 15)', (() => { const b = Uint8Array.from(ct); b.fill(0xff, ct.length - 16384); b.fill(0xff, coefficientsAt, coefficientsAt + 64); return b; })()],
      ['packed, SEAL head corrupted', (() => { const b = Uint8Array.from(ct); b[9] ^= 0xff; return b; })()],
    ];
    expectAllRefused(hostile);
  });

  describe('row chunks', () => {
    const unwrap = sm2KeyPair();
    const plain = { columns: ['a', 'b'], rows: [['x', 1.5], [null, -2]] as (string | number | null)[][] };
    it('round-trip, bound to bundle and position by the aad', () => {
      const s = sealRowChunk(plain, unwrap.publicKey, rowChunkAad('b1', 0));
      const blob = encodeSealedRowChunk(s);
      expect(openRowChunk(decodeSealedRowChunk(blob), unwrap.privateKey, rowChunkAad('b1', 0))).to.deep.equal(plain);
      for (const aad of [rowChunkAad('b1', 1), rowChunkAad('b2', 0)]) {
        expect(() => openRowChunk(s, unwrap.privateKey, aad)).to.throw(/authentication/);
      }
      expect(() => openRowChunk(s, sm2KeyPair().privateKey, rowChunkAad('b1', 0))).to.throw(/unwrapped/);
    });
    it('any flipped byte of the sealed chunk is refused (fast-check)', () => {
      const blob = encodeSealedRowChunk(sealRowChunk(plain, unwrap.publicKey, rowChunkAad('b', 3)));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: blob.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
          const b = Uint8Array.from(blob);
          b[i]! ^= x;
          try {
            openRowChunk(decodeSealedRowChunk(b), unwrap.privateKey, rowChunkAad('b', 3));
            return false;
          } catch (e) {
            return isDomainError(e) && e.type === 'row-chunk-invalid';
          }
        }),
        { numRuns: 60 },
      );
    });
    it('the sealed rows of a bundle open in the enclave and equal the CSV', () => {
      const rows = generateRows(600, 11);
      const refs = sealed.manifest.chunks.filter((c) => c.kind === 'rows');
      const opened = refs.flatMap((r) => openRowChunk(decodeSealedRowChunk(blobs.get(r.sm3)!), ks.unwrap.privateKey, rowChunkAad(sealed.manifest.bundleId, r.kind === 'rows' ? r.index : -1)).rows);
      expect(opened).to.have.length(600);
      expect(opened[5]![0]).to.equal(rows[5]!.customer_id);
      expect(opened[5]![4]).to.equal(Number(rows[5]!.amount));
    });
  });

  it('sealing refuses a CSV that does not match the schema and leaves no bundle behind', async () => {
    writeFileSync(join(dir, 'bad.csv'), 'customer_id,region,channel,segment,amount,qty,big,note,opened\nX,north,web,s1,1000,1,1,n,2024-01-01\n');
    try {
      await sealDataset({ input: join(dir, 'bad.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bad-bundle'), threads: 1 });
      expect.fail('sealed');
    } catch (e) {
      expect(isDomainError(e) && e.type).to.equal('csv-invalid');
      expect((e as Error).message).to.match(/row 1, column amount: '1000' is outside the declared bounds/);
    }
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'bad-bundle'))).to.equal(false);
  });
});

/** A well-formed SEAL ciphertext under other BFV parameters, built with SEAL directly (only tests do that). */
async function foreignCiphertext(n: number, plainBits: number): Promise<Uint8Array> {
  const seal = await loadSeal();
  const parms = seal.EncryptionParameters(seal.SchemeType.bfv);
  parms.setPolyModulusDegree(n);
  parms.setCoeffModulus(seal.CoeffModulus.BFVDefault(n));
  parms.setPlainModulus(seal.PlainModulus.Batching(n, plainBits));
  const ctx = seal.Context(parms, true, seal.SecurityLevel.tc128);
  const kg = seal.KeyGenerator(ctx);
  const pk = kg.createPublicKey();
  const enc = seal.Encryptor(ctx, pk);
  const be = seal.BatchEncoder(ctx);
  const pt = be.encode(new BigInt64Array(n).fill(1n))!;
  const ct = enc.encrypt(pt)!;
  const bytes = ct.saveArray(seal.ComprModeType.zstd);
  for (const o of [parms, ctx, kg, pk, enc, be, pt, ct]) o.delete();
  return bytes;
}
