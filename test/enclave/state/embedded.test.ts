import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { RowMapStore } from '../../../enclave/privacy/row-map.js';

/**
 * An embedded data directory written before the enclave had its own migration set: its privacy-budget.sqlite
 * holds the tables in their first shapes (columns were added one ALTER at a time since). Opening it takes the
 * file over in place — the missing columns added, the migration recorded — and keeps every row.
 */
describe('enclave state: an existing embedded file is migrated in place', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-enclave-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds the columns older files lack, keeps their charges, history and row maps, and opens again unchanged', async () => {
    const file = join(dir, 'privacy-budget.sqlite');
    const old = new Database(file);
    old.exec(`
      CREATE TABLE privacy_charge (charge_key TEXT PRIMARY KEY, buyer_org_id TEXT NOT NULL, dataset_id TEXT NOT NULL,
        epsilon_micro INTEGER NOT NULL CHECK (epsilon_micro >= 0), delta REAL NOT NULL DEFAULT 0, output_json TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE privacy_release_sets (id INTEGER PRIMARY KEY AUTOINCREMENT, buyer_org_id TEXT NOT NULL, dataset_id TEXT NOT NULL,
        sets TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE privacy_row_map (dataset_commitment TEXT PRIMARY KEY, row_count INTEGER NOT NULL, partitions BLOB NOT NULL,
        subjects BLOB, created_at TEXT NOT NULL);
    `);
    old.prepare(`INSERT INTO privacy_charge VALUES ('trade:t0', 'org', 'ds', 300000, 0, '{"v":1}', '2026-01-01T00:00:00.000Z')`).run();
    old.prepare(`INSERT INTO privacy_release_sets (buyer_org_id, dataset_id, sets, created_at) VALUES ('*', 'c', ?, '2026-01-01T00:00:00.000Z')`).run(JSON.stringify([{ all: true }]));
    const partitions = Int32Array.from([0, 1, 1]);
    const subjects = Int32Array.from([0, 0, 1]);
    old.prepare(`INSERT INTO privacy_row_map VALUES ('c', 3, ?, ?, '2026-01-01T00:00:00.000Z')`).run(Buffer.from(partitions.buffer), Buffer.from(subjects.buffer));
    old.close();

    for (let open = 0; open < 2; open++) {
      const ledger = await PrivacyBudgetLedger.open(file);
      try {
        // the old charge (no dataset key) counts for its listing, beside the charges made since
        expect((await ledger.spent('org', 'c', 'ds')).epsilon).to.be.closeTo(0.3 + 0.1 * open, 1e-9);
        expect(await new DifferencingGuard(ledger.store).history('*', 'c')).to.deep.equal([{ all: true }]);
        const map = (await new RowMapStore(ledger.store).get('c', 3))!;
        expect([...map.partition]).to.deep.equal([0, 1, 1]);
        expect(map.maxRowsPerSubject, 'computed for a map stored without it').to.equal(2);
        expect(map.dimensions, 'derived again on first need').to.equal(undefined);
        // the newer tables are there, and a charge binds its trade
        await ledger.bindChargeKey({ chargeKey: `trade:t${open + 1}`, tradeId: `t${open + 1}`, computationHash: 'a'.repeat(64) });
        await ledger.charge({ chargeKey: `trade:t${open + 1}`, tradeId: `t${open + 1}`, buyerOrgId: 'org', datasetId: 'ds', datasetKey: 'c', epsilon: 0.1, limitEpsilon: 1 }, () => 1);
        expect(await ledger.store.all('SELECT name FROM enclave_migrations ORDER BY name')).to.deep.equal([{ name: '0001_enclave_state.sql' }, { name: '0002_refusal_reservation.sql' }, { name: '0003_sandbox_share.sql' }]);
      } finally {
        await ledger.close();
      }
    }
    const after = new Database(file, { readonly: true });
    try {
      expect(after.prepare("SELECT trade_id, computation_hash FROM privacy_charge WHERE charge_key = 'trade:t2'").get()).to.deep.equal({ trade_id: 't2', computation_hash: 'a'.repeat(64) });
      expect((after.prepare('SELECT COUNT(*) AS n FROM privacy_charge').get() as { n: number }).n).to.equal(3);
    } finally {
      after.close();
    }
  });
});
