import { z } from 'zod';
import { DatasetSchema, ColumnName } from '../contracts/dataset/schema.js';
import { canonicalJson, sm3Hex } from '../crypto/index.js';

/**
 * The sealed bundle's manifest. The dataset's commitment is SM3 over the canonical JSON of the
 * manifest without its `commitment` field; every blob is named by its SM3 hex (content-addressed), so the
 * commitment pins every byte of the bundle.
 *
 * What the server learns from a manifest: the schema, the row count, and which level ≤ 2 dimension-code
 * combinations (partitions) exist. Nothing else: the owner's sealer pre-adds each partition's rows, so the
 * number of ciphertexts depends on the partition and column counts only, never on a partition's size.
 */

export const Sm3HexString = z.string().regex(/^[0-9a-f]{64}$/, 'SM3 hex digest (64 lower-case hex digits)');

/**
 * One homomorphic column of the layout: `_count` (1 per real row), a measure (x) or its square (x²).
 * A measure whose bounds are too wide for one plain-modulus-sized sum is stored as base-2^bits digits
 * (`limb`) of u = x − offset (and of u²), one column per digit, so every column's sum stays exact.
 */
export const HeColumn = z
  .object({
    id: z.string().regex(/^(_count|[a-z][a-z0-9_]{0,62}(\^2)?(#\d{1,2})?)$/),
    measure: ColumnName.optional(),
    power: z.union([z.literal(0), z.literal(1), z.literal(2)]),
    /** Fixed-point scale: the encrypted integer is value × 10^scale (× 10^(2·scale) for x²). */
    scale: z.number().int().min(0).max(12),
    /** Digit columns only: u = x − offset (fixed-point integer, decimal string), digit `index` of base 2^bits. */
    offset: z.string().regex(/^-?\d{1,30}$/).optional(),
    limb: z.object({ index: z.number().int().min(0).max(15), bits: z.number().int().min(4).max(40) }).strict().optional(),
  })
  .strict();
export type HeColumn = z.infer<typeof HeColumn>;

/**
 * One ciphertext. Layout v1: the totals of one partition and column (`partition`, `column`, in slot 0).
 * Layout v2 (packed): `block` b holds the totals of partitions b·P … b·P + P − 1, every column (layout.packing).
 */
export const HeChunkRef = z
  .object({
    kind: z.literal('he'),
    partition: z.number().int().min(0).optional(),
    column: z.string().optional(),
    block: z.number().int().min(0).optional(),
    seq: z.number().int().min(0),
    sm3: Sm3HexString,
    size: z.number().int().min(1),
  })
  .strict();
export type HeChunkRef = z.infer<typeof HeChunkRef>;

export const RowChunkRef = z
  .object({
    kind: z.literal('rows'),
    index: z.number().int().min(0),
    rows: z.number().int().min(1),
    sm3: Sm3HexString,
    size: z.number().int().min(1),
  })
  .strict();
export type RowChunkRef = z.infer<typeof RowChunkRef>;

export const ChunkRef = z.discriminatedUnion('kind', [HeChunkRef, RowChunkRef]);
export type ChunkRef = z.infer<typeof ChunkRef>;

export const BundleLayout = z
  .object({
    /** Level ≤ 2 dimensions whose code combination partitions the rows (0–2 columns). */
    partitionBy: z.array(ColumnName).max(2),
    columns: z.array(HeColumn).min(1),
    /** Each partition's codes, one per partitionBy column (indexes into the dimension's declared values). */
    partitions: z.array(z.object({ key: z.array(z.number().int().min(0)) }).strict()),
    slotsPerCiphertext: z.number().int().positive(),
    /**
     * Layout v2: partition totals packed into the slots of as few ciphertexts as possible — partition p, column
     * c in block ⌊p / P⌋, slot (p mod P) · columns + c. Absent: v1, one ciphertext per partition and column.
     */
    packing: z
      .object({ version: z.literal(2), partitionsPerCiphertext: z.number().int().positive() })
      .strict()
      .optional(),
  })
  .strict();
export type BundleLayout = z.infer<typeof BundleLayout>;

export const BundleManifestBody = z
  .object({
    format: z.literal('shuyu.bundle.v1'),
    bundleId: z.string().uuid(),
    createdAt: z.string().datetime(),
    schema: DatasetSchema,
    rowCount: z.number().int().min(0),
    he: z
      .object({
        paramsId: z.string(),
        /** SM3 fingerprint of the enclave HE public key the owner encrypted with. */
        publicKeyFingerprint: Sm3HexString,
      })
      .strict(),
    rows: z
      .object({
        /** sm2Fingerprint of the enclave unwrap key the row-chunk data keys are wrapped to. */
        unwrapKeyFingerprint: Sm3HexString,
        /** The row chunks' plaintext format (formats/row-chunk.ts); absent in bundles sealed before v2: 1. */
        chunkFormat: z.union([z.literal(1), z.literal(2)]).optional(),
      })
      .strict(),
    layout: BundleLayout,
    chunks: z.array(ChunkRef),
  })
  .strict();
export type BundleManifestBody = z.infer<typeof BundleManifestBody>;

export const BundleManifest = BundleManifestBody.extend({ commitment: Sm3HexString }).strict();
export type BundleManifest = z.infer<typeof BundleManifest>;

/** commitment = SM3(canonicalJson(manifest without `commitment`)). */
export function manifestCommitment(body: BundleManifestBody | BundleManifest): string {
  const { commitment: _omit, ...rest } = body as BundleManifest;
  return sm3Hex(canonicalJson(rest));
}

export function withCommitment(body: BundleManifestBody): BundleManifest {
  const parsed = BundleManifestBody.parse(body);
  return { ...parsed, commitment: manifestCommitment(parsed) };
}
