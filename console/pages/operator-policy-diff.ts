/**
 * What changed between two versions of the negative list: rules added, removed and changed (field by
 * field, compared in canonical JSON so key order never counts as a change), and the document's settings.
 */
import type { PolicyDocument } from '../../client-sdk/sdk/types.js';
import { canonicalJson } from '../../crypto/index.js';

type Rule = PolicyDocument['rules'][number];

export interface FieldChange {
  field: string;
  before: unknown;
  after: unknown;
}

export interface PolicyDiff {
  added: Rule[];
  removed: Rule[];
  changed: { id: string; fields: FieldChange[] }[];
  settings: FieldChange[];
}

const same = (a: unknown, b: unknown): boolean => (a === undefined || b === undefined ? a === b : canonicalJson(a) === canonicalJson(b));

function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>, fields?: readonly string[]): FieldChange[] {
  const keys = fields ?? [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return keys.filter((k) => !same(before[k], after[k])).map((k) => ({ field: k, before: before[k], after: after[k] }));
}

export function policyDiff(from: PolicyDocument, to: PolicyDocument): PolicyDiff {
  const old = new Map(from.rules.map((r) => [r.id, r]));
  const now = new Map(to.rules.map((r) => [r.id, r]));
  return {
    added: to.rules.filter((r) => !old.has(r.id)),
    removed: from.rules.filter((r) => !now.has(r.id)),
    changed: to.rules
      .filter((r) => old.has(r.id))
      .map((r) => ({ id: r.id, fields: fieldChanges(old.get(r.id) as Record<string, unknown>, r as Record<string, unknown>) }))
      .filter((c) => c.fields.length > 0),
    settings: fieldChanges(from as Record<string, unknown>, to as Record<string, unknown>, ['title', 'autoApprove']),
  };
}

export const isEmpty = (d: PolicyDiff): boolean => !d.added.length && !d.removed.length && !d.changed.length && !d.settings.length;
