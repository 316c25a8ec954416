import { expect } from 'chai';
import { isDomainError } from '../../contracts/errors.js';
import { assertTransition, canTransition, hasResult, holdsMoney, isFinal, TERMINAL_STATES, TRADE_STATES, TRANSITIONS } from '../../contracts/trade/states.js';

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

  it('names each state set once: final (nothing left to run), holding money, with a result', () => {
    const where = (p: (s: (typeof TRADE_STATES)[number]) => boolean) => TRADE_STATES.filter(p);
    expect(where(isFinal)).to.deep.equal(['rejected', 'delivered', 'failed', 'settled', 'cancelled', 'expired']);
    expect(where(holdsMoney)).to.deep.equal(['submitted', 'screened', 'under_review', 'approved', 'executing', 'delivered']);
    expect(where(hasResult)).to.deep.equal(['delivered', 'settled']);
    for (const s of TRADE_STATES) {
      // a state with no way out is final; a result is final; the only final state still holding money is delivered (settles next)
      if (TRANSITIONS[s].length === 0) expect(isFinal(s), s).to.equal(true);
      if (hasResult(s)) expect(isFinal(s), s).to.equal(true);
      if (isFinal(s) && holdsMoney(s)) expect(s).to.equal('delivered');
      // money is held exactly while the trade can still settle: every holding state reaches settled
      const reach = new Set<string>([s]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const x of [...reach]) for (const y of TRANSITIONS[x as typeof s]) if (!reach.has(y)) reach.add(y), (grew = true);
      }
      expect(holdsMoney(s), s).to.equal(reach.has('settled') && s !== 'settled');
    }
  });
});
