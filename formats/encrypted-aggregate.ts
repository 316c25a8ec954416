import { z } from 'zod';

/**
 * What server-side HE evaluation produces and the enclave consumes.
 * Layout v1 bundles: for each group, one ciphertext per homomorphic column, already rotate-and-summed so every
 * slot holds the group's total (the enclave checks that all slots agree and refuses anything else).
 * Layout v2 (packed) bundles: the groups carry no ciphertexts; `blocks` holds each packed block the computation
 * touches (its ciphertexts added), and the enclave adds the planned partitions' slots itself (he/layout.ts).
 */
export const EncryptedGroup = z
  .object({
    /** Codes of the groupBy dimensions (indexes into each dimension's declared values). */
    key: z.array(z.number().int().min(0)),
    /** HE column id (`_count`, `amount`, `amount^2`) → base64 ciphertext (layout v1; empty for v2). */
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
    /** Layout v2: the touched blocks, ascending, each as base64 ciphertext. */
    blocks: z
      .array(z.object({ block: z.number().int().min(0), ciphertext: z.string() }).strict())
      .max(100_000)
      .optional(),
  })
  .strict();
export type EncryptedAggregate = z.infer<typeof EncryptedAggregate>;
