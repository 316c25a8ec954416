import { expect } from 'chai';
import Database from 'better-sqlite3';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../../crypto/index.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { RowMapStore } from '../../../enclave/privacy/row-map.js';
import { importEmbeddedState } from '../../../enclave/state/import.js';
import { openEnclaveState } from '../../../enclave/state/state.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { CliUser } from '../../cli/harness.js';
import { dropSchema, freshSchema, testDatabaseUrl } from '../../store/engines.js';

const typeOf = (e: unknown): string => (isDomainError(e) ? e.type : String(e));

/**
 * From embedded to cluster (docs/deploy.md): an embedded data directory with a keystore and privacy state,
 * then SHUYU_ENCLAVE_DATABASE_URL set. The enclave refuses to mint a second keystore and an empty ledger; the
 * import moves the sealed keystore and every state row, after which the old ε is still spent.
 */
describe('enclave state: from embedded to cluster', function () {
  this.timeout(180_000);
  const masterSecret = 'import-master-secret-0123456789';
  const operatorPublicKeyPem = sm2PublicKeyToPem(sm2KeyPair().publicKey);
  const buyer = 'org-buyer';
  const dims = [{ name: 'region', values: ['north', 'south'] }];
  const rows = { rowCount: 20, codes: new Map([['region', Uint16Array.from({ length: 20 }, (_, i) => i % 2)]]) };
  const record = (store: PrivacyBudgetLedger['store'], region: string) =>
    new DifferencingGuard(store).checkAndRecord({ buyerOrgId: '*', datasetId: 'commit-1', k: 5, dimensions: dims, rows, sets: [{ dim: 'region', in: [region] }] });
  const partition = Int32Array.from({ length: 20 }, (_, i) => i % 3);
  let root: string;
  let dataDir: string;
  let keystoreDir: string;
  let backup: string;
  let schema: string;
  let signingPem: string;
  const user = new CliUser('import-state');
  const cluster = (s = schema) => ({ SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl(), SHUYU_ENCLAVE_DATABASE_SCHEMA: s });
  const start = (env?: Record<string, string>) => EnclaveClient.start({ dataDir: join(dataDir, 'enclave'), masterSecret, operatorPublicKeyPem, ...(env ? { env } : {}) });
  const keystoreRows = async (s: string): Promise<number> => {
    const state = await openEnclaveState({ location: testDatabaseUrl(), schema: s, poolSize: 1 });
    try {
      return (await state.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM enclave_keystore'))!.n;
    } finally {
      await state.close();
    }
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'shuyu-import-'));
    dataDir = join(root, 'data');
    keystoreDir = join(dataDir, 'enclave', 'keystore');
    schema = freshSchema();
    // embedded: the enclave creates its keystore and state file in the data directory
    const embedded = await start();
    signingPem = (await embedded.publicInfo()).signing.publicKeyPem;
    await embedded.stop();
    // a charge with its differencing history row, a recorded refusal and a row map, as releases leave them
    const ledger = await PrivacyBudgetLedger.open(join(keystoreDir, 'privacy-budget.sqlite'));
    try {
      await ledger.bindChargeKey({ chargeKey: 'trade:t1', tradeId: 't1', computationHash: 'a'.repeat(64) });
      await ledger.charge({ chargeKey: 'trade:t1', tradeId: 't1', buyerOrgId: buyer, datasetId: 'ds-1', datasetKey: 'commit-1', epsilon: 0.75, limitEpsilon: 1 }, async () => (await record(ledger.store, 'north')).blocks);
      await ledger.recordRefusal({ chargeKey: 'trade:t2', tradeId: 't2', buyerOrgId: buyer, datasetKey: 'commit-1', type: 'privacy-min-group-refused' });
      await new RowMapStore(ledger.store).put('commit-1', { partition });
    } finally {
      await ledger.close();
    }
    backup = join(root, 'backup-keystore');
    cpSync(keystoreDir, backup, { recursive: true });
  });
  after(async () => {
    user.cleanup();
    rmSync(root, { recursive: true, force: true });
    await dropSchema(schema);
  });

  it('with the database URL set, the enclave refuses to create a keystore and names the import command', async () => {
    const e = await start(cluster()).then(
      async (c) => {
        await c.stop();
        return null;
      },
      (err: unknown) => err,
    );
    expect(typeOf(e)).to.equal('keystore-not-imported');
    expect((e as Error).message).to.include('shuyu server import-enclave-state').and.include(`--data-dir ${dataDir}`);
    expect(await keystoreRows(schema), 'no keystore minted').to.equal(0);
  });

  it('imports: the same signing key, the old ε still spent, history, refusals and row map carried over', async () => {
    const r = await user.json(['server', 'import-enclave-state', '--data-dir', dataDir, '--schema', schema], { SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl() });
    expect(r).to.deep.include({ imported: true, schema, keystoreFiles: ['he-public-key.bin', 'he-relin-keys.bin', 'he-galois-keys.bin', 'keystore.json'] });
    expect(r.rows).to.deep.include({ privacy_charge: 1, privacy_charge_key: 1, privacy_refusal: 1, privacy_release_sets: 1, privacy_row_map: 1 });
    expect(readdirSync(keystoreDir)).to.include.members(['IMPORTED.json', 'keystore.json.imported', 'privacy-budget.sqlite.imported']).and.not.include('keystore.json');

    const enclave = await start(cluster());
    try {
      expect(enclave.created, 'the imported keystore is opened, not a new one made').to.equal(false);
      expect((await enclave.publicInfo()).signing.publicKeyPem).to.equal(signingPem);
    } finally {
      await enclave.stop();
    }
    // the sealed keystore moved byte for byte
    const ledger = await PrivacyBudgetLedger.open(testDatabaseUrl(), { schema });
    try {
      const sealed = await ledger.store.get<{ bytes: Buffer }>("SELECT bytes FROM enclave_keystore WHERE name = 'keystore.json'");
      expect(sealed!.bytes.equals(readFileSync(join(keystoreDir, 'keystore.json.imported')))).to.equal(true);
      expect(await ledger.spent(buyer, 'commit-1', 'ds-1')).to.deep.include({ epsilon: 0.75, charges: 1 });
      const over = { chargeKey: 'trade:t3', tradeId: 't3', buyerOrgId: buyer, datasetId: 'ds-1', datasetKey: 'commit-1', epsilon: 0.5, limitEpsilon: 1 };
      expect(await ledger.charge(over, () => 1).then(() => 'charged', typeOf), 'the budget was not reset').to.equal('privacy-budget-exhausted');
      expect((await ledger.refusals(buyer, 'commit-1')).map((x) => x.type)).to.deep.equal(['privacy-min-group-refused']);
      expect([...(await new RowMapStore(ledger.store).get('commit-1', 20))!.partition]).to.deep.equal([...partition]);
      // what is left fits, and its history row follows the imported one (the identity continues after the copied ids)
      const rest = { ...over, chargeKey: 'trade:t4', tradeId: 't4', epsilon: 0.25 };
      await ledger.charge(rest, async () => (await record(ledger.store, 'south')).blocks);
      expect(await ledger.spent(buyer, 'commit-1', 'ds-1')).to.deep.include({ epsilon: 1, charges: 2 });
      expect(await new DifferencingGuard(ledger.store).history('*', 'commit-1')).to.deep.equal([
        { dim: 'region', in: ['north'] },
        { dim: 'region', in: ['south'] },
      ]);
    } finally {
      await ledger.close();
    }
  });

  it('an embedded start on the imported data directory is refused, not given a fresh keystore', async () => {
    expect(await start().then(async (c) => (await c.stop(), 'started'), typeOf)).to.equal('enclave-state-imported');
    expect(existsSync(join(keystoreDir, 'keystore.json'))).to.equal(false);
  });

  it('a second import is refused: the directory is marked, and a copy of it finds the schema not empty', async () => {
    const again = await user.run(['server', 'import-enclave-state', '--data-dir', dataDir, '--schema', schema], { SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl() });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/already imported/).and.match(/enclave-state-import-refused/);
    const copy = await importEmbeddedState({ keystoreDir: backup, url: testDatabaseUrl(), schema }).then(() => null, (e: unknown) => e);
    expect(typeOf(copy)).to.equal('enclave-state-import-refused');
    expect((copy as { detail: Record<string, unknown> }).detail).to.deep.include({ reason: 'target-not-empty', sameKeystore: true });
    expect(existsSync(join(backup, 'keystore.json')), 'a refused import marks nothing').to.equal(true);
    expect(await keystoreRows(schema)).to.equal(4);
  });

  it('a table the target lacks is refused before anything is copied', async () => {
    const other = freshSchema();
    const extra = new Database(join(backup, 'privacy-budget.sqlite'));
    extra.exec('CREATE TABLE privacy_unmigrated (x TEXT)');
    extra.close();
    try {
      const e = await importEmbeddedState({ keystoreDir: backup, url: testDatabaseUrl(), schema: other }).then(() => null, (err: unknown) => err);
      expect(typeOf(e)).to.equal('enclave-state-import-refused');
      expect((e as { detail: { reason: string; tables: string[] } }).detail).to.deep.equal({ reason: 'tables-differ', tables: ['privacy_unmigrated'] });
      expect(await keystoreRows(other)).to.equal(0);
    } finally {
      await dropSchema(other);
    }
  });
});
