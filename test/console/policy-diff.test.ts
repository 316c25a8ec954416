/** The negative-list comparison of the operator's policy page, on the shipped list and edits of it. */
import { expect } from 'chai';
import raw from '../../contracts/policy/default-policy.json' with { type: 'json' };
import type { PolicyDocument } from '../../client-sdk/sdk/types.js';
import { isEmpty, policyDiff } from '../../console/pages/operator-policy-diff.js';

const base = raw as unknown as PolicyDocument;

describe('console: negative-list versions compared rule by rule', () => {
  it('finds nothing between a version and itself, whatever the key order', () => {
    const reordered = { ...base, rules: base.rules.map((r) => Object.fromEntries(Object.entries(r).reverse()) as typeof r) };
    expect(isEmpty(policyDiff(base, reordered))).to.equal(true);
  });

  it('names rules added, removed and changed field by field, and changed settings', () => {
    const [first, second, ...rest] = base.rules;
    const next: PolicyDocument = {
      ...base,
      version: base.version + 1,
      autoApprove: { enabled: !base.autoApprove.enabled, maxLevel: base.autoApprove.maxLevel },
      rules: [{ ...first!, effect: first!.effect === 'deny' ? 'review' : 'deny', reason: { zh: '改', en: 'changed' } }, ...rest, { ...second!, id: 'NL-90' }] as PolicyDocument['rules'],
    };
    const d = policyDiff(base, next);
    expect(d.added.map((r) => r.id)).to.deep.equal(['NL-90']);
    expect(d.removed.map((r) => r.id)).to.deep.equal([second!.id]);
    expect(d.changed).to.have.length(1);
    expect(d.changed[0]!.id).to.equal(first!.id);
    expect(d.changed[0]!.fields.map((f) => f.field)).to.have.members(['effect', 'reason']);
    expect(d.changed[0]!.fields.find((f) => f.field === 'effect')).to.deep.include({ before: first!.effect });
    expect(d.settings.map((f) => f.field)).to.deep.equal(['autoApprove']);
    // the other way round, additions and removals swap
    const back = policyDiff(next, base);
    expect(back.added.map((r) => r.id)).to.deep.equal([second!.id]);
    expect(back.removed.map((r) => r.id)).to.deep.equal(['NL-90']);
  });

  it('counts a field present on one side only as a change', () => {
    const [first, ...rest] = base.rules;
    const { basis: _basis, ...bare } = first as Record<string, unknown>;
    const rules = (r: Record<string, unknown>) => [r, ...rest] as PolicyDocument['rules'];
    const d = policyDiff({ ...base, rules: rules(bare) }, { ...base, rules: rules({ ...bare, basis: 'a clause' }) });
    expect(d.changed.map((c) => c.fields.map((f) => [f.field, f.before, f.after]))).to.deep.equal([[['basis', undefined, 'a clause']]]);
  });
});
