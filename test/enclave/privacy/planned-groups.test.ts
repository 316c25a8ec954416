import { expect } from 'chai';
import { isDomainError } from '../../../contracts/errors.js';
import { plannedGroupKeys } from '../../../query/planned-groups.js';
import type { DimPredicate } from '../../../query/predicates.js';

/**
 * The groups an exact query can hold, from the query alone: an exact release lists all of them or is refused,
 * so a key the query admits must be planned (else its absence is a free answer) and a key it excludes must not
 * be (else every such query is refused for an emptiness the query itself decides).
 */
describe('enclave privacy: planned groups of an exact query', () => {
  const dims = [
    { name: 'region', values: ['north', 'south', 'east', 'west'] },
    { name: 'channel', values: ['web', 'shop'] },
    { name: 'segment', values: ['a', 'b', 'c'] },
  ];
  const keys = (where: DimPredicate | null, groupBy: string[]): string[] => plannedGroupKeys(where, groupBy, dims).map((k) => k.join('/')).sort();

  it('every declared key without a selection; one empty key for an ungrouped query', () => {
    expect(keys(null, ['region'])).to.deep.equal(['east', 'north', 'south', 'west']);
    expect(keys(null, ['region', 'channel'])).to.have.length(8);
    expect(plannedGroupKeys(null, [], dims)).to.deep.equal([[]]);
  });

  it('the selection narrows the keys to those it admits over the declared domain', () => {
    expect(keys({ dim: 'region', in: ['north', 'south'] }, ['region'])).to.deep.equal(['north', 'south']);
    const notNorthWeb: DimPredicate = { and: [{ not: { dim: 'region', in: ['north'] } }, { dim: 'channel', in: ['web'] }] };
    expect(keys(notNorthWeb, ['region', 'channel'])).to.deep.equal(['east/web', 'south/web', 'west/web']);
    // a condition on another dimension keeps every key that some declared value of it admits
    expect(keys({ or: [{ dim: 'segment', in: ['a'] }, { dim: 'region', in: ['east'] }] }, ['region'])).to.deep.equal(['east', 'north', 'south', 'west']);
    expect(keys({ and: [{ dim: 'segment', in: ['a'] }, { dim: 'region', in: ['east'] }] }, ['channel'])).to.deep.equal(['shop', 'web']);
  });

  it('a selection no declared value satisfies plans no group; an undeclared value selects nothing', () => {
    expect(plannedGroupKeys({ and: [{ dim: 'region', in: ['north'] }, { dim: 'region', in: ['south'] }] }, [], dims)).to.deep.equal([]);
    expect(keys({ dim: 'region', in: ['nowhere'] }, ['channel'])).to.deep.equal([]);
  });

  it('more planned classes than the differencing guard accepts: refused from the query alone', () => {
    const wide = [
      { name: 'x', values: Array.from({ length: 400 }, (_, i) => `x${i}`) },
      { name: 'y', values: Array.from({ length: 400 }, (_, i) => `y${i}`) },
    ];
    let type = 'none';
    try {
      plannedGroupKeys(null, ['x', 'y'], wide);
    } catch (e) {
      type = isDomainError(e) ? e.type : String(e);
    }
    expect(type).to.equal('privacy-history-too-complex');
  });
});
