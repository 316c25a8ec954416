import { expect } from 'chai';
import { applyOutputGate } from '../../../enclave/privacy/gate.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { isDomainError } from '../../../contracts/errors.js';

/**
 * The ledger keeps ε in whole micro-units. It rounded each charge to the NEAREST micro-ε, while the mechanisms
 * draw noise for the ε they are given: a release at ε = 4·10⁻⁷ was charged 0 (any number of them passed a
 * budget), one at 1.4·10⁻⁶ was charged 1·10⁻⁶. The offer's ε is a multiple of 0.001 at quote time, but the
 * enclave's own bound must not rest on the server: a charge now rounds up (at least one micro-ε), a limit down.
 */
describe('security: the ε ledger never charges less than the noise spends', function () {
  this.timeout(60_000);
  let ledger: PrivacyBudgetLedger;
  before(async () => {
    ledger = await PrivacyBudgetLedger.open(':memory:');
  });
  after(() => ledger.close());

  /** Releases of one count at `epsilon` each until the budget refuses (at most `tries`). */
  async function releasesUntilRefused(dataset: string, epsilon: number, limitEpsilon: number, tries: number): Promise<number> {
    for (let i = 0; i < tries; i++) {
      try {
        await applyOutputGate([{ key: [], rows: 5, values: { n: 5 } }], { minGroupSize: 1, dp: { epsilon } }, {
          bounds: { n: [0, 1] },
          outputs: { n: { kind: 'count' } },
          budget: { ledger, buyerOrgId: 'buyer', datasetId: dataset, limitEpsilon, chargeKey: `${dataset}-${i}` },
        });
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal('privacy-budget-exhausted');
        return i;
      }
    }
    return tries;
  }

  for (const [epsilon, limit] of [
    [4e-7, 2e-6],
    [1.4e-6, 2e-6],
    [2.5e-7, 1e-6],
    [0.0015, 0.004],
  ] as const) {
    it(`ε ${epsilon} per release, budget ${limit}: the releases' ε together stay within the budget`, async () => {
      const n = await releasesUntilRefused(`ds-${epsilon}`, epsilon, limit, 20);
      console.log(`      ε ${epsilon} × ${n} releases = ${(epsilon * n).toPrecision(3)} of ${limit}; ledger ${(await ledger.spent('buyer', `ds-${epsilon}`)).epsilon}`);
      expect(n, 'the budget refuses in the end').to.be.below(20);
      expect(epsilon * n).to.be.at.most(limit * (1 + 1e-12));
    });
  }

  it('a whole number of micro-ε is charged exactly, past a double’s dust (0.3 × 3 fits a budget of 0.9)', async () => {
    expect(await releasesUntilRefused('ds-dust', 0.3, 0.9, 5)).to.equal(3);
    expect((await ledger.spent('buyer', 'ds-dust')).epsilon).to.equal(0.9);
    expect(await releasesUntilRefused('ds-tenth', 0.1, 0.3, 5)).to.equal(3);
  });
});
