import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { AggregateComputation } from '../../../contracts/computation.js';
import { DatasetSchema } from '../../../contracts/dataset/schema.js';
import type { BundleManifest } from '../../../formats/manifest.js';
import { planAggregate } from '../../../he/layout.js';
import { DifferencingGuard, differencingScope } from '../../../enclave/privacy/differencing.js';
import { applyOutputGate } from '../../../enclave/privacy/gate.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { guardRowsOf, heDifferencingCheck, heGroupSizes, RowMapStore, type RowMap } from '../../../enclave/privacy/row-map.js';
import { mapRowsInSandbox } from '../../../enclave/sandbox/sandbox.js';
import { runSqlComputation } from '../../../enclave/sql/run.js';
import { COLUMNS, makeRows, newKeys, refusedType, schema, sealRows } from '../sql/fixture.js';

/**
 * Exact HE releases are checked on the SAME history of released sets as exact SQL releases; people are
 * counted from the row map the sandbox derives from the sealed rows; the gate and guard calls are the ones
 * enclave/release/aggregate.ts makes.
 * 400 rows; exactly one person lives in 'west' (row 9, person P000007).
 */
const K = 5;
const rows = makeRows(400).map((r, i) => {
  const copy = [...r];
  if (i === 8) copy[1] = 'west';
  else if (copy[1] === 'west') copy[1] = 'north';
  return copy;
});

// the owner's sealer numbers partitions in order of first appearance of (region, channel) codes
const regionValues = schema.columns.find((c) => c.name === 'region')!.values!;
const channelValues = schema.columns.find((c) => c.name === 'channel')!.values!;
const partitions: { key: number[] }[] = [];
const expectedPartition = rows.map((r) => {
  const key = [regionValues.indexOf(r[1] as string), channelValues.indexOf(r[2] as string)];
  let p = partitions.findIndex((x) => x.key.join(',') === key.join(','));
  if (p < 0) p = partitions.push({ key }) - 1;
  return p;
});
const manifest = {
  schema,
  rowCount: rows.length,
  layout: {
    partitionBy: ['region', 'channel'],
    partitions,
    columns: [
      { id: '_count', power: 0, scale: 0 },
      { id: 'nights', measure: 'nights', power: 1, scale: 0 },
    ],
    slotsPerCiphertext: 4096,
  },
} as unknown as BundleManifest;


