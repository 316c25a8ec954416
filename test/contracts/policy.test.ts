import { expect } from 'chai';
import type { Computation } from '../../contracts/computation.js';
import { DEFAULT_POLICY } from '../../contracts/policy/default.js';
import { evaluateListing, evaluateTrade, type TradeFacts } from '../../contracts/policy/evaluate.js';
import { PolicyDocument } from '../../contracts/policy/schema.js';
import { biometricSchema, offerInput, schema } from './fixtures.js';

const agg = (groupBy: string[] = ['county'], measure = 'cost'): Computation => ({
  kind: 'aggregate',
  metrics: [{ op: 'sum', measure }],
  groupBy,
  filters: [],
});

function facts(over: Partial<TradeFacts> = {}): TradeFacts {
  return {
    schema,
    offer: offerInput(),
    computation: agg(),
    buyer: { orgId: 'org-buyer', name: 'Yunnan Health Institute', destination: 'CN-53' },
    purpose: { code: 'public-health-research', statement: 'county cost trends' },
    ...over,
  };
}

const ruleIds = (e: { findings: { ruleId: string }[] }) => e.findings.map((f) => f.ruleId);

describe('contracts/policy: the default negative list', () => {
  it('is a valid document and every rule has a Chinese and an English reason', () => {
    expect(PolicyDocument.parse(DEFAULT_POLICY).rules.length).to.be.greaterThan(8);
    for (const r of DEFAULT_POLICY.rules) {
      expect(r.reason.zh).to.match(/[\u4e00-\u9fff]/);
      expect(r.reason.en).to.match(/[a-z]/);
    }
  });

  it('allows a plain low-level DP aggregate inside China, with no findings, yet does not auto-approve', () => {
    const e = evaluateTrade(DEFAULT_POLICY, facts());
    expect(e.decision).to.equal('allow');
    expect(e.findings).to.deep.equal([]);
    expect(e.autoApprove).to.equal(false);
  });

  it('denies any trade on a dataset tagged biometric, even a DP aggregate of untagged columns, and says why', () => {
    const e = evaluateTrade(DEFAULT_POLICY, facts({ schema: biometricSchema, computation: agg(['gate'], 'visits'), offer: offerInput({ allowedColumns: ['gate', 'visits'] }) }));
    expect(e.decision).to.equal('deny');
    const f = e.findings.find((x) => x.ruleId === 'NL-02')!;
    expect(f.effect).to.equal('deny');
    expect(f.policyVersion).to.equal(DEFAULT_POLICY.version);
    expect(f.detail).to.deep.include({ columns: ['face_template'], tags: ['biometric'] });
    expect(f.reason.zh).to.contain('生物识别');
    expect(f.reason.en).to.contain('biometric');
  });

  it('sends a cross-border destination to review (Hong Kong counts as cross-border) and explains it', () => {
    for (const destination of ['HK', 'US', 'DE']) {
      const e = evaluateTrade(DEFAULT_POLICY, facts({ buyer: { orgId: 'o', name: 'n', destination } }));
      expect(e.decision, destination).to.equal('review');
      expect(ruleIds(e)).to.deep.equal(['NL-07']);
      expect(e.findings[0]!.detail).to.deep.equal({ destinations: [destination] });
    }
    expect(evaluateTrade(DEFAULT_POLICY, facts({ buyer: { orgId: 'o', name: 'n', destination: 'CN' } })).decision).to.equal('allow');
  });

  it('lists EVERY rule that fired, deny winning over review', () => {
    const e = evaluateTrade(
      DEFAULT_POLICY,
      facts({
        computation: { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['county', 'sex'], filters: [{ column: 'birth_year', in: ['1980'] }, { column: 'diagnosis', in: ['a'] }] },
        buyer: { orgId: 'entity-list-demo-0001', name: 'x', destination: 'US' },
        purpose: { code: 'individual-profiling', statement: '用于个人画像和黑名单' },
      }),
    );
    expect(e.decision).to.equal('deny');
    expect(ruleIds(e)).to.deep.equal(['NL-04', 'NL-05', 'NL-06', 'NL-07', 'NL-08', 'NL-12']);
    expect(e.findings.find((f) => f.ruleId === 'NL-05')!.detail).to.deep.equal({ purposes: ['individual-profiling'] });
  });

  it('matches the entity list by normalised name as well as by id', () => {
    const e = evaluateTrade(DEFAULT_POLICY, facts({ buyer: { orgId: 'other', name: '  example prohibited   DATA broker ltd ', destination: 'CN' } }));
    expect(ruleIds(e)).to.deep.equal(['NL-06']);
  });

  it('denies a prohibited purpose code naming the rule, its title and its basis — and no words of the statement', () => {
    const e = evaluateTrade(DEFAULT_POLICY, facts({ purpose: { code: 'credit-blacklisting', statement: 'keep a blacklist of late payers' } }));
    expect(e.decision).to.equal('deny');
    const f = e.findings.find((x) => x.ruleId === 'NL-05')!;
    expect(f.effect).to.equal('deny');
    expect(f.code).to.equal('negative-list.deny');
    expect(f.title).to.deep.equal({ zh: '禁止的用途', en: 'Prohibited purposes' });
    expect(f.basis).to.contain('§三(三)1');
    expect(f.params).to.deep.equal({ ruleId: 'NL-05', title: f.title, basis: f.basis });
    expect(f.detail).to.deep.equal({ purposes: ['credit-blacklisting'] });
    // whatever the buyer can read of the screening never quotes what matched in their text
    expect(JSON.stringify(e)).to.not.match(/keyword|late payers/i);
  });

  it('flags prohibited intent in the free text for a reviewer (never allow, never an automatic deny), naming no words', () => {
    for (const statement of ['We will re-identify customers', 'Count visitors at each gate so we can follow them around', '跟踪游客的行踪']) {
      const e = evaluateTrade(DEFAULT_POLICY, facts({ purpose: { code: 'statistics', statement } }));
      expect(e.decision, statement).to.equal('review');
      expect(ruleIds(e), statement).to.deep.equal(['NL-12']);
      const f = e.findings[0]!;
      expect(f.code).to.equal('negative-list.statement-flagged');
      expect(Object.keys(f.detail).sort()).to.deep.equal(['field', 'resembles']);
      expect(JSON.stringify(f)).to.not.contain('follow').and.not.contain('re-identify').and.not.contain('跟踪');
    }
    expect(evaluateTrade(DEFAULT_POLICY, facts({ purpose: { code: 'statistics', statement: 'so we can follow them around' } })).findings[0]!.detail).to.deep.equal({
      field: 'purpose.statement',
      resembles: ['individual-tracking'],
    });
    // ordinary statements about counting people are not flagged
    for (const statement of ['track visitor numbers by month', 'Follow the seasonal pattern of tourists across prefectures', '追踪疫情趋势']) {
      expect(evaluateTrade(DEFAULT_POLICY, facts({ purpose: { code: 'statistics', statement } })).decision, statement).to.equal('allow');
    }
  });

  it('reads documents written before the catalogue: a purpose keyword only flags the statement for review', () => {
    const old = PolicyDocument.parse({
      ...DEFAULT_POLICY,
      version: 1,
      rules: [{ id: 'NL-05', kind: 'purpose', purposes: ['re-identification'], keywords: ['blacklist'], effect: 'deny', reason: { zh: '禁止', en: 'no' } }],
    });
    const e = evaluateTrade(old, facts({ purpose: { code: 'statistics', statement: 'a blacklist of big spenders' } }));
    expect(e.decision).to.equal('review');
    expect(e.findings[0]).to.deep.include({ ruleId: 'NL-05', effect: 'review', code: 'negative-list.statement-flagged', detail: { field: 'purpose.statement' } });
    expect(evaluateTrade(old, facts({ purpose: { code: 're-identification', statement: 'x' } })).decision).to.equal('deny');
  });

  it('level 3 data: aggregates need DP (ε > 0), verify stays allowed; level 4 is never tradable', () => {
    const diag = agg(['diagnosis'], 'cost');
    expect(ruleIds(evaluateTrade(DEFAULT_POLICY, facts({ computation: diag, epsilon: 0 })))).to.include('NL-09');
    expect(ruleIds(evaluateTrade(DEFAULT_POLICY, facts({ computation: diag })))).to.not.include('NL-09');
    const verify: Computation = { kind: 'verify', match: { patient_id: 'p1', county: 'dali' }, perAttribute: false };
    expect(ruleIds(evaluateTrade(DEFAULT_POLICY, facts({ computation: verify, epsilon: 0 })))).to.not.include('NL-09');
    const core = { ...schema, columns: schema.columns.map((c) => (c.name === 'cost' ? { ...c, level: 4 as const } : c)) };
    const e = evaluateTrade(DEFAULT_POLICY, facts({ schema: core }));
    expect(e.decision).to.equal('deny');
    expect(ruleIds(e)).to.deep.equal(['NL-01', 'NL-10']);
    expect(ruleIds(evaluateTrade(DEFAULT_POLICY, facts({ schema: core, computation: { kind: 'verify', match: { cost: '1' }, perAttribute: false } })))).to.include('NL-10');
  });

  it('minor / location-trace data only as DP aggregates', () => {
    const s = { ...schema, columns: schema.columns.map((c) => (c.name === 'county' ? { ...c, tags: ['location-trace' as const] } : c)) };
    expect(evaluateTrade(DEFAULT_POLICY, facts({ schema: s })).decision).to.equal('allow');
    const exact = evaluateTrade(DEFAULT_POLICY, facts({ schema: s, epsilon: 0 }));
    expect(exact.decision).to.equal('deny');
    expect(ruleIds(exact)).to.deep.equal(['NL-03']);
    const verify = evaluateTrade(DEFAULT_POLICY, facts({ schema: s, computation: { kind: 'verify', match: { county: 'dali' }, perAttribute: false } }));
    expect(ruleIds(verify)).to.deep.equal(['NL-03']);
  });

  it('sql: uses the validator\'s columnsUsed, and treats every column as touched without it', () => {
    const sql: Computation = { kind: 'sql', query: 'SELECT county, SUM(cost) FROM t GROUP BY county' };
    expect(evaluateTrade(DEFAULT_POLICY, facts({ computation: sql, columnsUsed: ['county', 'cost'] })).decision).to.equal('allow');
    const all = evaluateTrade(DEFAULT_POLICY, facts({ computation: sql }));
    expect(ruleIds(all)).to.deep.equal(['NL-04', 'NL-08']);
  });

  it('evaluates listings: cross-border destinations, prohibited purposes, level-4 columns, biometric datasets', () => {
    expect(evaluateListing(DEFAULT_POLICY, schema, offerInput()).findings.map((f) => f.ruleId)).to.deep.equal(['NL-07']);
    expect(evaluateListing(DEFAULT_POLICY, schema, offerInput({ terms: { ...offerInput().terms, destinations: ['CN'] } })).decision).to.equal('allow');
    const bad = evaluateListing(DEFAULT_POLICY, biometricSchema, offerInput({ allowedColumns: ['gate'], terms: { ...offerInput().terms, purposes: ['credit-blacklisting'], destinations: ['CN'] } }));
    expect(ruleIds(bad)).to.deep.equal(['NL-02', 'NL-05']);
    // The buyer entity list is a trade-time rule only.
    expect(DEFAULT_POLICY.rules.find((r) => r.id === 'NL-06')!.stages).to.deep.equal(['trade']);
  });

  it('auto-approves only when a policy enables it, nothing fired and the level is low enough', () => {
    const p = PolicyDocument.parse({ ...DEFAULT_POLICY, version: 2, autoApprove: { enabled: true, maxLevel: 2 } });
    expect(evaluateTrade(p, facts()).autoApprove).to.equal(true);
    expect(evaluateTrade(p, facts({ computation: agg(['diagnosis']) })).autoApprove).to.equal(false);
    expect(evaluateTrade(p, facts({ buyer: { orgId: 'o', name: 'n', destination: 'US' } })).autoApprove).to.equal(false);
  });

  it('refuses malformed policy documents (duplicate ids, unknown kinds, missing reasons)', () => {
    const dup = { ...DEFAULT_POLICY, rules: [DEFAULT_POLICY.rules[0], DEFAULT_POLICY.rules[0]] };
    expect(PolicyDocument.safeParse(dup).success).to.equal(false);
    expect(PolicyDocument.safeParse({ ...DEFAULT_POLICY, rules: [{ id: 'NL-99', kind: 'magic', effect: 'deny', reason: { zh: '否', en: 'no' } }] }).success).to.equal(false);
    expect(PolicyDocument.safeParse({ ...DEFAULT_POLICY, rules: [{ id: 'NL-99', kind: 'level', minLevel: 4, effect: 'deny' }] }).success).to.equal(false);
  });
});
