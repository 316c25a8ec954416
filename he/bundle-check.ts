import { DomainError } from '../contracts/errors.js';
import { sm3Hex } from '../crypto/index.js';
import { blockCount, packingFor, planLayout } from './layout.js';
import { BFV_PARAMS, maxCiphertextBytes } from './params.js';
import { HeContext, isPackedCiphertext } from './seal.js';
import { BundleManifest, manifestCommitment } from '../formats/manifest.js';
import { decodeSealedRowChunk, MAX_ROW_CHUNK_BYTES } from '../formats/row-chunk.js';

/**
 * Checks a sealed bundle before the server lets it become visible (and at the end of an upload): the
 * manifest's schema and commitment, the layout's consistency with the schema, and every blob's size, SM3
 * name and structure (ciphertexts through SEAL's checked load against the parameters; row chunks framed).
 * Throws DomainError('bundle-invalid') listing what is wrong; returns the parsed manifest otherwise.
 */

export interface VerifyBundleOptions {
  /** The enclave keys the bundle must be sealed to (the server passes its enclave's public info). */
  expected?: { paramsId?: string; hePublicKeyFingerprint?: string; unwrapKeyFingerprint?: string };
  /** Load every ciphertext with SEAL's checked load (default true; false checks only the SEAL header). */
  heLoadCheck?: boolean;
  /** Stop after this many problems (default 20). */
  maxProblems?: number;
}

