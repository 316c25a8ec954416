import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { AggregateComputation } from '../../contracts/computation.js';
import { isDomainError } from '../../contracts/errors.js';
import { fromB64, toB64 } from '../../crypto/index.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { EnclaveClient } from '../../server/enclave/client.js';
import type { AggregateReleaseRequest, EnclavePublicInfo, OutputPolicy } from '../../formats/enclave-protocol.js';
import { ping } from '../../enclave/process/handlers/ping.js';
import { verifyReceipt } from '../../formats/receipt.js';
import { galoisKeysPath } from '../../enclave/keystore/keystore.js';
import { CHANNELS, generateRows, heReleaser, makeParties, newTrade, REGIONS, sqliteOf, testSchema, writeCsv, type TestRow, startTestEnclave } from './fixtures.js';

/**
 * HE releases end to end through the real parts: owner-side sealing of a generated CSV → server-side
 * HE evaluation on piscina workers (public keys only) → release in the forked enclave process over its
 * message interface → signed receipt; every answer compared with SQLite over the same rows.
 */

const ROWS = 3000;
const K = 10;
const exact: OutputPolicy = { minGroupSize: K, mode: 'exact-for-tests' };

describe('enclave: sealing → HE aggregation → release', function () {
  this.timeout(120_000);
  let dir: string;
  let rows: TestRow[];
  let db: Database.Database;
  let enclave: EnclaveClient;
  let info: EnclavePublicInfo;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-he-'));
    rows = generateRows(ROWS);
    db = sqliteOf(rows);
    writeCsv(join(dir, 'data.csv'), rows);
    enclave = await startTestEnclave(dir, parties, { SHUYU_ENCLAVE_TEST_MODE: '1' });
    info = await enclave.publicInfo();
    evaluator = new HeEvaluator({ threads: 2 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 1000, evaluator });
  });

  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const he = heReleaser(() => ({ dir, enclave, evaluator, info, sealed, parties }));
  const evaluate = he.evaluate;
  const releaseOf = (c: unknown, policy: OutputPolicy = exact, patch: Partial<AggregateReleaseRequest> = {}) => he.releaseOf(AggregateComputation.parse(c), policy, patch);

  /** SQLite's answer: count, sum, mean, sample variance, stddev per group (same definitions as the enclave). */
  function sqlite(where: string, groupBy: string[]) {
    const g = groupBy.join(', ');
    const q = `SELECT ${g ? g + ',' : ''} COUNT(*) AS n, SUM(amount) AS s_amount, AVG(amount) AS m_amount,
      (SUM(amount*amount) - SUM(amount)*SUM(amount)/COUNT(*)) / (COUNT(*) - 1) AS v_amount,
      SUM(qty) AS s_qty, AVG(qty) AS m_qty, (SUM(qty*qty) - SUM(qty)*SUM(qty)*1.0/COUNT(*)) / (COUNT(*) - 1) AS v_qty,
      SUM(amount_c) AS s_amount_c, SUM(big) AS s_big
      FROM t ${where} ${g ? 'GROUP BY ' + g + ' ORDER BY ' + g : ''}`;
    return db.prepare(q).all() as Record<string, number | string>[];
  }
  const close = (a: number | null | undefined, b: number, what: string) => {
    expect(a, what).to.be.a('number');
    expect(Math.abs((a as number) - b), `${what}: ${a} vs ${b}`).to.be.lessThan(1e-6 * Math.max(1, Math.abs(b)));
  };
  const allMetrics = [
    { op: 'count' },
    { op: 'sum', measure: 'amount' },
    { op: 'mean', measure: 'amount' },
    { op: 'variance', measure: 'amount' },
    { op: 'stddev', measure: 'amount' },
    { op: 'sum', measure: 'qty' },
    { op: 'mean', measure: 'qty' },
    { op: 'variance', measure: 'qty' },
  ];

  it('ungrouped COUNT/SUM/MEAN/VAR/STDDEV equal SQLite, and the receipt verifies (pinned key and openssl)', async () => {
    const out = await releaseOf({ kind: 'aggregate', metrics: allMetrics });
    const [e] = sqlite('', []);
    expect(out.result.groups).to.have.length(1);
    const v = out.result.groups[0]!.values;
    expect(v.count).to.equal(e!.n);
    close(v['sum(amount)'], e!.s_amount as number, 'sum(amount)');
    expect(Math.round((v['sum(amount)'] as number) * 100)).to.equal(e!.s_amount_c); // exact in cents
    close(v['mean(amount)'], e!.m_amount as number, 'mean(amount)');
    close(v['variance(amount)'], e!.v_amount as number, 'variance(amount)');
    close(v['stddev(amount)'], Math.sqrt(e!.v_amount as number), 'stddev(amount)');
    expect(v['sum(qty)']).to.equal(e!.s_qty);
    close(v['mean(qty)'], e!.m_qty as number, 'mean(qty)');
    close(v['variance(qty)'], e!.v_qty as number, 'variance(qty)');

    const check = verifyReceipt(out.receipt, { pinnedPublicKeyPem: info.signing.publicKeyPem });
    expect(check.valid, JSON.stringify(check)).to.equal(true);
    const payload = JSON.parse(out.receipt.payload);
    expect(payload).to.include({ datasetCommitment: sealed.manifest.commitment, offerId: 'offer-1', signingKeyFingerprint: info.signing.fingerprint });
    expect(payload.price).to.deep.equal({ amountFen: 12_345, currency: 'CNY' });
    expect(payload.computationHash).to.match(/^[0-9a-f]{64}$/);
    expect(payload.privacy.minGroupSize).to.equal(K);
    expect(payload.receiptId).to.match(/^[0-9a-f-]{36}$/);

    // A receipt must verify with plain OpenSSL (README "Receipts")
    const d = mkdtempSync(join(tmpdir(), 'shuyu-receipt-'));
    try {
      writeFileSync(join(d, 'payload'), out.receipt.payload);
      writeFileSync(join(d, 'sig'), fromB64(out.receipt.signature));
      writeFileSync(join(d, 'pub.pem'), out.receipt.publicKeyPem);
      const res = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(d, 'pub.pem'), '-rawin', '-digest', 'sm3', '-pkeyopt', 'distid:1234567812345678', '-in', join(d, 'payload'), '-sigfile', join(d, 'sig')], { encoding: 'utf8' });
      expect(res).to.match(/Signature Verified Successfully/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('GROUP BY region equals SQLite; the group below k and the empty group are both absent, named nowhere', async () => {
    const out = await releaseOf({ kind: 'aggregate', metrics: allMetrics, groupBy: ['region'] });
    const expected = sqlite('', ['region']);
    const small = expected.filter((e) => (e.n as number) < K).map((e) => [e.region]);
    expect(small, 'fixture has a group below k').to.deep.equal([['rare']]);
    expect(JSON.stringify(out.result) + out.receipt.payload).to.not.include('"rare"');
    const big = expected.filter((e) => (e.n as number) >= K);
    expect(out.result.groups.map((g) => g.key)).to.have.deep.members(big.map((e) => [e.region]));
    expect(out.result.groups.flatMap((g) => g.key)).to.not.include('unused');
    for (const e of big) {
      const g = out.result.groups.find((x) => x.key[0] === e.region)!;
      expect(g.values.count).to.equal(e.n);
      expect(Math.round((g.values['sum(amount)'] as number) * 100)).to.equal(e.s_amount_c);
      close(g.values['mean(amount)'], e.m_amount as number, `mean ${e.region}`);
      close(g.values['variance(amount)'], e.v_amount as number, `var ${e.region}`);
      expect(g.values['sum(qty)']).to.equal(e.s_qty);
      close(g.values['variance(qty)'], e.v_qty as number, `var qty ${e.region}`);
    }
    expect(JSON.parse(out.receipt.payload).privacy).to.include({ absentGroups: 'empty-or-withheld' }).and.not.have.property('suppressedGroups');
  });

  it('two dimensions with IN filters equal SQLite', async () => {
    const out = await releaseOf({
      kind: 'aggregate',
      metrics: [{ op: 'count' }, { op: 'sum', measure: 'amount' }, { op: 'mean', measure: 'qty' }, { op: 'sum', measure: 'big' }],
      groupBy: ['channel', 'region'],
      filters: [{ column: 'region', in: ['north', 'east', 'rare'] }, { column: 'channel', in: ['web', 'phone'] }],
    });
    const expected = sqlite(`WHERE region IN ('north','east','rare') AND channel IN ('web','phone')`, ['channel', 'region']);
    const kept = expected.filter((e) => (e.n as number) >= K);
    expect(out.result.groups).to.have.length(kept.length);
    const withheld = expected.filter((e) => (e.n as number) < K).map((e) => [e.channel, e.region]);
    for (const w of withheld) expect(out.result.groups.map((g) => g.key)).to.not.deep.include(w);
    expect(out.result).to.not.have.property('suppressed');
    for (const e of kept) {
      const g = out.result.groups.find((x) => x.key[0] === e.channel && x.key[1] === e.region)!;
      expect(g, `${e.channel}/${e.region}`).to.exist;
      expect(g.values.count).to.equal(e.n);
      expect(Math.round((g.values['sum(amount)'] as number) * 100)).to.equal(e.s_amount_c);
      close(g.values['mean(qty)'], e.m_qty as number, 'mean qty');
      close(g.values['sum(big)'], e.s_big as number, 'sum big');
    }
  });

  it('a filter matching no row gives no group at all (as SQLite: COUNT 0, SUM NULL — withheld like any group below k)', async () => {
    const out = await releaseOf({ kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'amount' }], filters: [{ column: 'region', in: ['unused'] }] }, { minGroupSize: 1, mode: 'exact-for-tests' });
    const [e] = sqlite(`WHERE region = 'unused'`, []);
    expect(e!.n).to.equal(0);
    expect(out.result.groups).to.deep.equal([]);
    expect(out.result).to.not.have.property('suppressed');
  });

  describe('DP releases (per person, public domain)', () => {
    const dp = (epsilon: number): OutputPolicy => ({ minGroupSize: K, mode: 'enforce', dp: { epsilon }, maxRowsPerPerson: 1 });

    it('every region of the domain is released, each value noised — the group below k and the empty group too', async () => {
      const c = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'qty' }, { op: 'mean', measure: 'amount' }, { op: 'variance', measure: 'qty' }], groupBy: ['region'] };
      const out = await releaseOf(c, dp(1), { budget: { limitEpsilon: 10, chargeKey: 'dp-domain' } });
      expect(out.result.groups.map((g) => g.key)).to.deep.equal(REGIONS.map((r) => [r]));
      for (const g of out.result.groups) for (const o of out.result.outputs) expect(g.values[o], `${g.key[0]} ${o}`).to.be.a('number');
      expect(Object.keys(out.result.groups[0]!.values).sort()).to.deep.equal([...out.result.outputs].sort()); // hidden parts stay inside
      const privacy = JSON.parse(out.receipt.payload).privacy;
      // count (shared by the mean and variance), sum(qty) (shared by the variance), Σamount, Σqty²
      expect(privacy.measurements).to.equal(4);
      expect(privacy).to.include({ absentGroups: 'none', epsilonSpent: 1 });
      expect(privacy.accuracy['sum(qty)']).to.include({ sensitivity: 151 }); // m·max|bound| + m grid units of rounding
      expect(privacy.accuracy['mean(amount)']).to.include({ halfWidth95: null }).and.have.property('formula');
      const truth = sqlite('', ['region']);
      for (const e of truth.filter((x) => (x.n as number) > 500)) {
        const g = out.result.groups.find((x) => x.key[0] === e.region)!;
        expect(Math.abs((g.values.count as number) - (e.n as number))).to.be.lessThan(6 * privacy.accuracy.count.halfWidth95);
        expect(g.values['mean(amount)'] as number).to.be.closeTo(e.m_amount as number, 5);
      }
    });

    it("the domain is narrowed only by the computation's own filters on the grouped column", async () => {
      // a lone sum: the group's row count is used by no output and no part, so it is not given to the gate
      const c = { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'qty' }], groupBy: ['channel', 'region'], filters: [{ column: 'region', in: ['unused', 'north'] }] };
      const out = await releaseOf(c, dp(0.5), { budget: { limitEpsilon: 10, chargeKey: 'dp-filter' } });
      expect(out.result.groups.map((g) => g.key)).to.deep.equal(CHANNELS.flatMap((ch) => ['north', 'unused'].map((r) => [ch, r])));
      expect(out.result.groups.every((g) => Object.keys(g.values).join() === 'sum(qty)' && typeof g.values['sum(qty)'] === 'number')).to.equal(true);
      expect(JSON.parse(out.receipt.payload).privacy.measurements).to.equal(1);
    });
  });

  it('wide bounds are stored as digit columns: SUM/MEAN/VAR of a ±1,000,000.00 measure equal SQLite exactly', async () => {
    expect(sealed.manifest.layout.columns.filter((x) => x.measure === 'big').map((x) => x.id)).to.deep.equal(['big#0', 'big#1', 'big^2#0', 'big^2#1', 'big^2#2', 'big^2#3']);
    const out = await releaseOf({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'big' }, { op: 'mean', measure: 'big' }, { op: 'variance', measure: 'big' }], groupBy: ['region'] });
    const expected = db
      .prepare(`SELECT region, COUNT(*) AS n, SUM(big_c) AS s, AVG(big) AS m, (SUM(big*big) - SUM(big)*SUM(big)/COUNT(*)) / (COUNT(*) - 1) AS v FROM t GROUP BY region`)
      .all() as { region: string; n: number; s: number; m: number; v: number }[];
    for (const e of expected.filter((x) => x.n >= K)) {
      const g = out.result.groups.find((x) => x.key[0] === e.region)!;
      expect(Math.round((g.values['sum(big)'] as number) * 100), `sum ${e.region}`).to.equal(e.s);
      close(g.values['mean(big)'], e.m, `mean ${e.region}`);
      close(g.values['variance(big)'], e.v, `variance ${e.region}`);
    }
  });

  it('refuses computations the layout or the plain modulus cannot answer exactly', async () => {
    const { checkOverflow } = await import('../../he/layout.js');
    const { BFV_N4096_T40 } = await import('../../he/params.js');
    const huge = { ...sealed.manifest, rowCount: 30_000_000 };
    expect(() => checkOverflow(huge, AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'variance', measure: 'qty' }] }), BFV_N4096_T40)).to.throw(/could overflow/);
    expect(() => checkOverflow(huge, AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'qty' }] }), BFV_N4096_T40)).to.not.throw();
    expect(() => checkOverflow({ ...huge, rowCount: 3_000_000 }, AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'variance', measure: 'big' }] }), BFV_N4096_T40)).to.throw(/could overflow/);
    const fails = async (c: unknown, type: string) => {
      try {
        await evaluate(AggregateComputation.parse(c));
        expect.fail('should refuse');
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal(type);
      }
    };
    await fails({ kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['segment'] }, 'he-unsupported-layout');
    await fails({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'note' }] }, 'computation-invalid');
    await fails({ kind: 'aggregate', metrics: [{ op: 'count' }], filters: [{ column: 'region', in: ['mars'] }] }, 'computation-invalid');
  });

  it("a blob swapped on the server's disk fails evaluation with a typed error (not a worker crash)", async () => {
    const hes = sealed.manifest.chunks.filter((x) => x.kind === 'he');
    const other = (hes[1] ?? sealed.manifest.chunks.find((x) => x.kind === 'rows')!).sm3;
    const swapped = (h: string) => bundleBlobPath(join(dir, 'bundle'), h === hes[0]!.sm3 ? other : h);
    const r = await evaluator
      .evaluateAggregate({
        manifest: sealed.manifest,
        computation: AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'amount' }] }),
        galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'enclave', 'keystore')) },
        blobPath: swapped,
      })
      .then(() => 'evaluated', (e) => (isDomainError(e) ? `${e.type}: ${e.message}` : `untyped: ${e}`));
    expect(r).to.match(/^he-ciphertext-invalid: .*does not match its SM3 name/);
  });

  it('the bundle, scanned byte by byte, contains no measure, identifier or attribute value of the CSV', () => {
    const files = [sealed.manifestPath, ...readdirSync(sealed.blobDir).map((f) => join(sealed.blobDir, f))];
    const haystacks = files.map((f) => readFileSync(f));
    const needles = new Set<string>();
    for (const r of rows) {
      needles.add(r.customer_id);
      needles.add(r.note);
      needles.add(r.opened);
      for (const m of [r.amount, r.big]) if (m.length >= 6) needles.add(m);
    }
    // one pass per file: every 6-byte window is looked up among the needles' 6-byte prefixes
    const byPrefix = new Map<string, string[]>();
    for (const n of needles) {
      const p = n.slice(0, 6);
      (byPrefix.get(p) ?? byPrefix.set(p, []).get(p)!).push(n);
    }
    for (const h of haystacks) {
      const text = h.toString('latin1');
      for (let i = 0; i + 6 <= text.length; i++) {
        const cands = byPrefix.get(text.slice(i, i + 6));
        if (!cands) continue;
        for (const n of cands) expect(text.startsWith(n, i), `bundle leaks "${n}"`).to.equal(false);
      }
    }
    const checked = needles.size;
    expect(checked).to.be.greaterThan(ROWS * 2);
  });

  describe('the enclave refuses, over its message interface', () => {
    const c = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }] });
    async function refused(patch: (base: AggregateReleaseRequest) => AggregateReleaseRequest, type: string, reason?: RegExp) {
      const trade = newTrade(sealed.manifest.commitment);
      const base: AggregateReleaseRequest = {
        trade: { tradeId: trade.tradeId, datasetId: trade.datasetId, buyerOrgId: trade.buyerOrgId, offerId: 'offer-1', offerVersion: 1, priceFen: 100 },
        manifest: sealed.manifest,
        computation: c,
        approval: parties.approve(trade, c),
        reviewerCertificate: parties.certificate,
        policy: exact,
        encrypted: await evaluate(c),
      };
      try {
        await enclave.releaseAggregate(patch(base));
        expect.fail('the enclave released');
      } catch (e) {
        expect(isDomainError(e) && e.type, String(e)).to.equal(type);
        if (reason) expect((e as Error).message).to.match(reason);
      }
    }

    it('a missing approval', () => refused((b) => ({ ...b, approval: undefined }), 'approval-invalid', /malformed/));
    it('a forged approval (signed by a key the operator never certified)', async () => {
      const { sm2KeyPair } = await import('../../crypto/index.js');
      const mallory = sm2KeyPair();
      return refused((b) => ({ ...b, approval: parties.approve(newTradeFrom(b), c, mallory.privateKey) }), 'approval-invalid', /signature/);
    });
    it('an approval whose statement was edited after signing', () =>
      refused((b) => {
        const a = structuredClone(b.approval) as { statement: { buyerOrgId: string } };
        a.statement.buyerOrgId = 'org-buyer';
        (a.statement as Record<string, unknown>).offerVersion = 2;
        return { ...b, approval: a };
      }, 'approval-invalid'));
    it('an approval bound to a different computation hash', () => {
      const other = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'sum', measure: 'amount' }] });
      return refused((b) => ({ ...b, approval: parties.approve(newTradeFrom(b), other) }), 'approval-invalid', /computation/);
    });
    it('an approval bound to a different dataset', () =>
      refused((b) => ({ ...b, approval: parties.approve({ ...newTradeFrom(b), datasetCommitment: 'f'.repeat(64) }, c) }), 'approval-invalid', /dataset/));
    it('an approval bound to a different buyer', () =>
      refused((b) => ({ ...b, trade: { ...b.trade, buyerOrgId: 'org-other' } }), 'approval-invalid', /buyer/));
    it('a reviewer certificate not signed by the pinned operator key', async () => {
      const { certifyReviewer } = await import('../../contracts/review/approval.js');
      const { sm2KeyPair } = await import('../../crypto/index.js');
      const fakeOperator = sm2KeyPair();
      return refused((b) => ({ ...b, reviewerCertificate: certifyReviewer(parties.certificate.statement, fakeOperator.privateKey) }), 'approval-invalid', /operator/);
    });
    it('a DP policy without the offer’s ε budget terms', () =>
      refused((b) => ({ ...b, policy: { minGroupSize: 1, dp: { epsilon: 1 } } }), 'release-refused', /budget/));
    it("a production enclave (no SHUYU_ENCLAVE_TEST_MODE) refuses the 'exact-for-tests' policy", async () => {
      const prod = await EnclaveClient.start({ dataDir: join(dir, 'enclave'), masterSecret: 'test-master-secret-0123456789', operatorPublicKeyPem: parties.operatorPem });
      try {
        const trade = newTrade(sealed.manifest.commitment);
        const r = await prod
          .releaseAggregate({
            trade: { tradeId: trade.tradeId, datasetId: trade.datasetId, buyerOrgId: trade.buyerOrgId, offerId: 'offer-1', offerVersion: 1, priceFen: 1 },
            manifest: sealed.manifest,
            computation: c,
            approval: parties.approve(trade, c),
            reviewerCertificate: parties.certificate,
            policy: exact,
            encrypted: await evaluate(c),
          })
          .then(() => 'released', (e) => (isDomainError(e) ? e.type : String(e)));
        expect(r).to.equal('release-refused');
      } finally {
        await prod.stop();
      }
    });
    it('an encrypted aggregate of another computation', async () => {
      const other = await evaluate(AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['region'] }));
      return refused((b) => ({ ...b, encrypted: other }), 'release-refused', /another computation/);
    });
    it('a packed block that is not the ciphertext the bundle sealed (one of the server’s own making)', async () => {
      const [forged] = await evaluator.encrypt({ paramsId: info.he.paramsId, publicKey: { fingerprint: info.he.publicKeyFingerprint, bytes: fromB64(info.he.publicKey) }, vectors: [new BigInt64Array(4096).fill(1n)] });
      return refused((b) => ({ ...b, encrypted: { ...b.encrypted, blocks: [{ block: 0, ciphertext: toB64(forged!) }] } }), 'he-ciphertext-invalid', /not the ciphertext the bundle sealed/);
    });
    it('malformed, truncated and oversized ciphertexts — and stays alive', async () => {
      const good = (await evaluate(c)).blocks![0]!.ciphertext;
      const bytes = fromB64(good);
      const variants: [string, string][] = [
        ['garbage', toB64(new Uint8Array(200).fill(7))],
        ['truncated', toB64(bytes.subarray(0, bytes.length - 100))],
        ['flipped', toB64(Uint8Array.from(bytes, (x, i) => (i === 40 ? x ^ 0xff : x)))],
        ['oversized', toB64(new Uint8Array(400_000))],
        ['not base64', '%%%'],
      ];
      for (const [what, col] of variants) {
        await refused((b) => ({ ...b, encrypted: { ...b.encrypted, blocks: [{ block: 0, ciphertext: col }] } }), 'he-ciphertext-invalid').catch((e) => {
          throw new Error(`${what}: ${e}`);
        });
      }
      const alive = await enclave.call('ping', {}, ping.response);
      expect(alive.pid).to.equal(enclave.pid);
    });
  });

  it('memory does not grow across repeated aggregations (enclave process and evaluator workers)', async () => {
    const c = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'variance', measure: 'amount' }], groupBy: ['region'] };
    // warm-up: SEAL's heap and the allocator reach their working size (they settle within ~20 releases)
    for (let i = 0; i < 20; i++) await releaseOf(c);
    // a leak grows with every release: neither window of ten may add more than a little
    const rss = async () => ({ enclave: (await enclave.call('ping', { gc: true }, ping.response)).rssBytes, local: process.memoryUsage().rss });
    const before = await rss();
    for (let i = 0; i < 10; i++) await releaseOf(c);
    const mid = await rss();
    for (let i = 0; i < 10; i++) await releaseOf(c);
    const after = await rss();
    expect(mid.enclave - before.enclave, 'enclave RSS growth over ten releases').to.be.lessThan(16 * 1024 * 1024);
    expect(after.enclave - mid.enclave, 'enclave RSS growth over the next ten').to.be.lessThan(8 * 1024 * 1024);
    expect(mid.local - before.local, 'server-side (workers) RSS growth over ten releases').to.be.lessThan(48 * 1024 * 1024);
    expect(after.local - mid.local, 'server-side (workers) RSS growth over the next ten').to.be.lessThan(24 * 1024 * 1024);
  });
});

function newTradeFrom(b: AggregateReleaseRequest) {
  return { tradeId: b.trade.tradeId, datasetId: b.trade.datasetId, datasetCommitment: b.manifest.commitment, buyerOrgId: b.trade.buyerOrgId, offerId: b.trade.offerId, offerVersion: b.trade.offerVersion };
}
