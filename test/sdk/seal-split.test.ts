import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { AggregateComputation } from '../../contracts/computation.js';
import { isDomainError } from '../../contracts/errors.js';
import { fromB64, sm2KeyPair, sm2PublicKeyToPem } from '../../enclave/crypto/index.js';
import { decodeSealedRowChunk, openRowChunk, rowChunkAad } from '../../enclave/format/row-chunk.js';
import { verifyBundle } from '../../enclave/format/verify.js';
import { HeEvaluator } from '../../enclave/he/evaluate.js';
import { BFV_N4096_T40 } from '../../enclave/he/params.js';
import { HeContext } from '../../enclave/he/seal.js';
import { galoisKeysPath, openOrCreateKeystore, publicInfoOf, type Keystore } from '../../enclave/keystore/keystore.js';
import type { EnclavePublicInfo } from '../../enclave/process/protocol.js';
import { lineSegments, splitPlan, unquotedRecords } from '../../client-sdk/dataset/csv-split.js';
import { CSV_PARSE_OPTIONS } from '../../client-sdk/dataset/csv-check.js';
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

  it('csv-split: segments reassemble the data lines exactly and count them (fast-check, LF and CRLF, any sizes)', async () => {
    const line = fc.stringMatching(/^[a-z0-9,. -]{1,30}$/);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 60 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 200 }), async (lines, crlf, lastEol, maxLines, maxBytes) => {
        const eol = crlf ? '\r\n' : '\n';
        const text = ['h1,h2', ...lines].join(eol) + (lastEol ? eol : '');
        const f = join(dir, 'prop.csv');
        writeFileSync(f, text);
        const plan = await splitPlan(f);
        if (!plan) return false;
        const segs = [];
        for await (const s of lineSegments(f, plan.dataStart, maxLines, maxBytes)) segs.push(s);
        const joined = Buffer.concat([Buffer.from(plan.header), ...segs.map((s) => Buffer.from(s.bytes))]).toString();
        return joined === text && segs.reduce((n, s) => n + s.lines, 0) === lines.length && segs.every((s) => s.lines >= 1 && s.lines <= maxLines);
      }),
      { numRuns: 150 },
    );
  });

  it('csv-split: the plan is made exactly when every line is one record, whatever the read size (fast-check)', async () => {
    const count = (t: string, p: string) => t.split(p).length - 1;
    const model = (t: string): number | undefined => {
      if (t.includes('"') || !t.includes('\n')) return undefined;
      if (t.startsWith('\n') || t.startsWith('\r\n') || t.includes('\n\n') || t.includes('\n\r\n')) return undefined;
      const cr = count(t, '\r');
      if (cr && !(cr === count(t, '\r\n') && cr === count(t, '\n'))) return undefined;
      return Buffer.byteLength(t.slice(0, t.indexOf('\n') + 1));
    };
    const text = fc.array(fc.constantFrom('a', 'b', ',', 'é', '\n', '\n', '\r\n', '\r', '"'), { maxLength: 24 }).map((p) => p.join(''));
    await fc.assert(
      fc.asyncProperty(text, fc.constantFrom(1, 2, 3, 5, 64), async (t, readBytes) => {
        writeFileSync(join(dir, 'fc.csv'), t);
        const plan = await splitPlan(join(dir, 'fc.csv'), readBytes);
        const want = model(t);
        expect(plan?.dataStart, JSON.stringify(t)).to.equal(want);
        if (plan) expect(Buffer.from(plan.header).toString()).to.equal(t.slice(0, t.indexOf('\n') + 1));
      }),
      { numRuns: 400 },
    );
  });

  it('csv-split: the records of an accepted file are csv-parse\'s records, split anywhere (fast-check differential, multi-byte and invalid UTF-8)', async () => {
    // byte pieces of a line: no LF, no quote, no CR but in line endings (any file with those is not split, above)
    const piece = fc.constantFrom(...['a', 'Z', '7', ',', ',', ' ', '\t', '-1.5', 'é', '中文', '\uFEFF', "'", '\\'].map((t) => Buffer.from(t)), Buffer.of(0xff), Buffer.of(0xe4), Buffer.of(0xe4, 0xb8));
    const line = fc.array(piece, { minLength: 1, maxLength: 12 }).map((p) => Buffer.concat(p));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 30 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 7 }), async (lines, crlf, lastEol, maxLines) => {
        const eol = Buffer.from(crlf ? '\r\n' : '\n');
        const file = Buffer.concat([Buffer.from('h1,h2'), ...lines.flatMap((l) => [eol, l]), lastEol ? eol : Buffer.alloc(0)]);
        const f = join(dir, 'records.csv');
        writeFileSync(f, file);
        const plan = await splitPlan(f);
        if (!plan) return;
        accepted++; // all of them: every generated file qualifies
        const records: string[][] = [];
        for await (const s of lineSegments(f, plan.dataStart, maxLines, 1 << 20)) records.push(...unquotedRecords(s.bytes));
        expect(records, JSON.stringify(file.toString('latin1'))).to.deep.equal((parseCsvSync(file, CSV_PARSE_OPTIONS) as string[][]).slice(1));
      }),
      { numRuns: 300 },
    );
    expect(accepted).to.equal(300);
  });

  it('csv-split refuses files where a line is not exactly one record (quotes, blank lines, mixed line endings)', async () => {
    const plan = (text: string) => {
      writeFileSync(join(dir, 'p.csv'), text);
      return splitPlan(join(dir, 'p.csv'));
    };
    expect(await plan('a,b\n1,2\n')).to.deep.include({ dataStart: 4 });
    expect(await plan('a,b\r\n1,2\r\n3,4')).to.deep.include({ dataStart: 5 });
    for (const bad of ['a,b\n"1\n2",3\n', 'a,b\n1,2\n\n3,4\n', 'a,b\r\n1,2\n', 'a,b\n1,2\r3,4\n', '\na,b\n1,2\n', 'a,b']) {
      expect(await plan(bad), JSON.stringify(bad)).to.equal(undefined);
    }
  });

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
      // one ciphertext per partition and HE column, whatever the partition's row count
      expect(b.manifest.chunks.filter((c) => c.kind === 'he')).to.have.length(b.manifest.layout.partitions.length * b.manifest.layout.columns.length);
    }
    expect(opened.split).to.deep.equal(opened.streamed);
    expect(opened.split![1234]![0]).to.equal(rows[1234]!.customer_id);
    expect(bundles.split.manifest.layout.partitions).to.deep.equal(bundles.streamed.manifest.layout.partitions);
    expect(progress.map((p) => p.rows)).to.deep.equal([1200, 2100, 2500]); // per merged chunk once a multiple of 1000 is passed, then the final call
    expect(progress.at(-1)).to.deep.include({ rowChunks: 9, ciphertexts: bundles.split.manifest.layout.partitions.length * bundles.split.manifest.layout.columns.length });
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
        for (const g of agg.groups) {
          const key = g.key.map((k, i) => testSchema.columns.find((c) => c.name === agg.groupBy[i])!.values![k]).join('/');
          totals[mode]![key] = Object.fromEntries(Object.entries(g.columns).map(([col, b64]) => [col, dec.decryptAggregate(fromB64(b64))]));
        }
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
