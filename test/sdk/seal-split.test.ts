import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { AggregateComputation } from '../../contracts/computation.js';
import { isDomainError } from '../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { decodeSealedRowChunk, openRowChunk, rowChunkAad } from '../../formats/row-chunk.js';
import { verifyBundle } from '../../he/bundle-check.js';
import { planAggregate } from '../../he/layout.js';
import { decryptGroupTotals } from '../../enclave/release/he-totals.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { BFV_N4096_T40 } from '../../he/params.js';
import { HeContext } from '../../he/seal.js';
import { galoisKeysPath, openOrCreateKeystore, publicInfoOf, type Keystore } from '../../enclave/keystore/keystore.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import { recordSegments, segmentRecords, splitPlan } from '../../client-sdk/dataset/csv-split.js';
import { CSV_PARSE_OPTIONS, csvParseIssue } from '../../client-sdk/dataset/csv-check.js';
import { bundleBlobPath, sealDataset, sealWorker, type SealProgress, type SealResult } from '../../client-sdk/dataset/seal.js';
import { generateRows, testSchema, writeCsv } from '../enclave/fixtures.js';

/**
 * Sealing a plain CSV file on worker threads over line-aligned byte ranges must give the bundle the single
 * streamed parse gives: the same rows in the same numbered chunks, the same partitions in the same order, the
 * same HE totals (and those equal the plaintext sums), the same row-precise errors.
 */
