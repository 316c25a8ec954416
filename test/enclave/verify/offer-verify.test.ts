import { expect } from 'chai';
import { isDomainError } from '../../../contracts/errors.js';
import { world } from '../../contracts/world.js';

/** Offer creation refuses to sell verify on a dataset with no identifier: there is no one record to name. */
describe('offers that sell 核验 (verify)', () => {
  const typeOf = async (f: () => unknown): Promise<string> => {
    try {
      await f();
      return 'ok';
    } catch (e) {
      return isDomainError(e) ? `${e.type}: ${e.message}` : String(e);
    }
  };

  it('are refused (invalid-offer, 422) when the schema has no identifier; created when it has one', async () => {
    const w = await world();
    const anonymous = { ...w.dataset, id: 'ds-anon', schema: { ...w.dataset.schema, columns: w.dataset.schema.columns.filter((c) => c.role !== 'identifier') } };
    const columns = ['county', 'cost'];
    expect(await typeOf(() => w.listOffer({ allowedKinds: ['verify'], allowedColumns: columns }, anonymous))).to.match(/^invalid-offer: this dataset has no identifier column/);
    expect(await typeOf(() => w.listOffer({ allowedKinds: ['aggregate', 'verify'], allowedColumns: columns }, anonymous))).to.match(/^invalid-offer/);
    expect(await typeOf(() => w.listOffer({ allowedKinds: ['aggregate'], allowedColumns: columns }, anonymous))).to.equal('ok');
    expect(await typeOf(() => w.listOffer({ allowedKinds: ['verify'], allowedColumns: [...columns, 'patient_id'] }))).to.equal('ok');
  });
});
