import { expect } from 'chai';
import { isDomainError } from '../../contracts/errors.js';
import { assertTransition, canTransition, TERMINAL_STATES, TRADE_STATES, TRANSITIONS } from '../../contracts/trade/states.js';

describe('contracts/trade: the state machine', () => {
  it('refuses every transition not in its table, exhaustively (all 11 × 11 pairs), with a typed error', () => {
    let allowed = 0;
    let refused = 0;
    for (const from of TRADE_STATES) {
      for (const to of TRADE_STATES) {
        const inTable = TRANSITIONS[from].includes(to);
        expect(canTransition(from, to)).to.equal(inTable);
        if (inTable) {
          expect(() => assertTransition('t', from, to)).not.to.throw();
          allowed++;
        } else {
          try {
            assertTransition('t', from, to);
            expect.fail(`${from} → ${to} was not refused`);
          } catch (e) {
            expect(isDomainError(e) && e.type).to.equal('illegal-transition');
            expect((e as { detail: unknown }).detail).to.deep.include({ from, to });
          }
          refused++;
        }
      }
    }
    expect(allowed + refused).to.equal(121);
    expect(allowed).to.equal(Object.values(TRANSITIONS).reduce((n, t) => n + t.length, 0));
  });

  it('has the lifecycle of the design: the happy path, review outcomes, and no way back', () => {
    const path = ['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered', 'settled'] as const;
    for (let i = 0; i + 1 < path.length; i++) expect(canTransition(path[i]!, path[i + 1]!)).to.equal(true);
    expect(canTransition('under_review', 'rejected')).to.equal(true);
    expect(canTransition('executing', 'failed')).to.equal(true);
    expect(canTransition('executing', 'cancelled')).to.equal(false); // no cancelling a running job
    expect(canTransition('settled', 'submitted')).to.equal(false);
    expect([...TERMINAL_STATES].sort()).to.deep.equal(['cancelled', 'expired', 'failed', 'rejected', 'settled']);
    for (const s of TRADE_STATES) expect(TRANSITIONS[s]).to.not.include(s); // no self-loops
  });
});
