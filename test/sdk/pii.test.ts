import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import fc from 'fast-check';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import {
  PiiScanner,
  inspectCell,
  isBankCard,
  isEmail,
  isMobile,
  isResidentId,
  luhnValid,
  scanCsvStream,
} from '../../client-sdk/pii/index.js';
import { badCard, badCheckResidentId, badDateResidentId, badMobile, validCard, validMobile, validResidentId } from './pii-gen.js';

const known = JSON.parse(readFileSync(new URL('./vectors/pii-known.json', import.meta.url), 'utf8'));

describe('PII detection: check digits', () => {
  it('known resident ID numbers (GB 11643 worked example) pass and broken ones fail', () => {
    for (const v of known.residentId.valid) expect(isResidentId(v), v).to.equal(true);
    for (const v of known.residentId.invalid) expect(isResidentId(v), v).to.equal(false);
  });
  it('known Luhn, card, mobile and e-mail examples', () => {
    for (const v of known.luhn.valid) expect(luhnValid(v), v).to.equal(true);
    for (const v of known.luhn.invalid) expect(luhnValid(v), v).to.equal(false);
    for (const v of known.bankCard.valid) expect(isBankCard(v), v).to.equal(true);
    for (const v of known.bankCard.invalid) expect(isBankCard(v), v).to.equal(false);
    for (const v of known.mobile.valid) expect(isMobile(v), v).to.equal(true);
    for (const v of known.mobile.invalid) expect(isMobile(v), v).to.equal(false);
    for (const v of known.email.valid) expect(isEmail(v), v).to.equal(true);
    for (const v of known.email.invalid) expect(isEmail(v), v).to.equal(false);
  });
  it('generated ID numbers: valid pass; a wrong check character or an impossible birth date fails', () => {
    fc.assert(fc.property(validResidentId, (id) => isResidentId(id)), { numRuns: 500 });
    fc.assert(fc.property(badCheckResidentId, (id) => !isResidentId(id)), { numRuns: 500 });
    fc.assert(fc.property(badDateResidentId, (id) => !isResidentId(id)), { numRuns: 200 });
  });
  it('any single changed digit of a valid ID number is caught (MOD 11-2 detects all single substitutions)', () => {
    fc.assert(
      fc.property(validResidentId, fc.integer({ min: 0, max: 16 }), fc.integer({ min: 1, max: 9 }), (id, pos, delta) => {
        const d = (Number(id[pos]) + delta) % 10;
        const changed = id.slice(0, pos) + d + id.slice(pos + 1);
        return !isResidentId(changed);
      }),
      { numRuns: 500 },
    );
  });
  it('generated card numbers: valid pass Luhn, a changed check digit fails', () => {
    fc.assert(fc.property(validCard, (c) => isBankCard(c)), { numRuns: 500 });
    fc.assert(fc.property(badCard, (c) => !isBankCard(c)), { numRuns: 500 });
  });
  it('generated mobile numbers: 1[3-9] + 9 digits pass, other prefixes and lengths fail', () => {
    fc.assert(fc.property(validMobile, (m) => isMobile(m) && isMobile(`+86${m}`)), { numRuns: 300 });
    fc.assert(fc.property(badMobile, (m) => !isMobile(m)), { numRuns: 300 });
  });
  it('finds values embedded in free text, and does not count an ID number as a card', () => {
    const f = inspectCell('联系人 13812345678，证件 11010519491231002X，邮箱 li.lei@example.cn，卡 6222 0202 0011 2345 679');
    expect([...f.valid].sort()).to.deep.equal(['bank-card', 'cn-mobile', 'cn-resident-id', 'email']);
    fc.assert(fc.property(validResidentId, (id) => !inspectCell(id).shaped.has('bank-card')), { numRuns: 300 });
  });
});

