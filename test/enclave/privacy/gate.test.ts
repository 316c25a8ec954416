import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOutputGate, type GroupResult } from '../../../enclave/privacy/gate.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { isDomainError } from '../../../contracts/errors.js';

const groups: GroupResult[] = [
  { key: ['north'], rows: 12, subjects: 3, values: { n: 12, total: 500 } },
  { key: ['south'], rows: 40, subjects: 40, values: { n: 40, total: 900 } },
  { key: ['west'], rows: 2, values: { n: 2, total: 10 } },
];

describe('privacy gate: k-suppression', () => {
  it('counts k on distinct identifiers when every group has them', () => {
    const g = groups.slice(0, 2);
    const out = applyOutputGate(g, { minGroupSize: 5 }, { bounds: {} });
    expect(out.privacy.basis).to.equal('subjects');
    expect(out.suppressed).to.deep.equal([['north']]); // 12 rows but only 3 people
    expect(out.groups.map((x) => x.key)).to.deep.equal([['south']]);
    expect(out.groups[0]!.values).to.deep.equal({ n: 40, total: 900 });
    expect(out.privacy).to.include({ minGroupSize: 5, suppressedGroups: 1, mechanism: 'none', epsilonSpent: 0, epsilonRemaining: null });
  });

  it('falls back to rows, and suppresses empty groups', () => {
    const out = applyOutputGate([...groups, { key: ['east'], rows: 0, values: { n: 0, total: 0 } }], { minGroupSize: 3 }, { bounds: {} });
    expect(out.privacy.basis).to.equal('rows');
    expect(out.suppressed).to.deep.equal([['west'], ['east']]);
  });

  it('refuses a malformed policy with a typed error', () => {
    expect(() => applyOutputGate(groups, { minGroupSize: 0 }, { bounds: {} })).to.throw().that.satisfies(isDomainError);
    expect(() => applyOutputGate(groups, { minGroupSize: 2, dp: { epsilon: -1 } }, { bounds: {} })).to.throw(/policy/);
  });

  it('refuses DP on a value with no declared bounds', () => {
    expect(() => applyOutputGate(groups, { minGroupSize: 1, dp: { epsilon: 1 } }, { bounds: { n: [0, 1] } })).to.throw(/no declared bounds/);
  });
});

describe('privacy gate: DP + budget', () => {
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-gate-'));
    ledger = PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
  });
  afterEach(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ctx = (chargeKey: string) => ({
    bounds: { n: [0, 1] as [number, number], total: [0, 100] as [number, number] },
    outputs: { n: { kind: 'count' as const } },
    budget: { ledger, buyerOrgId: 'buyer-1', datasetId: 'ds-1', limitEpsilon: 1, chargeKey },
  });

  it('charges ε before release, is idempotent by charge key, and refuses when spent', () => {
    const a = applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.4 } }, ctx('t1'));
    expect(a.privacy.mechanism).to.equal('discrete-laplace');
    expect(a.privacy.epsilonSpent).to.equal(0.4);
    expect(a.privacy.epsilonRemaining).to.equal(0.6);
    const again = applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.4 } }, ctx('t1'));
    expect(again.groups).to.deep.equal(a.groups); // same noise, not fresh noise
    expect(ledger.spent('buyer-1', 'ds-1').epsilon).to.equal(0.4);
    applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.6 } }, ctx('t2'));
    let err: unknown;
    try {
      applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.1 } }, ctx('t3'));
    } catch (e) {
      err = e;
    }
    expect(isDomainError(err) && err.type).to.equal('privacy-budget-exhausted');
    expect(ledger.spent('buyer-1', 'ds-1')).to.deep.include({ epsilon: 1, charges: 2 });
  });

  it('a release that fails before it is committed charges nothing', () => {
    expect(() =>
      applyOutputGate(groups.slice(1, 2), { minGroupSize: 1, dp: { epsilon: 0.5 } }, {
        ...ctx('t9'),
        beforeRelease: () => {
          throw new Error('worker died');
        },
      }),
    ).to.throw('worker died');
    expect(ledger.spent('buyer-1', 'ds-1').epsilon).to.equal(0);
  });

  it('noised values are on the output grid and counts are never negative', () => {
    const out = applyOutputGate([{ key: [], rows: 3, values: { n: 3, total: 7 } }], { minGroupSize: 1, dp: { epsilon: 0.01 } }, ctx('t4'));
    expect(Number.isInteger(out.groups[0]!.values.n)).to.equal(true);
    expect(out.groups[0]!.values.n).to.be.at.least(0);
  });
});

describe('privacy gate: invariants (fast-check)', () => {
  it('k-suppression partitions the groups: released ones have ≥ k people, the rest are listed, values untouched without DP', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(
        fc.array(fc.record({ rows: fc.integer({ min: 0, max: 50 }), extra: fc.integer({ min: 0, max: 10 }), v: fc.integer({ min: -1000, max: 1000 }) }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 30 }),
        fc.boolean(),
        (specs, k, withSubjects) => {
          const input: GroupResult[] = specs.map((s, i) => ({
            key: [`g${i}`],
            rows: s.rows + s.extra,
            ...(withSubjects ? { subjects: s.rows } : {}),
            values: { v: s.v },
          }));
          const out = applyOutputGate(input, { minGroupSize: k }, { bounds: {} });
          const size = (g: GroupResult) => (withSubjects && input.length > 0 ? (g.subjects as number) : g.rows);
          expect(out.groups.every((g) => size(g) >= k)).to.equal(true);
          expect([...out.groups.map((g) => g.key[0]), ...out.suppressed.map((s) => s[0])].sort()).to.deep.equal(input.map((g) => g.key[0]).sort());
          for (const g of out.groups) expect(g.values).to.deep.equal(input.find((x) => x.key[0] === g.key[0])!.values);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the ledger never lets spent ε exceed the limit, and retries never pay twice', async () => {
    const fc = (await import('fast-check')).default;
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-ledger-'));
    try {
      let run = 0;
      fc.assert(
        fc.property(fc.array(fc.record({ eps: fc.integer({ min: 1, max: 40 }), key: fc.integer({ min: 0, max: 8 }) }), { maxLength: 40 }), (ops) => {
          const ledger = PrivacyBudgetLedger.open(join(dir, `l${run++}.sqlite`));
          try {
            const paid = new Map<number, number>();
            for (const op of ops) {
              const eps = op.eps / 100;
              try {
                ledger.charge({ chargeKey: `k${op.key}`, buyerOrgId: 'b', datasetId: 'd', epsilon: paid.get(op.key) ?? eps, limitEpsilon: 1 }, () => ({ ok: true }));
                if (!paid.has(op.key)) paid.set(op.key, eps);
              } catch (e) {
                expect(isDomainError(e) && e.type).to.equal('privacy-budget-exhausted');
              }
            }
            const spent = ledger.spent('b', 'd');
            expect(spent.epsilon).to.be.at.most(1);
            expect(spent.charges).to.equal(paid.size);
            expect(spent.epsilon).to.be.closeTo([...paid.values()].reduce((a, b) => a + b, 0), 1e-9);
          } finally {
            ledger.close();
          }
        }),
        { numRuns: 30 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
