import { z } from 'zod';
import { Level, Tag } from '../dataset/schema.js';
import { FINDING_CODES } from '../reasons.js';

/**
 * The negative list (负面清单) as data: a versioned document of declarative rules that one engine
 * (evaluate.ts) interprets. Changing policy means storing a new version, not changing code.
 */

export const Bilingual = z.object({ zh: z.string().min(1).max(1000), en: z.string().min(1).max(1000) }).strict();
export type Bilingual = z.infer<typeof Bilingual>;

export const Effect = z.enum(['deny', 'review']);
export type Effect = z.infer<typeof Effect>;

export const Stage = z.enum(['listing', 'trade']);
export type Stage = z.infer<typeof Stage>;

const Kind = z.enum(['aggregate', 'sql', 'verify']);

const base = {
  id: z.string().regex(/^[A-Z]{2,6}-\d{2,4}$/, 'rule ids look like NL-01'),
  /** A short name for the rule, shown with its id and basis when it fires (older documents have none). */
  title: Bilingual.optional(),
  effect: Effect,
  reason: Bilingual,
  /** Where the rule is evaluated; both by default. */
  stages: z.array(Stage).min(1).default(['listing', 'trade']),
  /** Seed clause or law the rule implements, for people. */
  basis: z.string().max(500).optional(),
};

/** Fires when a column the computation (trade) or the offer (listing) touches has level ≥ minLevel. */
export const LevelRule = z.object({ ...base, kind: z.literal('level'), minLevel: Level }).strict();

/**
 * Fires when a touched column carries one of `tags` — unless `exceptDpAggregate` and the computation
 * is a DP aggregate (aggregate/sql kind with ε > 0). `scope: 'dataset'` looks at every column of the
 * dataset instead of only the touched ones (for tags whose mere presence taints the dataset).
 */
export const TagRule = z
  .object({
    ...base,
    kind: z.literal('tag'),
    tags: z.array(Tag).min(1),
    scope: z.enum(['touched', 'dataset']).default('touched'),
    exceptDpAggregate: z.boolean().default(false),
  })
  .strict();

/**
 * Fires on a declared purpose code in the list (codes of the purpose catalogue, policy/purposes.json).
 * `keywords` is read only from documents written before the catalogue: a keyword in the free-text statement
 * no longer decides anything, it sends the trade to a reviewer (as a purpose-statement rule does).
 */
export const PurposeRule = z
  .object({
    ...base,
    kind: z.literal('purpose'),
    purposes: z.array(z.string()).default([]),
    keywords: z.array(z.string().min(2)).optional(),
  })
  .strict();

/** A regular expression the engine can compile (matched case-insensitively against the normalised statement). */
const Pattern = z
  .string()
  .min(2)
  .max(1000)
  .refine((p) => {
    try {
      new RegExp(p, 'iu');
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

/**
 * Screens the buyer's free-text purpose statement for obviously prohibited intent. A hit never decides on
 * its own: the effect is always `review`, and the finding names which prohibited purpose the statement
 * resembles (a catalogue code), never the words that matched, so the reviewer judges the text itself.
 */
export const PurposeStatementRule = z
  .object({
    ...base,
    kind: z.literal('purpose-statement'),
    effect: z.literal('review'),
    stages: z.array(z.literal('trade')).min(1).default(['trade']),
    patterns: z.array(z.object({ resembles: z.string(), match: z.array(Pattern).min(1).max(100) }).strict()).min(1).max(50),
  })
  .strict();

/** Entity list: prohibited buyers by organisation id or by (normalised) name. */
export const BuyerRule = z
  .object({
    ...base,
    kind: z.literal('buyer'),
    entities: z.array(z.object({ orgId: z.string().optional(), name: z.string().optional(), note: z.string().optional() }).strict()),
  })
  .strict();

/**
 * Destinations: `outside` fires for a region whose country is not in `regions` (cross-border),
 * `inside` fires for a region whose country or exact code is in `regions` (a blocked place).
 */
export const DestinationRule = z
  .object({ ...base, kind: z.literal('destination'), match: z.enum(['outside', 'inside']), regions: z.array(z.string()).min(1) })
  .strict();

/** Quasi-identifiers: fires when at least `minCount` touched columns carry one of `tags`. */
export const CombinationRule = z
  .object({ ...base, kind: z.literal('column-combination'), tags: z.array(Tag).min(1), minCount: z.number().int().min(2) })
  .strict();

/**
 * Computation kinds allowed per level: when the highest touched level is ≥ minLevel, only
 * `allowedKinds` may run, and those in `dpRequiredFor` only with ε > 0.
 */
export const KindRule = z
  .object({
    ...base,
    kind: z.literal('computation-kind'),
    minLevel: Level,
    allowedKinds: z.array(Kind),
    dpRequiredFor: z.array(Kind).default([]),
  })
  .strict();

export const PolicyRule = z.discriminatedUnion('kind', [LevelRule, TagRule, PurposeRule, PurposeStatementRule, BuyerRule, DestinationRule, CombinationRule, KindRule]);
export type PolicyRule = z.infer<typeof PolicyRule>;

export const PolicyDocument = z
  .object({
    policyId: z.string().regex(/^[a-z][a-z0-9-]{1,63}$/),
    version: z.number().int().min(1),
    title: Bilingual,
    /**
     * A trade no rule flagged may skip human review only if this is on and the highest touched
     * level is ≤ maxLevel. Off in the default policy: every trade sees a reviewer.
     */
    autoApprove: z.object({ enabled: z.boolean(), maxLevel: Level }).strict(),
    rules: z.array(PolicyRule).min(1).max(500),
  })
  .strict()
  .superRefine((p, ctx) => {
    const ids = p.rules.map((r) => r.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) ctx.addIssue({ code: 'custom', message: `rule id ${dup} is used twice` });
  });
export type PolicyDocument = z.infer<typeof PolicyDocument>;

export const Finding = z.object({
  ruleId: z.string(),
  policyVersion: z.number().int(),
  effect: Effect,
  /** The rule's name and the clause it implements (findings made before rules had titles lack them). */
  title: Bilingual.optional(),
  basis: z.string().optional(),
  reason: Bilingual,
  /** The finding as a catalogue message (formats/messages.ts): negative-list.deny | .review | .statement-flagged, with { ruleId, title, basis }. */
  code: z.enum(FINDING_CODES).optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  /** What made it fire: the columns, tags, purpose codes or region involved — never the words of a statement. */
  detail: z.record(z.string(), z.unknown()),
});
export type Finding = z.infer<typeof Finding>;

export type Decision = 'deny' | 'review' | 'allow';
export interface Evaluation {
  decision: Decision;
  /** Every rule that fired, in document order. */
  findings: Finding[];
  policyId: string;
  policyVersion: number;
  /** Only for trades: whether a trade with no findings may skip the reviewer under this policy. */
  autoApprove: boolean;
}
