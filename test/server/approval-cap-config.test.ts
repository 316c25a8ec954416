import { expect } from 'chai';
import { loadConfig } from '../../server/config/config.js';
import { makeHarness } from './harness.js';

/**
 * The cap on an approval's validity is the operator's setting (SHUYU_APPROVAL_MAX_VALIDITY_MS, 7 days by
 * default), and the trade rules the server runs use it: the review route refuses longer approvals under it.
 */
describe('server: the approval validity cap is a deployment setting', () => {
  const DAY = 86_400_000;

  it('defaults to 7 days, is read from the environment and refuses nonsense', () => {
    expect(loadConfig({}, {}).approvalMaxValidityMs).to.equal(7 * DAY);
    expect(loadConfig({}, { SHUYU_APPROVAL_MAX_VALIDITY_MS: String(2 * 3_600_000) }).approvalMaxValidityMs).to.equal(2 * 3_600_000);
    for (const bad of ['0', '-5', 'soon', String(365 * DAY)]) expect(() => loadConfig({}, { SHUYU_APPROVAL_MAX_VALIDITY_MS: bad }), bad).to.throw();
  });

  it("reaches the server's trade rules", async () => {
    for (const cap of [undefined, 3_600_000]) {
      const h = await makeHarness({ config: cap === undefined ? {} : { approvalMaxValidityMs: cap } });
      try {
        expect(h.shuyu.trade.contracts.context.approvalMaxValidityMs).to.equal(cap ?? 7 * DAY);
      } finally {
        await h.close();
      }
    }
  });
});
