import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isDomainError } from '../../../contracts/errors.js';
import { PrivacyBudgetLedger } from '../../../enclave/privacy/ledger.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import { openEnclaveState } from '../../../enclave/state/state.js';
import { openOrCreateKeystore, openKeystore, publicInfoOf, rotateMasterSecret, storeKeystore } from '../../../enclave/keystore/keystore.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../../crypto/index.js';
import { freshSchema, testDatabaseUrl } from '../../store/engines.js';

/** The run's throw-away database as another role (trust authentication in the test cluster). */
const urlAs = (role: string): string => {
  const u = new URL(testDatabaseUrl());
  u.username = role;
  u.password = '';
  return u.toString();
};

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: testDatabaseUrl() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The enclave's state in PostgreSQL, shared by the enclaves of a cluster: charges from two enclave processes on
 * one dataset never overspend, and the enclave schema is readable by the enclave role only (docs/deploy.md).
 */
describe('enclave state on PostgreSQL', function () {
  this.timeout(60_000);

  it('two enclaves charging one dataset budget concurrently: exactly the budget is spent, never more', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([PrivacyBudgetLedger.open(testDatabaseUrl(), { schema }), PrivacyBudgetLedger.open(testDatabaseUrl(), { schema })]);
    try {
      // 20 releases of ε 0.1 from two buyers, dataset-wide ε 1: ten fit
      const outcomes = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? a : b)
            .charge(
              {
                chargeKey: `trade:t${i}`,
                buyerOrgId: `org-${i % 3}`,
                datasetId: 'ds',
                datasetKey: 'commitment',
                epsilon: 0.1,
                limitEpsilon: 5,
                datasetLimitEpsilon: 1,
              },
              async () => ({ i }),
            )
            .then(
              () => 'charged',
              (e: unknown) => (isDomainError(e) ? e.type : String(e)),
            ),
        ),
      );
      expect(outcomes.filter((o) => o === 'charged')).to.have.length(10);
      expect(outcomes.filter((o) => o !== 'charged')).to.deep.equal(Array(10).fill('privacy-budget-exhausted'));
      expect(await a.spentByAll('commitment')).to.deep.include({ epsilon: 1, charges: 10 });
      expect(await b.spentByAll('commitment')).to.deep.include({ epsilon: 1, charges: 10 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a charge, its output and its differencing record commit together; a replay from the other enclave pays nothing', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([PrivacyBudgetLedger.open(testDatabaseUrl(), { schema }), PrivacyBudgetLedger.open(testDatabaseUrl(), { schema })]);
    try {
      const dims = [{ name: 'region', values: ['north', 'south'] }];
      const rows = { rowCount: 20, codes: new Map([['region', Uint16Array.from({ length: 20 }, (_, i) => i % 2)]]) };
      const check = (guard: DifferencingGuard, k: number) => guard.checkAndRecord({ buyerOrgId: '*', datasetId: 'c', k, dimensions: dims, rows, sets: [{ dim: 'region', in: ['north'] }] });
      const req = { chargeKey: 'trade:x', tradeId: 'x', buyerOrgId: 'org', datasetId: 'ds', datasetKey: 'c', epsilon: 0.5, limitEpsilon: 1 };
      // refused inside the charge: neither the charge nor the history row is kept
      const refused = await a.charge(req, async () => check(new DifferencingGuard(a.store), 50)).catch((e: unknown) => (isDomainError(e) ? e.type : String(e)));
      expect(refused).to.equal('privacy-differencing-refused');
      expect(await new DifferencingGuard(b.store).history('*', 'c')).to.deep.equal([]);
      expect((await b.spent('org', 'c')).charges).to.equal(0);
      const first = await a.charge(req, async () => ({ blocks: (await check(new DifferencingGuard(a.store), 5)).blocks, noise: Math.random() }));
      const replay = await b.charge(req, async () => ({ blocks: -1, noise: -1 }));
      expect(replay).to.deep.include({ replayed: true, result: first.result });
      expect(await b.spent('org', 'c')).to.deep.include({ epsilon: 0.5, charges: 1 });
      expect(await new DifferencingGuard(b.store).history('*', 'c')).to.deep.equal([{ dim: 'region', in: ['north'] }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('enclaves starting together migrate once and create one keystore, a row sealed under the master secret', async function () {
    this.timeout(120_000);
    const schema = freshSchema();
    const operatorPublicKeyPem = sm2PublicKeyToPem(sm2KeyPair().publicKey);
    const masterSecret = 'enclave-state-master-secret-0123';
    const states = await Promise.all([openEnclaveState({ location: testDatabaseUrl(), schema }), openEnclaveState({ location: testDatabaseUrl(), schema })]);
    try {
      const opened = await Promise.all(states.map((s) => openOrCreateKeystore({ dir: storeKeystore(s.store), masterSecret, operatorPublicKeyPem })));
      expect(opened.map((o) => o.created).sort()).to.deep.equal([false, true]);
      expect(publicInfoOf(opened[0]!.keystore)).to.deep.equal(publicInfoOf(opened[1]!.keystore));
      const sealed = await states[0]!.store.get<{ bytes: Buffer }>("SELECT bytes FROM enclave_keystore WHERE name = 'keystore.json'");
      expect(sealed!.bytes.toString('utf8')).to.not.include(Buffer.from(opened[0]!.keystore.signing.privateKey).toString('base64'));
      const refused = await openKeystore(storeKeystore(states[1]!.store), 'not-the-master-secret-at-all').catch((e: unknown) => (isDomainError(e) ? e.type : String(e)));
      expect(refused).to.equal('keystore-locked');
      // master-secret rotation re-seals the row: the same keys open under the new secret only
      const rotated = 'enclave-state-next-master-secret-4567';
      await rotateMasterSecret(storeKeystore(states[0]!.store), masterSecret, rotated);
      expect(publicInfoOf(await openKeystore(storeKeystore(states[1]!.store), rotated, operatorPublicKeyPem))).to.deep.equal(publicInfoOf(opened[0]!.keystore));
      expect(await openKeystore(storeKeystore(states[1]!.store), masterSecret).catch((e: unknown) => (isDomainError(e) ? e.type : String(e)))).to.equal('keystore-locked');
      const migrations = await states[0]!.store.all<{ name: string }>('SELECT name FROM enclave_migrations ORDER BY name');
      expect(migrations.map((m) => m.name)).to.deep.equal(['0001_enclave_state.sql', '0002_refusal_reservation.sql', '0003_sandbox_share.sql']);
    } finally {
      await Promise.all(states.map((s) => s.close()));
    }
  });

  it('roles: only the enclave role can use the enclave schema; it migrates and charges there', async () => {
    const tag = randomBytes(4).toString('hex');
    const appRole = `shuyu_app_${tag}`;
    const enclaveRole = `shuyu_enclave_${tag}`;
    const schema = `shuyu_enclave_${tag}`;
    // as the administrator, once per deployment (docs/deploy.md, "Roles")
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${appRole} LOGIN`);
      await c.query(`CREATE ROLE ${enclaveRole} LOGIN`);
      await c.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${enclaveRole}`);
      await c.query(`REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`);
    });
    const ledger = await PrivacyBudgetLedger.open(urlAs(enclaveRole), { schema });
    try {
      await ledger.charge({ chargeKey: 'trade:1', tradeId: '1', buyerOrgId: 'org', datasetId: 'ds', datasetKey: 'c', epsilon: 0.25, limitEpsilon: 1 }, () => ({ ok: true }));
      expect((await ledger.spent('org', 'c')).epsilon).to.equal(0.25);
      const app = new pg.Client({ connectionString: urlAs(appRole) });
      await app.connect();
      try {
        const denied = async (text: string): Promise<string> => app.query(text).then(() => 'allowed', (e: { code?: string }) => e.code ?? 'error');
        // 42501: insufficient_privilege — no USAGE on the schema, so no table in it can be named at all
        expect(await denied(`SELECT * FROM ${schema}.privacy_charge`)).to.equal('42501');
        expect(await denied(`SELECT bytes FROM ${schema}.enclave_keystore`)).to.equal('42501');
        expect(await denied(`CREATE TABLE ${schema}.intruder (x int)`)).to.equal('42501');
        const grants = await app.query(`SELECT has_schema_privilege($1, $2, 'USAGE') AS usage`, [appRole, schema]);
        expect(grants.rows[0]).to.deep.equal({ usage: false });
      } finally {
        await app.end();
      }
    } finally {
      await ledger.close();
      await admin(async (c) => {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.query(`DROP ROLE IF EXISTS ${appRole}`);
        await c.query(`DROP ROLE IF EXISTS ${enclaveRole}`);
      });
    }
  });

  it('refuses a schema another role owns or may use: that role could drop the ledger and have it re-created empty', async () => {
    const tag = randomBytes(4).toString('hex');
    const appRole = `shuyu_app_${tag}`;
    const enclaveRole = `shuyu_enclave_${tag}`;
    const [theirs, shared] = [`enclave_theirs_${tag}`, `enclave_shared_${tag}`];
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${appRole} LOGIN`);
      await c.query(`CREATE ROLE ${enclaveRole} LOGIN`);
      // made by the application role, then handed usage to the enclave
      await c.query(`CREATE SCHEMA ${theirs} AUTHORIZATION ${appRole}`);
      await c.query(`GRANT USAGE, CREATE ON SCHEMA ${theirs} TO ${enclaveRole}`);
      // the enclave's own, but the application role may use it too
      await c.query(`CREATE SCHEMA ${shared} AUTHORIZATION ${enclaveRole}`);
      await c.query(`GRANT USAGE ON SCHEMA ${shared} TO ${appRole}`);
    });
    try {
      for (const schema of [theirs, shared]) {
        const refused = await openEnclaveState({ location: urlAs(enclaveRole), schema }).then(
          async (st) => (await st.close(), 'opened'),
          (e: Error) => e.message,
        );
        expect(refused, schema).to.match(/must be owned by the enclave's role and granted to no other role/);
      }
    } finally {
      await admin(async (c) => {
        await c.query(`DROP SCHEMA IF EXISTS ${theirs} CASCADE`);
        await c.query(`DROP SCHEMA IF EXISTS ${shared} CASCADE`);
        await c.query(`DROP ROLE IF EXISTS ${appRole}`);
        await c.query(`DROP ROLE IF EXISTS ${enclaveRole}`);
      });
    }
  });
});
