import type { Computation, ComputationKind } from '../computation.js';
import type { Column, DatasetSchema } from '../dataset/schema.js';
import type { Offer } from '../offer/offer.js';
import type { FindingCode } from '../reasons.js';
import type { Decision, Effect, Evaluation, Finding, PolicyDocument, PolicyRule, Stage } from './schema.js';

/**
 * The negative-list engine: one interpreter for every rule kind of schema.ts. It never stops at the
 * first hit — a decision lists every rule that fired, so a reviewer and the buyer see all reasons.
 */

/** What a rule looks at, built the same way for listing and trade so each rule has one meaning. */
interface Context {
  stage: Stage;
  schema: DatasetSchema;
  touched: Column[];
  kinds: ComputationKind[];
  /** The outputs are differentially private (ε > 0). */
  dp: boolean;
  purposes: string[];
  purposeText: string;
  buyer?: { orgId: string; name: string };
  destinations: string[];
}

export interface TradeFacts {
  schema: DatasetSchema;
  offer: Pick<Offer, 'allowedKinds' | 'allowedColumns' | 'terms'>;
  computation: Computation;
  /** For `sql`: the columns the validator (enclave/sql) found; absent → every column counts as touched. */
  columnsUsed?: string[];
  /** ε this trade spends; defaults to the offer's ε per query. */
  epsilon?: number;
  buyer: { orgId: string; name: string; destination: string };
  purpose: { code: string; statement?: string };
}

export type ListingFacts = Pick<Offer, 'allowedKinds' | 'allowedColumns' | 'terms'>;

/** Column names a computation reads, by kind (sql relies on the validator's list). */
export function columnsTouched(computation: Computation, schema: DatasetSchema, columnsUsed?: string[]): string[] {
  switch (computation.kind) {
    case 'aggregate': {
      const names = [
        ...computation.metrics.flatMap((m) => (m.measure ? [m.measure] : [])),
        ...computation.groupBy,
        ...computation.filters.map((f) => f.column),
      ];
      return [...new Set(names)];
    }
    case 'sql':
      return columnsUsed ? [...new Set(columnsUsed)] : schema.columns.map((c) => c.name);
    case 'verify':
      return Object.keys(computation.match);
  }
}

const columnsNamed = (schema: DatasetSchema, names: string[]): Column[] =>
  schema.columns.filter((c) => names.includes(c.name));

const country = (region: string): string => region.slice(0, 2);
const normalise = (s: string): string => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
const isDpAggregate = (kind: ComputationKind, dp: boolean): boolean => dp && (kind === 'aggregate' || kind === 'sql');

/** What a purpose statement resembles, by the patterns of a purpose-statement rule (the codes, never the words). */
function resembles(patterns: { resembles: string; match: string[] }[], statement: string): string[] {
  const text = normalise(statement);
  if (!text) return [];
  return [...new Set(patterns.filter((p) => p.match.some((m) => new RegExp(m, 'iu').test(text))).map((p) => p.resembles))];
}

/** A statement flag never decides: it sends the trade to a reviewer, whatever the rule's own effect. */
const FLAGGED = Symbol('statement-flagged');
type Fired = Record<string, unknown> & { [FLAGGED]?: true };