describe('client-sdk/dataset: sealing split over threads = the streamed sealing', function () {
  this.timeout(120_000);
  let dir: string;
  let ks: Keystore;
  let info: EnclavePublicInfo;
  let evaluator: HeEvaluator;
  let he: HeContext;
  const rows = generateRows(2500, 5);
  const bundles: Record<'split' | 'streamed', SealResult> = {} as never;
  const progress: SealProgress[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-split-'));
    ({ keystore: ks } = await openOrCreateKeystore({ dir: join(dir, 'ks'), masterSecret: 'split-test-secret-0123', operatorPublicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) }));
    info = publicInfoOf(ks);
    writeCsv(join(dir, 'd.csv'), rows);
    evaluator = new HeEvaluator({ threads: 2 });
    he = await HeContext.create(BFV_N4096_T40);
    for (const mode of ['split', 'streamed'] as const) {
      bundles[mode] = await sealDataset({
        input: join(dir, 'd.csv'),
        schema: testSchema,
        enclave: info,
        outDir: join(dir, mode),
        rowsPerChunk: 300,
        threads: 2,
        split: mode === 'split',
        evaluator,
        progressEvery: 1000,
        onProgress: mode === 'split' ? (p) => progress.push(p) : undefined,
      });
    }
  });
  after(async () => {
    await evaluator?.close();
    he?.delete();
    rmSync(dir, { recursive: true, force: true });
  });

  // a record's fields: plain text, or quoted with commas, doubled quotes and line breaks (the file's own ending) inside
  const field = (eol: string) =>
    fc.oneof(
      fc.stringMatching(/^[a-z0-9. -]{0,8}$/),
      fc.array(fc.constantFrom('a', ',', '""', eol, ' ', 'é'), { maxLength: 6 }).map((p) => `"${p.join('')}"`),
    );
  const recordsOf = (eol: string) => fc.array(fc.array(field(eol), { minLength: 1, maxLength: 4 }).map((f) => f.join(',')).filter((r) => r !== ''), { minLength: 1, maxLength: 60 });

  it('csv-split: segments reassemble the data records exactly and count them (fast-check, LF and CRLF, quoted line breaks, any sizes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean().chain((crlf) => fc.tuple(fc.constant(crlf), recordsOf(crlf ? '\r\n' : '\n'))), fc.boolean(), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 200 }), async ([crlf, records], lastEol, maxRecords, maxBytes) => {
        const eol = crlf ? '\r\n' : '\n';
        const text = ['h1,"h,2"', ...records].join(eol) + (lastEol ? eol : '');
        const f = join(dir, 'prop.csv');
        writeFileSync(f, text);
        const plan = await splitPlan(f);
        if (!plan) return text.includes(`${eol}${eol}`); // a blank line inside a quoted field is left to the streamed parse
        const segs = [];
        for await (const s of recordSegments(f, plan.dataStart, maxRecords, maxBytes)) segs.push(s);
        const joined = Buffer.concat([Buffer.from(plan.header), ...segs.map((s) => Buffer.from(s.bytes))]).toString();
        return joined === text && segs.reduce((n, s) => n + s.records, 0) === records.length && segs.every((s) => s.records >= 1 && s.records <= maxRecords);
      }),
      { numRuns: 150 },
    );
  });

  it('csv-split: the plan is made exactly when the file can be cut at line endings outside quotes, whatever the read size (fast-check)', async () => {
    const count = (t: string, p: string) => t.split(p).length - 1;
    const model = (t: string): number | undefined => {
      if (count(t, '"') % 2 !== 0) return undefined;
      if (t.startsWith('\n') || t.startsWith('\r\n') || t.includes('\n\n') || t.includes('\n\r\n')) return undefined;
      const cr = count(t, '\r');
      if (cr && !(cr === count(t, '\r\n') && cr === count(t, '\n'))) return undefined;
      // the header ends at the first line ending with an even number of quotes before it
      for (let i = t.indexOf('\n'); i !== -1; i = t.indexOf('\n', i + 1)) if (count(t.slice(0, i), '"') % 2 === 0) return Buffer.byteLength(t.slice(0, i + 1));
      return undefined;
    };
    const text = fc.array(fc.constantFrom('a', 'b', ',', 'é', '\n', '\n', '\r\n', '\r', '"'), { maxLength: 24 }).map((p) => p.join(''));
    await fc.assert(
      fc.asyncProperty(text, fc.constantFrom(1, 2, 3, 5, 64), async (t, readBytes) => {
        writeFileSync(join(dir, 'fc.csv'), t);
        const plan = await splitPlan(join(dir, 'fc.csv'), readBytes);
        const want = model(t);
        expect(plan?.dataStart, JSON.stringify(t)).to.equal(want);
        if (plan) expect(Buffer.from(plan.header).toString()).to.equal(Buffer.from(t).subarray(0, want).toString());
      }),
      { numRuns: 400 },
    );
  });

  it('csv-split: an accepted file\'s records are csv-parse\'s records, split anywhere; broken quoting fails at the same row (fast-check differential)', async () => {
    // byte pieces: multi-byte and invalid UTF-8, a BOM mid-line, quoted fields, and a stray quote now and then
    const plain = ['a', 'Z', '7', ',', ',', ' ', '\t', '-1.5', 'é', '中文', '\uFEFF', "'", '\\'].map((t) => Buffer.from(t));
    const piece = (eol: string) =>
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...plain, Buffer.of(0xff), Buffer.of(0xe4), Buffer.of(0xe4, 0xb8)) },
        { weight: 2, arbitrary: fc.constantFrom(',"q,1",', ',"",', `,"a${eol}b",`, ',"x""y",', ',"中,文",').map((t) => Buffer.from(t)) },
      );
    let accepted = 0;
    let broken = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean().chain((crlf) => fc.tuple(fc.constant(crlf), fc.array(fc.array(piece(crlf ? '\r\n' : '\n'), { minLength: 1, maxLength: 12 }).map((p) => Buffer.concat(p)), { minLength: 1, maxLength: 30 }))),
        fc.boolean(),
        fc.integer({ min: 1, max: 7 }),
        fc.option(fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 2, maxLength: 2 }), { freq: 2 }),
        async ([crlf, lines], lastEol, maxRecords, stray) => {
          // now and then two stray quotes (anywhere): quotes still balanced, quoting mostly broken
          for (const [n, pos] of stray ?? []) {
            const l = lines[n % lines.length]!;
            const at = pos % (l.length + 1);
            lines[n % lines.length] = Buffer.concat([l.subarray(0, at), Buffer.from('"'), l.subarray(at)]);
          }
          const eol = Buffer.from(crlf ? '\r\n' : '\n');
          const file = Buffer.concat([Buffer.from('h1,h2'), ...lines.flatMap((l) => [eol, l]), lastEol ? eol : Buffer.alloc(0)]);
          const f = join(dir, 'records.csv');
          writeFileSync(f, file);
          const plan = await splitPlan(f);
          if (!plan) return;
          accepted++;
          let whole: string[][] | undefined;
          let wholeRow = -1;
          try {
            whole = (parseCsvSync(file, CSV_PARSE_OPTIONS) as string[][]).slice(1);
          } catch (e) {
            wholeRow = csvParseIssue(e, 0, -1).row;
          }
          const records: string[][] = [];
          let splitRow = -1;
          for await (const s of recordSegments(f, plan.dataStart, maxRecords, 1 << 20)) {
            try {
              records.push(...segmentRecords(s.bytes));
            } catch (e) {
              splitRow = csvParseIssue(e, records.length + 1, -1).row;
              break;
            }
          }
          const what = JSON.stringify(file.toString('latin1'));
          if (whole) expect(records, what).to.deep.equal(whole);
          else {
            broken++;
            expect(splitRow, what).to.equal(wholeRow);
          }
        },
      ),
      { numRuns: 400 },
    );
    expect(accepted - broken, 'well-formed files split').to.be.greaterThan(100);
    expect(broken, 'files split whose quoting csv-parse refuses').to.be.greaterThan(10);
  });

  it('csv-split splits quoted files at record ends and refuses what it cannot cut safely (odd quotes, blank lines, mixed line endings)', async () => {
    const plan = (text: string) => {
      writeFileSync(join(dir, 'p.csv'), text);
      return splitPlan(join(dir, 'p.csv'));
    };
    expect(await plan('a,b\n1,2\n')).to.deep.include({ dataStart: 4 });
    expect(await plan('a,b\r\n1,2\r\n3,4')).to.deep.include({ dataStart: 5 });
    expect(await plan('a,b\n"1\n2",3\n')).to.deep.include({ dataStart: 4 });
    expect(await plan('"a\nb",c\n1,2\n')).to.deep.include({ dataStart: 8 });
    expect(await plan('"a\r\nb",c\r\n1,"2\r\n"\r\n')).to.deep.include({ dataStart: 10 });
    for (const bad of ['a,b\n"1\n2,3\n', 'a,b\n"1\n\n2",3\n', 'a,b\n1,2\n\n3,4\n', 'a,b\r\n1,2\n', 'a,b\r\n"1\n2",3\r\n', 'a,b\n1,2\r3,4\n', '\na,b\n1,2\n', 'a,b', '"a\nb,c\n1,2\n']) {
      expect(await plan(bad), JSON.stringify(bad)).to.equal(undefined);
    }
  });

  const packedCiphertexts = (b: SealResult) => Math.ceil((b.manifest.layout.partitions.length * b.manifest.layout.columns.length) / b.manifest.layout.slotsPerCiphertext);

  it('both bundles verify and hold the same rows in the same numbered chunks and the same partitions', async () => {
    const opened: Record<string, unknown[][]> = {};
    for (const mode of ['split', 'streamed'] as const) {
      const b = bundles[mode];
      const store = (h: string) => new Uint8Array(readFileSync(bundleBlobPath(join(dir, mode), h)));
      await verifyBundle(b.manifest, store);
      expect(b.manifest.rowCount).to.equal(rows.length);
      const refs = b.manifest.chunks.filter((c) => c.kind === 'rows');
      expect(refs.map((r) => r.rows)).to.deep.equal([...Array(8).fill(300), 100]);
      opened[mode] = refs.flatMap((r) => openRowChunk(decodeSealedRowChunk(store(r.sm3)), ks.unwrap.privateKey, rowChunkAad(b.manifest.bundleId, r.index)).rows);
      // the partitions' column totals packed into slots, whatever the partitions' row counts
      expect(b.manifest.chunks.filter((c) => c.kind === 'he')).to.have.length(packedCiphertexts(b));
    }
    expect(opened.split).to.deep.equal(opened.streamed);
    expect(opened.split![1234]![0]).to.equal(rows[1234]!.customer_id);
    expect(bundles.split.manifest.layout.partitions).to.deep.equal(bundles.streamed.manifest.layout.partitions);
    expect(progress.map((p) => p.rows)).to.deep.equal([1200, 2100, 2500]); // per merged chunk once a multiple of 1000 is passed, then the final call
    expect(progress.at(-1)).to.deep.include({ rowChunks: 9, ciphertexts: packedCiphertexts(bundles.split) });
  });

  it('HE totals per group are the same in both bundles and equal the plaintext sums', async () => {
    const computation = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'amount' }, { op: 'sum', measure: 'qty' }, { op: 'variance', measure: 'big' }], groupBy: ['region', 'channel'] });
    const dec = he.decryptor(ks.he.secretKey);
    const totals: Record<string, Record<string, Record<string, bigint>>> = {};
    try {
      for (const mode of ['split', 'streamed'] as const) {
        const m = bundles[mode].manifest;
        const agg = await evaluator.evaluateAggregate({
          manifest: m,
          computation,
          galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'ks')) },
          blobPath: (h) => bundleBlobPath(join(dir, mode), h),
        });
        totals[mode] = {};
        const plan = planAggregate(m, computation);
        const groupTotals = decryptGroupTotals(m, plan, agg, dec);
        agg.groups.forEach((g, gi) => {
          const key = g.key.map((k, i) => testSchema.columns.find((c) => c.name === agg.groupBy[i])!.values![k]).join('/');
          totals[mode]![key] = groupTotals[gi]!;
        });
      }
    } finally {
      dec.delete();
    }
    expect(totals.split).to.deep.equal(totals.streamed);
    const cents = (s: string) => BigInt(Math.round(Number(s) * 100));
    for (const [key, cols] of Object.entries(totals.split!)) {
      const inGroup = rows.filter((r) => `${r.region}/${r.channel}` === key);
      expect(cols._count, key).to.equal(BigInt(inGroup.length));
      expect(cols.amount, key).to.equal(inGroup.reduce((s, r) => s + cents(r.amount), 0n));
      expect(cols.qty, key).to.equal(inGroup.reduce((s, r) => s + BigInt(r.qty), 0n));
    }
  });

  it('the sealing workers run the bundled plain-JS build of seal-rows.ts, without the parent loader flags', async () => {
    const w = await sealWorker();
    expect(w.name).to.equal('sealSegment');
    expect(w.execArgv).to.deep.equal([]);
    expect(w.filename).to.match(/node_modules\/\.cache\/shuyu\/seal-rows-[0-9a-f]{32}\.mjs$/);
    expect(existsSync(new URL(w.filename))).to.equal(true);
  });

  it('a file with quoted fields (commas, quotes, line breaks) is split too, and seals the rows the streamed parse seals', async () => {
    // every other row: a line break late in the row, so that cuts looking for a line ending land inside quotes
    const quoted = rows.map((r, i) => (i % 2 === 1 ? { ...r, note: `say "hi", ${i}, ${'and so on, '.repeat(6)}\nsecond line, 第${i}行` } : r));
    writeCsv(join(dir, 'quoted.csv'), quoted);
    expect(await splitPlan(join(dir, 'quoted.csv'))).to.not.equal(undefined);
    const opened: Record<string, unknown[][]> = {};
    for (const split of [true, false]) {
      const out = join(dir, `quoted-${split}`);
      const b = await sealDataset({ input: join(dir, 'quoted.csv'), schema: testSchema, enclave: info, outDir: out, rowsPerChunk: 1000, threads: 2, split, evaluator }); // ~150 KB segments: cut into pieces inside too
      const store = (h: string) => new Uint8Array(readFileSync(bundleBlobPath(out, h)));
      opened[String(split)] = b.manifest.chunks.filter((c) => c.kind === 'rows').flatMap((r) => openRowChunk(decodeSealedRowChunk(store(r.sm3)), ks.unwrap.privateKey, rowChunkAad(b.manifest.bundleId, r.index)).rows);
    }
    expect(opened.true).to.deep.equal(opened.false);
    expect(opened.true).to.have.length(rows.length);
    expect(opened.true![1235]![testSchema.columns.findIndex((c) => c.name === 'note')]).to.equal(`say "hi", 1235, ${'and so on, '.repeat(6)}\nsecond line, 第1235行`);
  });

  it('broken quoting is the same csv-invalid refusal, naming the same row, split or streamed', async () => {
    const text = readFileSync(join(dir, 'd.csv'), 'utf8').split('\n');
    text[1500] = text[1500]!.replace(',', ',x"y'); // data row 1500: a quote inside an unquoted field
    text[1800] = text[1800]!.replace(',', ',"'); // and one more, so that the quotes balance and the file is split
    writeFileSync(join(dir, 'broken.csv'), text.join('\n'));
    expect(await splitPlan(join(dir, 'broken.csv'))).to.not.equal(undefined);
    const refusals: unknown[] = [];
    for (const split of [true, false]) {
      try {
        await sealDataset({ input: join(dir, 'broken.csv'), schema: testSchema, enclave: info, outDir: join(dir, `broken-${split}`), rowsPerChunk: 300, threads: 2, split, evaluator });
        expect.fail('sealed');
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal('csv-invalid');
        refusals.push({ message: (e as Error).message, detail: (e as { detail: unknown }).detail });
      }
      expect(existsSync(join(dir, `broken-${split}`)), 'no partial bundle').to.equal(false);
    }
    expect(refusals[0]).to.deep.equal(refusals[1]);
    expect((refusals[0] as { detail: { errors: { row: number; message: string }[] } }).detail.errors).to.deep.equal([
      { row: 1500, message: 'CSV cannot be parsed near row 1500: Invalid Opening Quote: a quote is found on field 1, value is "x"' },
    ]);
  });

  it('row-precise errors name the right line when the file is split', async () => {
    const bad = rows.map((r) => ({ ...r }));
    bad[6]!.qty = '9999'; // data row 7
    bad[1233]!.region = 'mars'; // data row 1234, in the fifth segment
    writeCsv(join(dir, 'bad.csv'), bad);
    for (const split of [true, false]) {
      try {
        await sealDataset({ input: join(dir, 'bad.csv'), schema: testSchema, enclave: info, outDir: join(dir, `bad-${split}`), rowsPerChunk: 300, threads: 2, split, evaluator });
        expect.fail('sealed');
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal('csv-invalid');
        const errors = (e as { detail: { errors: { row: number; message: string }[] } }).detail.errors;
        expect(errors.map((x) => x.row)).to.deep.equal([7, 1234]);
        expect(errors[1]!.message).to.equal("row 1234, column region: 'mars' is not one of the declared values of region");
      }
    }
  });
});
