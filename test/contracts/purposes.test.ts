import { expect } from 'chai';
import { isDomainError } from '../../contracts/errors.js';
import { DEFAULT_POLICY } from '../../contracts/policy/default.js';
import { isCataloguedPurpose, PURPOSES, PurposeCatalogue } from '../../contracts/policy/purposes.js';
import { offerInput } from './fixtures.js';
import { world } from './world.js';

const HAN = /[\u4e00-\u9fff]/;

describe('contracts/policy/purposes: the purpose catalogue', () => {
  it('names every purpose in Chinese and English, with a description and a basis', () => {
    expect(PURPOSES.purposes.length).to.be.greaterThan(20);
    for (const p of PURPOSES.purposes) {
      expect(p.name.zh, p.code).to.match(HAN);
      expect(p.description.zh, p.code).to.match(HAN);
      expect(p.name.en, p.code).to.match(/[a-z]/i);
      expect(p.basis, p.code).to.not.equal('');
    }
  });

  it('is bound to the shipped negative list, whose purpose rules name only catalogue codes', () => {
    expect(PURPOSES.policy).to.deep.equal({ policyId: DEFAULT_POLICY.policyId, version: DEFAULT_POLICY.version });
    const named = DEFAULT_POLICY.rules.flatMap((r) =>
      r.kind === 'purpose' ? r.purposes : r.kind === 'purpose-statement' ? r.patterns.map((p) => p.resembles) : [],
    );
    expect(named.length).to.be.greaterThan(4);
    for (const code of named) expect(isCataloguedPurpose(code), code).to.equal(true);
    // no purpose rule of the shipped list matches on words any more
    for (const r of DEFAULT_POLICY.rules) if (r.kind === 'purpose') expect(r.keywords, r.id).to.equal(undefined);
  });

  it('refuses an offer listing a purpose outside the catalogue, naming the code', async () => {
    const w = await world();
    expect((await w.listOffer({ terms: { ...offerInput().terms, purposes: ['statistics', 'tourism-planning'] } })).terms.purposes).to.have.length(2);
    try {
      await w.listOffer({ terms: { ...offerInput().terms, purposes: ['statistics', 'marketing-to-whoever'] } });
      expect.fail('listed');
    } catch (e) {
      expect(isDomainError(e) && e.type).to.equal('invalid-offer');
      expect(isDomainError(e) && e.detail).to.deep.equal({ purposes: ['marketing-to-whoever'] });
    }
  });

  it('refuses a catalogue that lists a code twice', () => {
    expect(PurposeCatalogue.safeParse({ ...PURPOSES, purposes: [PURPOSES.purposes[0], PURPOSES.purposes[0]] }).success).to.equal(false);
  });
});