describe('PII detection: per-column scan of a CSV', () => {
  const schema = DatasetSchema.parse({
    sector: 'health',
    columns: [
      { name: 'patient_id', type: 'identifier', role: 'identifier', level: 2 },
      { name: 'phone', type: 'text', role: 'attribute', level: 2 },
      { name: 'card', type: 'text', role: 'attribute', level: 3, tags: ['personal', 'sensitive-personal', 'financial'] },
      { name: 'note', type: 'text', role: 'attribute', level: 2 },
      { name: 'order_no', type: 'text', role: 'attribute', level: 1 },
      { name: 'department', type: 'category', role: 'dimension', level: 1, values: ['内科', '外科'] },
      { name: 'visits', type: 'int', role: 'measure', level: 2, bounds: [0, 100] },
    ],
  });

  function csv(n: number, seed: number): string {
    const ids = fc.sample(validResidentId, { numRuns: n, seed });
    const badIds = fc.sample(badCheckResidentId, { numRuns: n, seed });
    const phones = fc.sample(validMobile, { numRuns: n, seed });
    const cards = fc.sample(validCard, { numRuns: n, seed });
    const lines = ['patient_id,phone,card,note,order_no,department,visits'];
    for (let i = 0; i < n; i++) {
      // 90% valid IDs, 10% with broken check digits (typos): the column is still an ID column
      const id = i % 10 === 0 ? badIds[i] : ids[i];
      const note = i === 7 ? `call ${phones[i]}` : 'ok';
      // order numbers: 16 digits without Luhn structure — about 1 in 10 passes by chance, must not flag
      const order = String(1_000_000_000_000_000n + BigInt(i) * 7_919n);
      lines.push(`${id},${phones[i]},${cards[i]},${note},${order},${i % 2 ? '内科' : '外科'},${i % 50}`);
    }
    return lines.join('\n') + '\n';
  }

  it('flags ID, phone and card columns with ratios, suggests level 3 and tags, and warns on under-declared columns', async () => {
    const report = await scanCsvStream(Readable.from([csv(400, 42)]), { schema });
    expect(report.rowsScanned).to.equal(400);
    expect(report.flagged).to.deep.equal(['patient_id', 'phone', 'card', 'note']);
    expect(report.suggestedLevel).to.equal(3);
    const byName = Object.fromEntries(report.columns.map((c) => [c.column, c]));
    expect(byName.patient_id!.kinds).to.deep.equal(['cn-resident-id']);
    expect(byName.patient_id!.ratios['cn-resident-id']).to.equal(0.9);
    expect(byName.patient_id!.suggestedRole).to.equal('identifier');
    expect(byName.patient_id!.suggestedTags).to.deep.equal(['personal', 'sensitive-personal']);
    expect(byName.phone!.kinds).to.deep.equal(['cn-mobile']);
    expect(byName.phone!.ratios['cn-mobile']).to.equal(1);
    expect(byName.card!.kinds).to.deep.equal(['bank-card']);
    expect(byName.card!.suggestedTags).to.deep.equal(['personal', 'sensitive-personal', 'financial']);
    expect(byName.note!.kinds).to.deep.equal(['cn-mobile']);
    expect(byName.note!.hits['cn-mobile']).to.equal(1);
    expect(byName.order_no!.kinds).to.deep.equal([]);
    expect(byName.department!.suggestedLevel).to.equal(null);
    expect(byName.visits!.kinds).to.deep.equal([]);
    // card was declared correctly; the other three were not
    expect(byName.card!.underDeclared).to.equal(undefined);
    expect(report.warnings).to.have.length(3);
    expect(report.warnings[0]).to.match(/column patient_id holds resident ID numbers .* in 90% of 400 values: declared level 2/);
  });

  it('never puts a scanned value in the report', async () => {
    const text = csv(50, 7);
    const report = JSON.stringify(await scanCsvStream(Readable.from([text]), { schema }));
    for (const line of text.split('\n').slice(1, 51)) {
      for (const cell of line.split(',').slice(0, 3)) expect(report).not.to.contain(cell);
    }
  });

  it('stops at maxRows and works on any row source', () => {
    const s = new PiiScanner(['a'], { maxRows: 3 });
    for (const v of ['x', '', 'li.lei@example.cn']) s.addRow([v]);
    expect(s.full).to.equal(true);
    const r = s.report();
    expect(r.columns[0]!.values).to.equal(2);
    expect(r.columns[0]!.ratios.email).to.equal(0.5);
  });

  it('an empty or unparsable CSV is a typed error', async () => {
    let err: any;
    try {
      await scanCsvStream(Readable.from(['']));
    } catch (e) {
      err = e;
    }
    expect(err?.type).to.equal('csv-empty');
    err = undefined;
    try {
      await scanCsvStream(Readable.from(['a,b\n"unterminated,1\n']));
    } catch (e) {
      err = e;
    }
    expect(err?.type).to.equal('csv-unreadable');
  });
});
