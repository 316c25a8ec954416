import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { isDomainError } from '../../../contracts/errors.js';
import { isChargedPrivacyRefusal } from '../../../contracts/trade/trade.js';
import { PrivacyBudgetLedger, RECORDED_REFUSALS, type ChargeRequest } from '../../../enclave/privacy/ledger.js';
import { exactRowCapOf, pinExactRowCap } from '../../../enclave/privacy/row-cap.js';
import { DEFAULT_VERIFY_RATE_LIMIT, verifyRateLimitOf } from '../../../enclave/verify/calls.js';
import { testSchema } from '../fixtures.js';

/**
 * What the enclave pins on its own rather than take from each release request: one per-person row cap for the
 * exact releases of a dataset version, one approved trade and computation per charge key, and a verify rate
 * limit the server may tighten but not loosen. Every refusal here is decided from request terms alone.
 */
describe('release binding: row cap per version, charge key per trade, verify ceiling', () => {
  let dir: string;
  let ledger: PrivacyBudgetLedger;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-binding-'));
    ledger = await PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite'));
  });
  afterEach(async () => {
    await ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const typeOf = async (f: () => unknown): Promise<string> => {
    try {
      await f();
      return 'ok';
    } catch (e) {
      if (isDomainError(e)) return e.type;
      throw e;
    }
  };

  it('pins the first exact release’s row cap per version and refuses another, free and unrecorded', async () => {
    const pin = (commitment: string, m: number | undefined, tradeId = 't') => typeOf(() => pinExactRowCap(ledger.store, { commitment, schema: testSchema, maxRowsPerPerson: m, tradeId }));
    expect(await pin('v1', 1)).to.equal('ok');
    expect(await pin('v1', undefined), 'the default cap is 1').to.equal('ok');
    expect(await pin('v1', 10)).to.equal('privacy-row-cap-conflict');
    expect(await pin('v1', 1), 'a refused cap does not move the pin').to.equal('ok');
    expect(await pin('v2', 10), 'another version has its own pin').to.equal('ok');
    expect(await pin('v2', 1)).to.equal('privacy-row-cap-conflict');
    // HE reads every row: it gets the pinned cap back and releases only when nobody exceeds min(own, pinned)
    expect(await pinExactRowCap(ledger.store, { commitment: 'v2', schema: testSchema, maxRowsPerPerson: 3, tradeId: 'he', readsAllRows: true })).to.equal(10);
    expect(await pinExactRowCap(ledger.store, { commitment: 'v3', schema: testSchema, maxRowsPerPerson: 3, tradeId: 'he', readsAllRows: true }), 'and pins its own cap first').to.equal(3);
    expect(await pin('v3', 10)).to.equal('privacy-row-cap-conflict');
    // it reads no row and no result: neither recorded against the buyer nor charged
    expect(RECORDED_REFUSALS.has('privacy-row-cap-conflict')).to.equal(false);
    expect(isChargedPrivacyRefusal('privacy-row-cap-conflict')).to.equal(false);
  });

  it('treats every cap alike where each row is a person (no identifier): m reads no other rows there', async () => {
    const rowsArePeople = { ...testSchema, columns: testSchema.columns.filter((c) => c.role !== 'identifier') };
    expect(exactRowCapOf(rowsArePeople, 10)).to.equal(1);
    expect(exactRowCapOf(testSchema, 10)).to.equal(10);
    expect(await typeOf(() => pinExactRowCap(ledger.store, { commitment: 'v', schema: rowsArePeople, maxRowsPerPerson: 1, tradeId: 'a' }))).to.equal('ok');
    expect(await typeOf(() => pinExactRowCap(ledger.store, { commitment: 'v', schema: rowsArePeople, maxRowsPerPerson: 10, tradeId: 'b' }))).to.equal('ok');
  });

  it('binds a charge key to one trade and one computation, and a trade to one key', async () => {
    const bind = (chargeKey: string, tradeId: string, computationHash: string) => typeOf(() => ledger.bindChargeKey({ chargeKey, tradeId, computationHash }));
    const h1 = 'a'.repeat(64);
    const h2 = 'b'.repeat(64);
    expect(await bind('k1', 'trade-a', h1)).to.equal('ok');
    expect(await bind('k1', 'trade-a', h1), 'a retried release').to.equal('ok');
    expect(await bind('k1', 'trade-b', h2), 'another trade under the key').to.equal('privacy-charge-conflict');
    expect(await bind('k1', 'trade-a', h2), 'another computation under the key').to.equal('privacy-charge-conflict');
    expect(await bind('k2', 'trade-a', h1), 'the trade under a second key (fresh noise, a second refusal)').to.equal('privacy-charge-conflict');
    expect(isChargedPrivacyRefusal('privacy-charge-conflict')).to.equal(false);
  });

  it('refuses a key bound to a refusal of another trade before binding existed, and stores the trade with a charge', async () => {
    await ledger.recordRefusal({ chargeKey: 'old', tradeId: 'trade-old', buyerOrgId: 'org', datasetKey: 'c', type: 'privacy-differencing-refused' });
    expect(await typeOf(() => ledger.bindChargeKey({ chargeKey: 'old', tradeId: 'trade-new', computationHash: 'c'.repeat(64) }))).to.equal('privacy-charge-conflict');

    // a charge made before keys were bound names no trade: only the trade its key was derived from replays it
    await ledger.charge({ chargeKey: 'trade:old', buyerOrgId: 'org', datasetId: 'ds', datasetKey: 'c', epsilon: 0.1, limitEpsilon: 5 }, () => 7);
    expect(await typeOf(() => ledger.bindChargeKey({ chargeKey: 'trade:old', tradeId: 'trade-other', computationHash: 'e'.repeat(64) }))).to.equal('privacy-charge-conflict');
    expect(await typeOf(() => ledger.bindChargeKey({ chargeKey: 'trade:old', tradeId: 'old', computationHash: 'e'.repeat(64) }))).to.equal('ok');

    await ledger.bindChargeKey({ chargeKey: 'k', tradeId: 'trade-a', computationHash: 'd'.repeat(64) });
    const req: ChargeRequest = { chargeKey: 'k', tradeId: 'trade-a', buyerOrgId: 'org', datasetId: 'ds', datasetKey: 'c', epsilon: 0.5, limitEpsilon: 5 };
    expect((await ledger.charge(req, () => 41)).result).to.equal(41);
    expect(await ledger.charge(req, () => 42), 'the same trade replays its output').to.deep.include({ result: 41, replayed: true });
    expect(await typeOf(() => ledger.charge({ ...req, tradeId: 'trade-b' }, () => 43)), "another trade cannot replay the key's output").to.equal('privacy-charge-conflict');
    const db = new Database(join(dir, 'privacy.sqlite'), { readonly: true });
    try {
      expect(db.prepare('SELECT trade_id, computation_hash FROM privacy_charge WHERE charge_key = ?').get('k')).to.deep.equal({ trade_id: 'trade-a', computation_hash: 'd'.repeat(64) });
    } finally {
      db.close();
    }
  });

  it("lets the server tighten the verify rate limit, never loosen it past the enclave's", async () => {
    const hour = 3600_000;
    expect(verifyRateLimitOf(undefined)).to.deep.equal(DEFAULT_VERIFY_RATE_LIMIT);
    expect(verifyRateLimitOf({ maxCalls: 1, windowMs: hour })).to.deep.equal({ maxCalls: 1, windowMs: hour });
    expect(verifyRateLimitOf({ maxCalls: 60, windowMs: 24 * hour })).to.deep.equal({ maxCalls: 60, windowMs: 24 * hour });
    expect(await typeOf(() => verifyRateLimitOf({ maxCalls: 61, windowMs: hour }))).to.equal('release-refused');
    // 60 a minute is 60 an hour in every minute-long window, but 3,600 an hour
    expect(await typeOf(() => verifyRateLimitOf({ maxCalls: 60, windowMs: 60_000 }))).to.equal('release-refused');
  });
});