export async function verifyBundle(
  manifestInput: unknown,
  getBlob: (sm3: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined,
  opts: VerifyBundleOptions = {},
): Promise<BundleManifest> {
  const problems: string[] = [];
  const max = opts.maxProblems ?? 20;
  const fail = (): never => {
    throw new DomainError('bundle-invalid', `the sealed bundle is invalid: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ' …' : ''}`, { problems });
  };
  const problem = (m: string) => {
    problems.push(m);
    if (problems.length >= max) fail();
  };

  const parsed = BundleManifest.safeParse(manifestInput);
  if (!parsed.success) {
    for (const i of parsed.error.issues.slice(0, max)) problems.push(`manifest ${i.path.join('.') || '(root)'}: ${i.message}`);
    fail();
  }
  const m = parsed.data!;
  if (manifestCommitment(m) !== m.commitment) problem('manifest commitment does not match its content (tampered)');
  const params = BFV_PARAMS[m.he.paramsId];
  if (!params) problem(`unknown HE parameter set ${m.he.paramsId}`);
  const exp = opts.expected ?? {};
  if (exp.paramsId && exp.paramsId !== m.he.paramsId) problem(`sealed for HE parameters ${m.he.paramsId}, this domain uses ${exp.paramsId}`);
  if (exp.hePublicKeyFingerprint && exp.hePublicKeyFingerprint !== m.he.publicKeyFingerprint) problem("sealed to another HE public key than this enclave's");
  if (exp.unwrapKeyFingerprint && exp.unwrapKeyFingerprint !== m.rows.unwrapKeyFingerprint) problem("rows sealed to another unwrap key than this enclave's");
  if (problems.length) fail();

  // layout: exactly what the sealer derives from this schema and these parameters
  const base = planLayout(m.schema, params!);
  if (JSON.stringify(base.partitionBy) !== JSON.stringify(m.layout.partitionBy)) problem('layout partitions by other columns than the schema allows');
  if (JSON.stringify(base.columns) !== JSON.stringify(m.layout.columns)) problem('layout columns do not match the schema');
  if (m.layout.slotsPerCiphertext !== params!.polyModulusDegree) problem('layout slot count does not match the HE parameters');
  const packing = m.layout.packing;
  if (packing && JSON.stringify(packing) !== JSON.stringify(packingFor(base.columns.length, params!))) problem('layout packing does not match the columns and HE parameters');
  const dims = m.layout.partitionBy.map((n) => m.schema.columns.find((c) => c.name === n)!);
  const seenKeys = new Set<string>();
  m.layout.partitions.forEach((p, i) => {
    if (p.key.length !== dims.length || p.key.some((code, j) => code >= (dims[j]?.values?.length ?? 0))) problem(`partition ${i} has an invalid key`);
    const k = p.key.join(',');
    if (seenKeys.has(k)) problem(`partition ${i} repeats key ${k}`);
    seenKeys.add(k);
  });

  // chunks: v1, every partition has the same contiguous run of ciphertexts for every column; v2, every block
  // 0..blocks-1 a contiguous run; row chunks 0..n-1
  const colIds = new Set(m.layout.columns.map((c) => c.id));
  const seqs = new Map<string, number[]>();
  const names = new Set<string>();
  let rowsTotal = 0;
  const rowIdx: number[] = [];
  for (const c of m.chunks) {
    if (names.has(c.sm3)) problem(`blob ${c.sm3} is listed twice`);
    names.add(c.sm3);
    if (c.kind === 'he' && packing) {
      if (c.block === undefined || c.partition !== undefined || c.column !== undefined) problem(`ciphertext ${c.sm3} of a packed layout must name a block, not a partition or column`);
      else if (c.block >= blockCount(m.layout)) problem(`ciphertext ${c.sm3} names block ${c.block}, which does not exist`);
      const k = `b${c.block}`;
      (seqs.get(k) ?? seqs.set(k, []).get(k)!).push(c.seq);
    } else if (c.kind === 'he') {
      if (c.partition === undefined || c.column === undefined || c.block !== undefined) problem(`ciphertext ${c.sm3} must name a partition and a column`);
      else if (c.partition >= m.layout.partitions.length) problem(`ciphertext ${c.sm3} names partition ${c.partition}, which does not exist`);
      if (c.column !== undefined && !colIds.has(c.column)) problem(`ciphertext ${c.sm3} names unknown column ${c.column}`);
      const k = `${c.partition}|${c.column}`;
      (seqs.get(k) ?? seqs.set(k, []).get(k)!).push(c.seq);
    } else {
      rowsTotal += c.rows;
      rowIdx.push(c.index);
    }
  }
  const contiguous = (k: string): boolean => {
    const s = (seqs.get(k) ?? []).sort((a, b) => a - b);
    return s.length > 0 && s.every((v, i) => v === i);
  };
  for (let b = 0; b < blockCount(m.layout); b++) if (!contiguous(`b${b}`)) problem(`block ${b} has a missing or repeated ciphertext`);
  (packing ? [] : m.layout.partitions).forEach((_, pi) => {
    const counts = [...colIds].map((col) => {
      const s = (seqs.get(`${pi}|${col}`) ?? []).sort((a, b) => a - b);
      if (s.length === 0 || s.some((v, i) => v !== i)) problem(`partition ${pi} column ${col} has a missing or repeated ciphertext`);
      return s.length;
    });
    if (new Set(counts).size > 1) problem(`partition ${pi} has different numbers of ciphertexts per column`);
  });
  rowIdx.sort((a, b) => a - b);
  if (rowIdx.some((v, i) => v !== i)) problem('row chunks are missing or repeated');
  if (rowsTotal !== m.rowCount) problem(`row chunks hold ${rowsTotal} rows, the manifest says ${m.rowCount}`);
  if (problems.length) fail();

  // blobs
  const heCheck = opts.heLoadCheck ?? true;
  const he = heCheck ? await HeContext.create(params!) : undefined;
  try {
    for (const c of m.chunks) {
      const limit = c.kind === 'he' ? maxCiphertextBytes(params!) : MAX_ROW_CHUNK_BYTES;
      if (c.size > limit) {
        problem(`blob ${c.sm3} declares ${c.size} bytes, over the ${limit}-byte limit`);
        continue;
      }
      const bytes = await getBlob(c.sm3);
      if (!bytes) {
        problem(`blob ${c.sm3} is missing`);
        continue;
      }
      if (bytes.length !== c.size) {
        problem(`blob ${c.sm3} has ${bytes.length} bytes, the manifest says ${c.size}`);
        continue;
      }
      if (sm3Hex(bytes) !== c.sm3) {
        problem(`blob ${c.sm3} does not match its SM3 name (tampered)`);
        continue;
      }
      try {
        if (c.kind === 'rows') decodeSealedRowChunk(bytes);
        else if (he) he.loadCiphertext(bytes, `ciphertext ${c.sm3.slice(0, 12)}…`).delete();
        else if (!isPackedCiphertext(bytes) && (bytes[0] !== 0x5e || bytes[1] !== 0xa1)) throw new Error('not a SEAL object or packed ciphertext');
      } catch (e) {
        problem(e instanceof Error ? e.message : `blob ${c.sm3} is malformed`);
      }
    }
  } finally {
    he?.delete();
  }
  if (problems.length) fail();
  return m;
}
