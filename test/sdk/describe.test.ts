import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { describeCsv } from '../../client-sdk/sdk/describe.js';
import { checkCsvLocally } from '../../client-sdk/sdk/local-data.js';
import { demoDataset, writeDemoCsv } from '../../client-sdk/demo/data.js';
import { validMobile, validResidentId } from './pii-gen.js';

/** OwnerClient.describe: a schema draft that the owner's own check then accepts, with PII-based levels. */
describe('describing a CSV as a draft schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-describe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drafts identifier, dimensions with their values, measures with round bounds — and the CSV passes its check', async () => {
    const csv = join(dir, 'tourism.csv');
    await writeDemoCsv(csv, demoDataset('tourism'), 500);
    const { schema, rowsSampled } = await describeCsv(csv, { sector: 'tourism' });
    expect(rowsSampled).to.equal(500);
    const by = Object.fromEntries(schema.columns.map((c) => [c.name, c]));
    expect(by.trip_id).to.include({ role: 'identifier', type: 'identifier' });
    expect(by.prefecture!.role).to.equal('dimension');
    expect(by.origin!.values).to.have.members(['省内', '省外', '境外']);
    expect(by.spend_yuan).to.include({ role: 'measure', type: 'decimal(2)' });
    expect(by.nights).to.include({ role: 'measure', type: 'int' });
    const check = await checkCsvLocally(csv, schema);
    expect(check.ok, JSON.stringify(check.validation.errors.slice(0, 3))).to.equal(true);
  });

  it('takes levels, tags and the identifier role from the PII scan', async () => {
    const csv = join(dir, 'people.csv');
    const ids = fc.sample(validResidentId, { numRuns: 60, seed: 11 });
    const phones = fc.sample(validMobile, { numRuns: 60, seed: 11 });
    writeFileSync(csv, 'citizen,phone,visits\n' + ids.map((id, i) => `${id},${phones[i]},${i % 7}`).join('\n') + '\n');
    const { schema } = await describeCsv(csv, { sector: 'health' });
    const by = Object.fromEntries(schema.columns.map((c) => [c.name, c]));
    expect(by.citizen).to.include({ role: 'identifier', level: 3 });
    expect(by.citizen!.tags).to.deep.equal(['personal', 'sensitive-personal']);
    expect(by.phone).to.include({ level: 3 });
    expect(by.phone!.tags).to.deep.equal(['personal']);
    expect(by.phone!.role).to.not.equal('identifier'); // one identifier per dataset
    expect((await checkCsvLocally(csv, schema)).ok).to.equal(true);
  });
});