/** Returns the finding detail when the rule fires, undefined when it does not. */
function fires(rule: PolicyRule, ctx: Context): Fired | undefined {
  switch (rule.kind) {
    case 'level': {
      const hit = ctx.touched.filter((c) => c.level >= rule.minLevel);
      return hit.length ? { columns: hit.map((c) => c.name), levels: hit.map((c) => c.level) } : undefined;
    }
    case 'tag': {
      const pool = rule.scope === 'dataset' ? ctx.schema.columns : ctx.touched;
      const hit = pool.filter((c) => c.tags.some((t) => rule.tags.includes(t)));
      if (!hit.length) return undefined;
      // The DP exception holds only if EVERY kind that can run is a DP aggregate.
      if (rule.exceptDpAggregate && ctx.kinds.length > 0 && ctx.kinds.every((k) => isDpAggregate(k, ctx.dp))) return undefined;
      return {
        columns: hit.map((c) => c.name),
        tags: [...new Set(hit.flatMap((c) => c.tags.filter((t) => rule.tags.includes(t))))],
        ...(rule.exceptDpAggregate ? { dpAggregate: false, kinds: ctx.kinds } : {}),
      };
    }
    case 'purpose': {
      const codes = ctx.purposes.filter((p) => rule.purposes.includes(p));
      if (codes.length) return { purposes: codes };
      // documents written before the catalogue: a keyword in the statement only flags it for a reviewer
      const text = normalise(ctx.purposeText);
      const flagged = (rule.keywords ?? []).some((k) => text.includes(normalise(k)));
      return flagged ? { field: 'purpose.statement', [FLAGGED]: true } : undefined;
    }
    case 'purpose-statement': {
      const hit = resembles(rule.patterns, ctx.purposeText);
      return hit.length ? { field: 'purpose.statement', resembles: hit, [FLAGGED]: true } : undefined;
    }
    case 'buyer': {
      if (!ctx.buyer) return undefined;
      const b = ctx.buyer;
      const hit = rule.entities.find((e) => (e.orgId && e.orgId === b.orgId) || (e.name && normalise(e.name) === normalise(b.name)));
      return hit ? { orgId: b.orgId, name: b.name, listed: hit.name ?? hit.orgId } : undefined;
    }
    case 'destination': {
      const hit = ctx.destinations.filter((d) =>
        rule.match === 'outside' ? !rule.regions.includes(country(d)) : rule.regions.includes(d) || rule.regions.includes(country(d)),
      );
      return hit.length ? { destinations: hit } : undefined;
    }
    case 'column-combination': {
      const hit = ctx.touched.filter((c) => c.tags.some((t) => rule.tags.includes(t)));
      return hit.length >= rule.minCount ? { columns: hit.map((c) => c.name), count: hit.length } : undefined;
    }
    case 'computation-kind': {
      const maxLevel = Math.max(0, ...ctx.touched.map((c) => c.level));
      if (maxLevel < rule.minLevel) return undefined;
      const notAllowed = ctx.kinds.filter((k) => !rule.allowedKinds.includes(k));
      const needDp = ctx.dp ? [] : ctx.kinds.filter((k) => rule.dpRequiredFor.includes(k));
      return notAllowed.length || needDp.length ? { maxLevel, kindsNotAllowed: notAllowed, kindsNeedingDp: needDp } : undefined;
    }
  }
}

/** One finding: the rule's id, title and basis as data and as a catalogue message; `detail` says what fired it. */
function finding(policy: PolicyDocument, rule: PolicyRule, fired: Fired): Finding {
  const flagged = fired[FLAGGED] === true;
  const effect: Effect = flagged ? 'review' : rule.effect;
  const code: FindingCode = flagged ? 'negative-list.statement-flagged' : effect === 'deny' ? 'negative-list.deny' : 'negative-list.review';
  const title = rule.title ?? rule.reason;
  const basis = rule.basis ?? '';
  const { [FLAGGED]: _flag, ...detail } = fired;
  return {
    ruleId: rule.id,
    policyVersion: policy.version,
    effect,
    title,
    ...(rule.basis ? { basis: rule.basis } : {}),
    reason: rule.reason,
    code,
    params: { ruleId: rule.id, title, basis },
    detail,
  };
}

function run(policy: PolicyDocument, ctx: Context): Evaluation {
  const findings: Finding[] = [];
  for (const rule of policy.rules) {
    if (!(rule.stages as Stage[]).includes(ctx.stage)) continue;
    const fired = fires(rule, ctx);
    if (fired) findings.push(finding(policy, rule, fired));
  }
  const decision: Decision = findings.some((f) => f.effect === 'deny')
    ? 'deny'
    : findings.some((f) => f.effect === 'review')
      ? 'review'
      : 'allow';
  const maxLevel = Math.max(0, ...ctx.touched.map((c) => c.level));
  const autoApprove = ctx.stage === 'trade' && decision === 'allow' && policy.autoApprove.enabled && maxLevel <= policy.autoApprove.maxLevel;
  return { decision, findings, policyId: policy.policyId, policyVersion: policy.version, autoApprove };
}

/** Listing time: what the offer as a whole would allow (its columns, kinds, purposes, destinations). */
export function evaluateListing(policy: PolicyDocument, schema: DatasetSchema, offer: ListingFacts): Evaluation {
  return run(policy, {
    stage: 'listing',
    schema,
    touched: columnsNamed(schema, offer.allowedColumns),
    kinds: [...offer.allowedKinds],
    dp: offer.terms.epsilonPerQuery > 0,
    purposes: offer.terms.purposes,
    purposeText: '',
    destinations: offer.terms.destinations,
  });
}

/** Trade time: this computation, this buyer, this purpose, this destination. */
export function evaluateTrade(policy: PolicyDocument, facts: TradeFacts): Evaluation {
  const epsilon = facts.epsilon ?? facts.offer.terms.epsilonPerQuery;
  return run(policy, {
    stage: 'trade',
    schema: facts.schema,
    touched: columnsNamed(facts.schema, columnsTouched(facts.computation, facts.schema, facts.columnsUsed)),
    kinds: [facts.computation.kind],
    dp: epsilon > 0,
    purposes: [facts.purpose.code],
    purposeText: facts.purpose.statement ?? '',
    buyer: { orgId: facts.buyer.orgId, name: facts.buyer.name },
    destinations: [facts.buyer.destination],
  });
}
