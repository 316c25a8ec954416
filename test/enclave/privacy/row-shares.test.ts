import { expect } from 'chai';
import { rowSharesWithinK } from '../../../enclave/privacy/differencing.js';

/**
 * Under a per-person cap above one, k people in a block is not enough: no one person may hold more than 1/k of
 * a block's rows, or an exact mean over it is nearly that person's value.
 */
describe('enclave privacy: row shares per block', () => {
  const rows = (blocks: number[]): Int32Array => Int32Array.from(blocks);

  it('one person with most of a block of five people is refused; an even block passes', () => {
    // block 0: subject 0 has 4 rows, subjects 1..4 one each (8 rows; 4 × 5 > 8)
    const dominated = { block: rows([0, 0, 0, 0, 0, 0, 0, 0]), subjects: rows([0, 0, 0, 0, 1, 2, 3, 4]) };
    expect(rowSharesWithinK(dominated.block, 1, 5, dominated.subjects)).to.equal(false);
    // the same people, each with two rows: every share is 2/10 = 1/5
    const even = { block: rows([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), subjects: rows([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]) };
    expect(rowSharesWithinK(even.block, 1, 5, even.subjects)).to.equal(true);
  });

  it('shares are per block; rows not read (−1) count nowhere; without subjects every row is a person', () => {
    // subject 0's rows lie in two blocks, two rows of ten in each: within 1/5 in both
    const block = rows([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1]);
    const subjects = rows([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0, 0]);
    expect(rowSharesWithinK(block, 2, 5, subjects)).to.equal(true);
    // one more read row of subject 0 in block 1 (3 of 11): over the bound
    const more = rows([...block.slice(0, 20), 1, -1, -1]);
    expect(rowSharesWithinK(more, 2, 5, subjects)).to.equal(false);
    expect(rowSharesWithinK(rows([0, 0, 0]), 1, 5)).to.equal(true);
  });
});
