import { z } from 'zod';
import { SECTOR_SLUGS } from '../dataset/sectors.js';
import { PurposeCode } from '../offer/offer.js';
import raw from './purposes.json' with { type: 'json' };
import { Bilingual } from './schema.js';

/**
 * The purposes a buyer may declare, as a published controlled vocabulary (用途目录): each code with its
 * Chinese and English name and description and the clause it rests on. Offers list codes from it; a trade's
 * purpose is one of its offer's codes, plus free text for the reviewer. The negative list names prohibited
 * purposes by these codes; the catalogue names the policy version it was published with.
 */

export const PurposeEntry = z
  .object({
    code: PurposeCode,
    name: Bilingual,
    description: Bilingual,
    /** The clause of the source documents (or law) the purpose rests on. */
    basis: z.string().min(1).max(500),
    /** The sectors (contracts/dataset/sectors.ts) it typically applies to; none means any. */
    sectors: z.array(z.enum(SECTOR_SLUGS)).optional(),
  })
  .strict();
export type PurposeEntry = z.infer<typeof PurposeEntry>;

export const PurposeCatalogue = z
  .object({
    catalogueId: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/),
    version: z.number().int().min(1),
    /** The negative-list version the catalogue was published with: its purpose rules name these codes. */
    policy: z.object({ policyId: z.string(), version: z.number().int().min(1) }).strict(),
    title: Bilingual,
    purposes: z.array(PurposeEntry).min(1).max(500),
  })
  .strict()
  .superRefine((c, ctx) => {
    const codes = c.purposes.map((p) => p.code);
    const dup = codes.find((code, i) => codes.indexOf(code) !== i);
    if (dup) ctx.addIssue({ code: 'custom', message: `purpose ${dup} is listed twice` });
  });
export type PurposeCatalogue = z.infer<typeof PurposeCatalogue>;

/** The catalogue shipped with Shuyu, drawn from the industries and domains the Yunnan guidance opens. */
export const PURPOSES: PurposeCatalogue = PurposeCatalogue.parse(raw);

const BY_CODE = new Map(PURPOSES.purposes.map((p) => [p.code, p]));
export const purposeByCode = (code: string): PurposeEntry | undefined => BY_CODE.get(code);
export const isCataloguedPurpose = (code: string): boolean => BY_CODE.has(code);
