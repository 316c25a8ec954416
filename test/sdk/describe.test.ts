import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { coarseBounds, describeCsv, powerOfTenAbove } from '../../client-sdk/sdk/describe.js';
import { checkCsvLocally } from '../../client-sdk/sdk/local-data.js';
import { demoDataset, writeDemoCsv } from '../../cli/demo/data.js';
import { isDomainError } from '../../contracts/errors.js';
import { validMobile, validResidentId } from './pii-gen.js';

/** OwnerClient.describe: a schema draft that the owner's own check then accepts, with PII-based levels — and that publishes nothing of the data. */
describe('describing a CSV as a draft schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shuyu-describe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('drafts identifier, dimensions with their values, measures with coarse bounds — and the CSV passes its check', async () => {
    const csv = join(dir, 'tourism.csv');
    await writeDemoCsv(csv, demoDataset('tourism'), 500);
    // minPeople 1: every value listed, so the draft accepts every row of its own sample
    const { schema, rowsSampled } = await describeCsv(csv, { sector: 'tourism', minPeople: 1 });
    expect(rowsSampled).to.equal(500);
    const by = Object.fromEntries(schema.columns.map((c) => [c.name, c]));
    expect(by.trip_id).to.include({ role: 'identifier', type: 'identifier' });
    expect(by.prefecture!.role).to.equal('dimension');
    expect(by.origin!.values).to.have.members(['省内', '省外', '境外']);
    expect(by.spend_yuan).to.include({ role: 'measure', type: 'decimal(2)' });
    expect(by.nights).to.include({ role: 'measure', type: 'int' });
    for (const c of schema.columns.filter((x) => x.bounds)) {
      expect(c.bounds![0], c.name).to.equal(0);
      expect(Math.log10(c.bounds![1]) % 1, c.name).to.equal(0); // a power of ten
    }
    const check = await checkCsvLocally(csv, schema);
    expect(check.ok, JSON.stringify(check.validation.errors.slice(0, 3))).to.equal(true);
  });

  it('with the default k, values of the demo held by few trips are left out, and owner check names exactly their rows', async () => {
    const csv = join(dir, 'tourism.csv');
    const { schema, warnings } = await describeCsv(csv, { sector: 'tourism' });
    const prefecture = schema.columns.find((c) => c.name === 'prefecture')!;
    expect(prefecture.values).to.include('other');
    expect(prefecture.description).to.match(/fewer than 5 people/);
    expect(warnings.join('\n')).to.match(/column prefecture: \d+ value\(s\) are held by fewer than 5 distinct trip_id values/);
    const check = await checkCsvLocally(csv, schema);
    const bad = check.validation.errors;
    expect(bad.length).to.be.within(1, 4 * 5);
    for (const e of bad) expect(e.message).to.match(/column prefecture: '.+' is not one of the declared values/);
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

  it('a column of distinct long whole numbers (15-digit ID numbers, customer numbers) is a key, never a measure', async () => {
    const file = join(dir, 'old-ids.csv');
    // first-generation ID numbers: 15 digits, no check digit for the PII scan; salaries all distinct too
    const lines = ['member,old_id,salary'];
    for (let i = 0; i < 40; i++) lines.push(`M${i},${110101500101000 + i * 1013},${3000 + i * 17}`);
    writeFileSync(file, lines.join('\n') + '\n');
    const { schema, warnings } = await describeCsv(file, { sector: 'population' });
    const by = Object.fromEntries(schema.columns.map((c) => [c.name, c]));
    expect(by.old_id!.role).to.be.oneOf(['identifier', 'attribute']);
    expect(by.old_id!.bounds).to.equal(undefined);
    expect(warnings.join('\n')).to.match(/column old_id: every value is a distinct whole number of nine or more digits/);
    // a measure whose values happen to be distinct stays a measure
    expect(by.salary).to.deep.include({ role: 'measure', bounds: [0, 10_000] });
  });

  it('bounds are 0 or ± the power of ten beyond the extreme (never the extreme itself)', () => {
    expect(powerOfTenAbove(90_000)).to.equal(100_000);
    expect(powerOfTenAbove(100_000)).to.equal(1_000_000);
    expect(powerOfTenAbove(1)).to.equal(10);
    expect(powerOfTenAbove(0.05)).to.equal(0.1);
    expect(powerOfTenAbove(0.01)).to.equal(0.1);
    expect(coarseBounds(1000, 90_000)).to.deep.equal([0, 100_000]);
    expect(coarseBounds(-350, 12)).to.deep.equal([-1000, 100]);
    expect(coarseBounds(-7, -2)).to.deep.equal([-10, 0]);
    expect(coarseBounds(0, 0)).to.deep.equal([0, 1]);
    fc.assert(
      fc.property(fc.double({ min: -1e14, max: 1e14, noNaN: true }), fc.double({ min: -1e14, max: 1e14, noNaN: true }), (a, b) => {
        const [min, max] = a <= b ? [a, b] : [b, a];
        const [lo, hi] = coarseBounds(min, max);
        const pow10 = (x: number) => Number(`1e${Math.round(Math.log10(x))}`) === x;
        const loOk = (lo === 0 && min >= 0) || (lo < min && pow10(-lo));
        const hiOk = (hi === 0 && max <= 0 && lo < 0) || (hi > max && pow10(hi));
        return loOk && hiOk;
      }),
    );
  });

  describe('planted data: a unique top earner, a lone district, a phone column', () => {
    const people = fc.sample(validResidentId, { numRuns: 120, seed: 5 });
    const phones = fc.sample(validMobile, { numRuns: 120, seed: 5 });
    const districts = ['五华区', '盘龙区', '官渡区', '西山区'];
    const LONE = '东川区';
    /** Every person has 2 rows (same person, same district, same phone); person 7 lives alone in LONE; person 3 earns `top`. */
    const write = (name: string, top: number, lone = true): string => {
      const lines = ['citizen,district,phone,salary,bonus'];
      people.forEach((id, p) => {
        for (let r = 0; r < 2; r++) {
          const district = p === 7 && lone ? LONE : districts[p % 4]!;
          const salary = p === 3 ? top : 3000 + ((p * 37 + r * 11) % 5000);
          lines.push(`${id},${district},${phones[p]},${salary},${((p * 13) % 90) - 40}.5`);
        }
      });
      // a district of 3 people holding 30 rows: rows are not people
      for (let p = 0; p < 3; p++) for (let r = 0; r < 10; r++) lines.push(`${people[100 + p]},呈贡区,${phones[100 + p]},4000,1.5`);
      const file = join(dir, name);
      writeFileSync(file, lines.join('\n') + '\n');
      return file;
    };

    it('the draft reveals none of them', async () => {
      const a = await describeCsv(write('planted-a.csv', 87_654), { sector: 'population' });
      const text = JSON.stringify(a);
      const by = Object.fromEntries(a.schema.columns.map((c) => [c.name, c]));
      // the top earner: bounds that hold for any top salary in the same decade
      expect(by.salary).to.deep.include({ role: 'measure', bounds: [0, 100_000] });
      expect(by.bonus!.bounds).to.deep.equal([-100, 100]);
      expect(text).to.not.match(/87654|8765|90000|80000/);
      const b = await describeCsv(write('planted-b.csv', 12_345), { sector: 'population' });
      expect(b.schema).to.deep.equal(a.schema);
      expect(b.warnings).to.deep.equal(a.warnings);
      // the lone district and the 3-person one (30 rows): not listed, flagged, "other" proposed
      expect(by.district!.role).to.equal('dimension');
      expect(by.district!.values).to.deep.equal([...districts, 'other'].sort());
      expect(text).to.not.include(LONE).and.not.include('呈贡区');
      expect(a.warnings.join('\n')).to.match(/column district: 2 value\(s\) are held by fewer than 5 distinct citizen values/);
      expect(a.warnings.join('\n')).to.match(/merged they still hold fewer than 5/); // 1 + 3 people
      // the phone column: never a measure or a dimension, level ≥ 3, with a warning; no number in the draft
      expect(by.phone!.role).to.be.oneOf(['attribute', 'identifier']);
      expect(by.phone!.level).to.be.at.least(3);
      expect(a.warnings.join('\n')).to.match(/column phone holds mobile phone numbers: drafted as a text attribute at level 3, never as a measure or dimension/);
      for (const p of phones) expect(text).to.not.include(p);
      for (const id of people) expect(text).to.not.include(id);
      expect(by.citizen).to.include({ role: 'identifier', level: 3 });
    });

    it('k is an option, and people are rows when there is no identifier', async () => {
      const file = write('planted-c.csv', 5000, false);
      const k2 = await describeCsv(file, { sector: 'population', minPeople: 2 });
      expect(k2.schema.columns.find((c) => c.name === 'district')!.values).to.include('呈贡区');
      const k4 = await describeCsv(file, { sector: 'population', minPeople: 4 });
      expect(k4.schema.columns.find((c) => c.name === 'district')!.values).to.not.include('呈贡区');
      // without the identifier column, each of the 30 rows counts
      const noId = join(dir, 'planted-noid.csv');
      const { readFileSync } = await import('node:fs');
      writeFileSync(noId, readFileSync(file, 'utf8').split('\n').map((l) => l.split(',').slice(1).join(',')).join('\n'));
      const rowsK = await describeCsv(noId, { sector: 'population', minPeople: 20 });
      expect(rowsK.schema.columns.find((c) => c.name === 'district')!.values).to.include('呈贡区');
    });

    it('rows with another number of fields than the header are named in a warning (the check refuses them)', async () => {
      const file = join(dir, 'ragged.csv');
      writeFileSync(file, 'id,age,city\nA1,30,km\nA2,40\nA3,50,km,extra\nA4,60,km\n');
      const d = await describeCsv(file, { sector: 'tourism' });
      expect(d.warnings.filter((w) => /fields/.test(w))).to.deep.equal(["2 row(s) have another number of fields than the header's 3 (the first: row 2): `owner check` refuses them; fix the CSV before sealing"]);
      writeFileSync(file, 'id,age,city\nA1,30,km\nA2,40,km\n');
      expect((await describeCsv(file, { sector: 'tourism' })).warnings.filter((w) => /fields/.test(w))).to.deep.equal([]);
    });

    it('a CSV whose bytes are not UTF-8 text is refused, naming row and column', async () => {
      const file = join(dir, 'nul.csv');
      writeFileSync(file, 'a,b\n1,x\n2,y\u0000z\n');
      try {
        await describeCsv(file, { sector: 'population' });
        expect.fail('described');
      } catch (e) {
        expect(isDomainError(e) && e.type).to.equal('csv-invalid');
        expect((e as Error).message).to.match(/row 2, column b: holds a NUL byte/);
      }
    });
  });
});
