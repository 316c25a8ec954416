import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregateComputation } from '../../contracts/computation.js';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { isDomainError } from '../../contracts/errors.js';
import { toB64 } from '../../crypto/index.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import { withCommitment } from '../../formats/manifest.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { columnValue, parseFixed, planAggregate } from '../../he/layout.js';
import { verifyBundle } from '../../he/bundle-check.js';
import { HeContext, type HeDecryptor } from '../../he/seal.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import { galoisKeysPath, openOrCreateKeystore, publicInfoOf, type Keystore } from '../../enclave/keystore/keystore.js';
import { checkEncryptedShape, decryptGroupTotals } from '../../enclave/release/he-totals.js';
import { scaleOf } from '../../contracts/dataset/schema.js';
import type { EnclavePublicInfo } from '../../formats/enclave-protocol.js';
import { CHANNELS, generateRows, heReleaser, makeParties, REGIONS, sqliteOf, testSchema, writeCsv, type TestRow, startTestEnclave } from './fixtures.js';

/**
 * HE layout v2: partition totals packed into ciphertext slots. A small table's bundle stays near its CSV's
 * size; group totals (server: pass the touched blocks on; enclave: decrypt once, add the planned slots) equal
 * the plaintext sums for random group-bys and filters, on a packed bundle and on an old one-ciphertext-per-
 * partition (v1) bundle, which still releases through the enclave process.
 */

const ROWS = 2000;

/** A realistic 2,000-row table with many partitions: 31 provinces × 20 industries, five measures. */
const PROVINCES = Array.from({ length: 31 }, (_, i) => `p${String(i).padStart(2, '0')}`);
const INDUSTRIES = Array.from({ length: 20 }, (_, i) => `ind-${i}`);
const wideSchema = DatasetSchema.parse({
  sector: 'macro-economy',
  columns: [
    { name: 'firm_id', type: 'identifier', role: 'identifier', level: 3 },
    { name: 'province', type: 'category', role: 'dimension', level: 1, values: PROVINCES },
    { name: 'industry', type: 'category', role: 'dimension', level: 2, values: INDUSTRIES },
    { name: 'revenue', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100000] },
    { name: 'employees', type: 'int', role: 'measure', level: 2, bounds: [0, 5000] },
    { name: 'growth', type: 'decimal(1)', role: 'measure', level: 2, bounds: [-50, 50] },
    { name: 'tax', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 20000] },
    { name: 'founded', type: 'date', role: 'attribute', level: 2 },
  ],
});

