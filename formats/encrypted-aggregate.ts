import { z } from 'zod';

/**
 * What server-side HE evaluation produces and the enclave consumes: for each group, one ciphertext per
 * homomorphic column, already rotate-and-summed so every slot holds the group's total (the enclave checks
 * that all slots agree and refuses anything else — it never decrypts per-slot partial sums).
 */
export const EncryptedGroup = z
  .object({
    /** Codes of the groupBy dimensions (indexes into each dimension's declared values). */
    key: z.array(z.number().int().min(0)),
    /** HE column id (`_count`, `amount`, `amount^2`) → base64 zstd SEAL ciphertext. */
    columns: z.record(z.string(), z.string()),
  })
  .strict();
export type EncryptedGroup = z.infer<typeof EncryptedGroup>;

export const EncryptedAggregate = z
  .object({
    format: z.literal('shuyu.he-aggregate.v1'),
    paramsId: z.string(),
    datasetCommitment: z.string().regex(/^[0-9a-f]{64}$/),
    computationHash: z.string().regex(/^[0-9a-f]{64}$/),
    groupBy: z.array(z.string()).max(2),
    groups: z.array(EncryptedGroup).max(100_000),
  })
  .strict();
export type EncryptedAggregate = z.infer<typeof EncryptedAggregate>;