describe('differencing guard: exact HE releases on the joint HE + SQL history', function () {
  this.timeout(60_000);
  const keys = newKeys();
  const chunks = sealRows(rows, keys.publicKey, 150);
  const buyer = 'org-buyer';
  const scope = differencingScope('c0mmitment');
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  let guard: DifferencingGuard;
  let map: RowMap;

  before(async () => {
    map = await mapRowsInSandbox({ schema, layout: manifest.layout, chunks, unwrapPrivateKey: keys.privateKey });
  });
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-hediff-'));
    ledger = await PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
    guard = new DifferencingGuard(ledger.store);
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An exact HE release as aggregate.ts makes it: plan → group sizes → gate with the guard in beforeRelease. */
  async function heRelease(c: unknown): Promise<{ released: string[][]; withheld: string[][] }> {
    const computation = AggregateComputation.parse(c);
    const plan = planAggregate(manifest, computation);
    // group sizes as the decrypted _count would give them: counted on the plaintext, independently of the map
    const inGroup = (r: (typeof rows)[number], parts: number[]) => parts.includes(expectedPartition[rows.indexOf(r)]!);
    const groupRows = plan.groups.map((g) => rows.filter((r) => inGroup(r, g.partitions)).length);
    expect(heGroupSizes(plan, map, partitions.length).rows, 'the map describes the ciphertexts').to.deep.equal(groupRows);
    const record = heDifferencingCheck({ guard, buyerOrgId: buyer, datasetId: scope, k: K, schema, plan, filters: computation.filters, map });
    const groups = plan.groups.map((g, i) => ({ key: g.key.map((code, j) => (computation.groupBy[j] === 'region' ? regionValues : channelValues)[code]!), rows: groupRows[i]!, values: {} }));
    const keyIndex = new Map(groups.map((g, i) => [JSON.stringify(g.key), i]));
    let withheld: string[][] = [];
    const out = await applyOutputGate(groups, { minGroupSize: K }, {
      bounds: {},
      beforeRelease: (rel, w) => {
        withheld = w; // the guard's view only: the outcome names no withheld key
        return record(new Set(rel.map((g) => keyIndex.get(JSON.stringify(g.key))!)));
      },
    });
    return { released: out.groups.map((g) => g.key), withheld };
  }
  const sql = (query: string) =>
    runSqlComputation({ query, schema, chunks, unwrapPrivateKey: keys.privateKey, policy: { minGroupSize: K }, differencing: { guard, buyerOrgId: buyer, datasetId: scope, rowMap: map } });
  const sumNights = { op: 'sum', measure: 'nights' };

  it('the sandbox row map gives every row its sealed partition and numbers subjects by identifier, never values', () => {
    expect([...map.partition]).to.deep.equal(expectedPartition);
    const ids = rows.map((r) => r[COLUMNS.indexOf('person_id')]);
    const subjects = [...map.subjects!];
    for (let i = 1; i < rows.length; i++) expect(subjects[i] === subjects[i - 1], `rows ${i}, ${i + 1}`).to.equal(ids[i] === ids[i - 1]);
    expect(new Set(subjects).size).to.equal(new Set(ids).size);
  });

  it('HE total, then HE total filtered to leave out a one-person partition: refused', async () => {
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights] }))).to.equal('released');
    const rest = { kind: 'aggregate', metrics: [sumNights], filters: [{ column: 'region', in: ['north', 'south', 'east'] }] };
    expect(await refusedType(() => heRelease(rest))).to.equal('privacy-differencing-refused');
  });

  it('grouped HE release with a withheld one-person group, then the matching HE total: refused', async () => {
    const filter = [{ column: 'region', in: ['north', 'west'] }];
    const grouped = await heRelease({ kind: 'aggregate', metrics: [sumNights], groupBy: ['region'], filters: filter });
    expect(grouped.withheld).to.deep.equal([['west']]);
    expect(grouped.released).to.deep.equal([['north']]);
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights], filters: filter }))).to.equal('privacy-differencing-refused');
    // grouped over the whole table: its withheld rows (west) are one person, so the grouped release itself is refused
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights], groupBy: ['region'] }))).to.equal('privacy-differencing-refused');
  });

  it('mixing paths: HE total then SQL without the west person, and SQL then HE, are refused', async () => {
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights] }))).to.equal('released');
    expect(await refusedType(sql("SELECT SUM(nights) AS s FROM dataset WHERE region IN ('north', 'south', 'east')"))).to.equal('privacy-differencing-refused');
    expect(await refusedType(sql("SELECT SUM(nights) AS s FROM dataset WHERE region <> 'west'"))).to.equal('privacy-differencing-refused');
    // the other order, on a fresh history (another buyer)
    const other = (q: string) =>
      runSqlComputation({ query: q, schema, chunks, unwrapPrivateKey: keys.privateKey, policy: { minGroupSize: K }, differencing: { guard, buyerOrgId: 'org-other', datasetId: scope, rowMap: map } });
    expect(await refusedType(other('SELECT COUNT(*) AS n, SUM(nights) AS s FROM dataset'))).to.equal('released');
    const heOther = () => {
      const c = AggregateComputation.parse({ kind: 'aggregate', metrics: [sumNights], filters: [{ column: 'region', in: ['north', 'south', 'east'] }] });
      const plan = planAggregate(manifest, c);
      return heDifferencingCheck({ guard, buyerOrgId: 'org-other', datasetId: scope, k: K, schema, plan, filters: c.filters, map })(new Set([0]));
    };
    expect(await refusedType(heOther)).to.equal('privacy-differencing-refused');
  });

  it('big partitions pass on both paths, repeatedly and mixed', async () => {
    const byChannel = await heRelease({ kind: 'aggregate', metrics: [{ op: 'count' }, sumNights], groupBy: ['channel'] });
    expect(byChannel.released).to.have.length(2);
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights] }))).to.equal('released');
    expect(await refusedType(() => heRelease({ kind: 'aggregate', metrics: [sumNights], groupBy: ['channel'] }))).to.equal('released');
    expect(await refusedType(sql('SELECT channel, COUNT(*) AS n, SUM(nights) AS s FROM dataset GROUP BY channel'))).to.equal('released');
    expect(await refusedType(sql('SELECT COUNT(*) AS n FROM dataset'))).to.equal('released');
  });

  it('the row map keeps every dimension\'s code per row; a map stored without them counts as missing', async () => {
    for (const name of ['region', 'channel']) {
      const values = schema.columns.find((c) => c.name === name)!.values!;
      const codes = map.dimensions!.find((d) => d.name === name)!.codes;
      expect([...codes].map((c) => values[c])).to.deep.equal(rows.map((r) => r[COLUMNS.indexOf(name)]));
    }
    const store = new RowMapStore(ledger.store);
    await store.put('old', { partition: map.partition, subjects: map.subjects! });
    expect((await store.get('old', rows.length))!.dimensions).to.equal(undefined);
    const old = (await store.get('old', rows.length))!;
    expect(await refusedType(() => guardRowsOf(old, 1))).to.equal('privacy-row-map-missing');
    await store.put('old', map); // derived again: replaced
    expect((await store.get('old', rows.length))!.dimensions!.map((d) => d.name)).to.deep.equal(['region', 'channel']);
  });

  it('a row whose dimension value is not declared is refused when the map is derived', async () => {
    const odd = rows.map((r, i) => (i === 5 ? r.map((v, j) => (j === COLUMNS.indexOf('channel') ? 'phone' : v)) : r));
    const sealed = sealRows(odd, keys.publicKey, 150);
    expect(await refusedType(mapRowsInSandbox({ schema, layout: { partitionBy: [], partitions: [{ key: [] }] }, chunks: sealed, unwrapPrivateKey: keys.privateKey }))).to.equal('row-chunk-invalid');
    // a numeric dimension whose declared values SQL would conflate ('03' = 3 = '3') cannot be mapped
    const numeric = DatasetSchema.parse({ ...schema, columns: schema.columns.map((c) => (c.name === 'channel' ? { ...c, type: 'int', values: ['3', '03'] } : c)) });
    expect(await refusedType(mapRowsInSandbox({ schema: numeric, layout: { partitionBy: [], partitions: [{ key: [] }] }, chunks, unwrapPrivateKey: keys.privateKey }))).to.equal('row-map-failed');
  });

  it('the map is cached per dataset commitment in the privacy database; a tampered chunk is refused', async () => {
    const store = new RowMapStore(ledger.store);
    expect(await store.get('c1', rows.length)).to.equal(undefined);
    await store.put('c1', map);
    const again = (await store.get('c1', rows.length))!;
    expect([...again.partition]).to.deep.equal([...map.partition]);
    expect([...again.subjects!]).to.deep.equal([...map.subjects!]);
    expect(await refusedType(() => store.get('c1', rows.length + 1))).to.equal('privacy-differencing-state');
    const box = new Uint8Array(chunks[1]!.sealed.box);
    box[40] = box[40]! ^ 1;
    const tampered = chunks.map((c, i) => (i === 1 ? { ...c, sealed: { ...c.sealed, box } } : c));
    expect(await refusedType(mapRowsInSandbox({ schema, layout: manifest.layout, chunks: tampered, unwrapPrivateKey: keys.privateKey }))).to.equal('row-chunk-invalid');
  });
});