describe('HE layout v2: partition totals packed into ciphertext slots', function () {
  this.timeout(180_000);
  let dir: string;
  let keystore: Keystore;
  let info: EnclavePublicInfo;
  let evaluator: HeEvaluator;
  let he: HeContext;
  let decryptor: HeDecryptor;
  let rows: TestRow[];
  let packed: SealResult;
  let old: SealResult;
  const parties = makeParties();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-he-packed-'));
    ({ keystore } = await openOrCreateKeystore({ dir: join(dir, 'enclave', 'keystore'), masterSecret: 'test-master-secret-0123456789', operatorPublicKeyPem: parties.operatorPem }));
    info = publicInfoOf(keystore);
    evaluator = new HeEvaluator({ threads: 2 });
    he = await HeContext.create(keystore.he.params);
    decryptor = he.decryptor(keystore.he.secretKey);
    rows = generateRows(ROWS, 23);
    writeCsv(join(dir, 'data.csv'), rows);
    packed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'packed'), rowsPerChunk: 700, evaluator });
    old = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 700, evaluator, heLayout: 1 });
  });

  after(async () => {
    decryptor?.delete();
    he?.delete();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bundleBytes = (s: SealResult) => statSync(s.manifestPath).size + readdirSync(s.blobDir).reduce((n, f) => n + statSync(join(s.blobDir, f)).size, 0);

  it('a realistic 2,000-row table over 31 × 20 partitions seals to at most 5× its CSV, in ⌈partitions × columns / N⌉ ciphertexts', async () => {
    const csv = join(dir, 'firms.csv');
    const r = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31))(99);
    const lines = ['firm_id,province,industry,revenue,employees,growth,tax,founded'];
    for (let i = 0; i < ROWS; i++) {
      lines.push(
        [
          `91530100MA${String(100000 + i * 37).padStart(8, '0')}`,
          PROVINCES[Math.floor(r() * PROVINCES.length)],
          INDUSTRIES[Math.floor(r() * INDUSTRIES.length)],
          (Math.floor(r() * 10_000_000) / 100).toFixed(2),
          Math.floor(r() * 5001),
          ((Math.floor(r() * 1001) - 500) / 10).toFixed(1),
          (Math.floor(r() * 2_000_000) / 100).toFixed(2),
          `20${String(Math.floor(r() * 24)).padStart(2, '0')}-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`,
        ].join(','),
      );
    }
    writeFileSync(csv, lines.join('\n') + '\n');
    const s = await sealDataset({ input: csv, schema: wideSchema, enclave: info, outDir: join(dir, 'firms'), evaluator });
    const { layout } = s.manifest;
    expect(layout.partitions.length, 'most of the 620 partitions occur').to.be.greaterThan(500);
    const cts = s.manifest.chunks.filter((c) => c.kind === 'he');
    expect(cts.length).to.equal(Math.ceil((layout.partitions.length * layout.columns.length) / layout.slotsPerCiphertext));
    const ratio = bundleBytes(s) / statSync(csv).size;
    expect(ratio, `bundle ${bundleBytes(s)} B vs CSV ${statSync(csv).size} B`).to.be.at.most(5);
    // and the bundle still passes the server's check
    await verifyBundle(s.manifest, (h) => readFileSync(bundleBlobPath(join(dir, 'firms'), h)), { expected: { paramsId: info.he.paramsId, hePublicKeyFingerprint: info.he.publicKeyFingerprint } });
  });

  it('the old-layout bundle is v1 (one ciphertext per partition and column) and the packed one far smaller', () => {
    expect(old.manifest.layout.packing).to.equal(undefined);
    expect(packed.manifest.layout.packing).to.deep.include({ version: 2 });
    const heOld = old.manifest.chunks.filter((c) => c.kind === 'he').length;
    expect(heOld).to.equal(old.manifest.layout.partitions.length * old.manifest.layout.columns.length);
    expect(packed.manifest.chunks.filter((c) => c.kind === 'he').length).to.equal(1);
  });

  it('the server check refuses a packed manifest whose packing or block names were edited (re-committed)', async () => {
    const get = (h: string) => readFileSync(bundleBlobPath(join(dir, 'packed'), h));
    await verifyBundle(packed.manifest, get);
    const { commitment: _c, ...body } = structuredClone(packed.manifest);
    const tamper = async (edit: (b: typeof body) => void, reason: RegExp) => {
      const b = structuredClone(body);
      edit(b);
      const r = await verifyBundle(withCommitment(b), get).then(() => 'accepted', (e) => (isDomainError(e) ? e.message : String(e)));
      expect(r).to.match(reason);
    };
    await tamper((b) => (b.layout.packing!.partitionsPerCiphertext = 1), /packing does not match/);
    await tamper((b) => {
      const c = b.chunks.find((x) => x.kind === 'he')!;
      if (c.kind === 'he') c.block = 3;
    }, /block 3, which does not exist|block 0 has a missing/);
    await tamper((b) => {
      const c = b.chunks.find((x) => x.kind === 'he')!;
      if (c.kind === 'he') Object.assign(c, { partition: 0, column: '_count' });
    }, /must name a block/);
  });

  /** The plaintext total of every planned column per planned group, from the CSV rows themselves. */
  function plaintextTotals(s: SealResult, computation: AggregateComputation): Record<string, bigint>[] {
    const plan = planAggregate(s.manifest, computation);
    const { layout, schema } = s.manifest;
    const partOf = new Map(layout.partitions.map((p, i) => [p.key.join(','), i]));
    const dims = layout.partitionBy.map((n) => schema.columns.find((c) => c.name === n)!);
    const groupOfPartition = new Map<number, number>();
    plan.groups.forEach((g, gi) => g.partitions.forEach((p) => groupOfPartition.set(p, gi)));
    const out = plan.groups.map((g) => (g.partitions.length ? Object.fromEntries(plan.columns.map((c) => [c, 0n])) : {}) as Record<string, bigint>);
    for (const row of rows) {
      const p = partOf.get(dims.map((d) => d.values!.indexOf(row[d.name as keyof TestRow])).join(','))!;
      const gi = groupOfPartition.get(p);
      if (gi === undefined) continue;
      for (const id of plan.columns) {
        const col = layout.columns.find((c) => c.id === id)!;
        if (col.power === 0) {
          out[gi]![id]! += 1n;
          continue;
        }
        const m = schema.columns.find((c) => c.name === col.measure)!;
        out[gi]![id]! += columnValue(col, parseFixed(row[m.name as keyof TestRow], scaleOf(m.type))!);
      }
    }
    return out;
  }

  const computations = fc
    .record({
      groupBy: fc.subarray(['region', 'channel']),
      regions: fc.option(fc.subarray(REGIONS, { minLength: 1 }), { nil: undefined }),
      channels: fc.option(fc.subarray(CHANNELS, { minLength: 1 }), { nil: undefined }),
      measures: fc.subarray(['amount', 'qty', 'big'], { minLength: 1 }),
      variance: fc.boolean(),
    })
    .map((g) =>
      AggregateComputation.parse({
        kind: 'aggregate',
        metrics: [{ op: 'count' }, ...g.measures.map((m) => ({ op: g.variance && m !== 'big' ? 'variance' : 'sum', measure: m }))],
        groupBy: g.groupBy,
        filters: [...(g.regions ? [{ column: 'region', in: g.regions }] : []), ...(g.channels ? [{ column: 'channel', in: g.channels }] : [])],
      }),
    );

  const evaluated = async (s: SealResult, c: AggregateComputation) => {
    const enc = await evaluator.evaluateAggregate({
      manifest: s.manifest,
      computation: c,
      galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'enclave', 'keystore')) },
      blobPath: (h) => bundleBlobPath(join(s.manifestPath, '..'), h),
    });
    const plan = planAggregate(s.manifest, c);
    checkEncryptedShape(s.manifest, plan, enc);
    return { enc, plan, totals: decryptGroupTotals(s.manifest, plan, enc, decryptor) };
  };

  it('group totals equal the plaintext sums for random group-bys and filters — packed layout (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(computations, async (c) => {
        const { enc, totals } = await evaluated(packed, c);
        expect(enc.groups.every((g) => Object.keys(g.columns).length === 0)).to.equal(true);
        expect(totals).to.deep.equal(plaintextTotals(packed, c));
      }),
      { numRuns: 25 },
    );
  });

  it('group totals equal the plaintext sums for random group-bys and filters — old one-ciphertext-per-partition layout (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(computations, async (c) => {
        const { enc, totals } = await evaluated(old, c);
        expect(enc.blocks).to.equal(undefined);
        expect(totals).to.deep.equal(plaintextTotals(old, c));
      }),
      { numRuns: 3 },
    );
  });

  it('the enclave refuses a packed aggregate with a block missing, an extra block, or v1 columns', async () => {
    const c = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['region'], filters: [] });
    const { enc, plan } = await evaluated(packed, c);
    const refused = (e: typeof enc) => {
      try {
        checkEncryptedShape(packed.manifest, plan, e);
        return 'accepted';
      } catch (err) {
        return isDomainError(err) ? err.type : String(err);
      }
    };
    expect(refused({ ...enc, blocks: [] })).to.equal('release-refused');
    expect(refused({ ...enc, blocks: [...enc.blocks!, { block: 1, ciphertext: enc.blocks![0]!.ciphertext }] })).to.equal('release-refused');
    expect(refused({ ...enc, groups: enc.groups.map((g) => ({ ...g, columns: { _count: enc.blocks![0]!.ciphertext } })) })).to.equal('release-refused');
    // and a v1 bundle refuses packed blocks
    const v1 = await evaluated(old, c);
    expect(() => checkEncryptedShape(old.manifest, v1.plan, { ...v1.enc, blocks: enc.blocks! })).to.throw(/packed blocks/);
  });

  describe('an old-layout (v1) bundle still releases through the enclave process', () => {
    let enclave: EnclaveClient;
    before(async () => {
      enclave = await startTestEnclave(dir, parties, { SHUYU_ENCLAVE_TEST_MODE: '1' });
    });
    after(() => enclave?.stop());
    // heReleaser evaluates the bundle in `dir`/bundle: the old-layout one
    const v1 = heReleaser(() => ({ dir, enclave, evaluator, info, sealed: old, parties }));
    const exact = { minGroupSize: 1, mode: 'exact-for-tests' } as const;

    it('GROUP BY region: count and Σamount equal SQLite', async () => {
      const c = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'amount' }], groupBy: ['region'], filters: [] });
      const out = await v1.releaseOf(c, exact);
      const db = sqliteOf(rows);
      try {
        const want = db.prepare('SELECT region, COUNT(*) AS n, SUM(amount_c) AS s FROM t GROUP BY region ORDER BY region').all() as { region: string; n: number; s: number }[];
        const got = out.result.groups.map((g) => ({ region: g.key[0], n: g.values.count, s: Math.round((g.values['sum(amount)'] as number) * 100) }));
        expect(got.sort((a, b) => String(a.region).localeCompare(String(b.region)))).to.deep.equal(want.map((w) => ({ region: w.region, n: w.n, s: w.s })));
      } finally {
        db.close();
      }
    });

    it('a raw partition ciphertext (a per-slot vector) instead of a summed aggregate is refused', async () => {
      const c = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: [], filters: [] });
      const chunk = old.manifest.chunks.find((x) => x.kind === 'he' && x.column === '_count')!;
      const raw = toB64(readFileSync(bundleBlobPath(join(dir, 'bundle'), chunk.sm3)));
      const encrypted = await v1.evaluate(c);
      const r = await v1.releaseOf(c, exact, { encrypted: { ...encrypted, groups: [{ key: [], columns: { _count: raw } }] } }).then(
        () => 'released',
        (e) => (isDomainError(e) ? e.type : String(e)),
      );
      expect(r).to.equal('he-not-aggregate');
    });
  });
});
