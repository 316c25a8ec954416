import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../contracts/errors.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { openKeystore, openOrCreateKeystore, publicInfoOf, rotateMasterSecret, storeKeystore } from '../../enclave/keystore/keystore.js';
import { openEnclaveState } from '../../enclave/state/state.js';
import { freshSchema, testDatabaseUrl } from '../store/engines.js';
import { CliUser } from './harness.js';

/** Master-secret rotation (docs/deploy.md "Key rotation"): the keystore is re-sealed, its keys unchanged. */
describe('cli: shuyu server rotate-master-secret', function () {
  this.timeout(60_000);
  let root: string;
  const operatorPem = sm2PublicKeyToPem(sm2KeyPair().publicKey);
  const OLD = 'old-master-secret-0123456789';
  const NEW = 'new-master-secret-9876543210';
  let original: ReturnType<typeof publicInfoOf>;
  const user = new CliUser('rotate');

  const refusedWith = async (p: Promise<unknown>, type: string) => {
    const e = await p.then(() => null, (err: unknown) => err);
    expect(isDomainError(e) && e.type, String(e)).to.equal(type);
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'shuyu-rotate-'));
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    // the embedded default: DATA_DIR/master.secret beside DATA_DIR/enclave/ (the keystore is DATA_DIR/enclave/keystore, as a server makes it)
    writeFileSync(join(dataDir, 'master.secret'), OLD + '\n', { mode: 0o600 });
    original = publicInfoOf((await openOrCreateKeystore({ dir: join(dataDir, 'enclave', 'keystore'), masterSecret: OLD, operatorPublicKeyPem: operatorPem })).keystore);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a wrong current secret or a too-short new one and leaves the keystore as it was', async () => {
    const dir = join(root, 'data', 'enclave', 'keystore');
    const file = readFileSync(join(dir, 'keystore.json'));
    await refusedWith(rotateMasterSecret(dir, 'not-the-master-secret', NEW), 'keystore-locked');
    await refusedWith(rotateMasterSecret(dir, OLD, 'short'), 'keystore-master-secret');
    expect(readFileSync(join(dir, 'keystore.json')).equals(file)).to.equal(true);
  });

  it('embedded default: re-seals under the new secret, replaces master.secret; the keys stay the same and the old secret no longer opens it', async () => {
    const dataDir = join(root, 'data');
    const newFile = join(root, 'new.secret');
    writeFileSync(newFile, NEW + '\n', { mode: 0o600 });
    const r = await user.run(['server', 'rotate-master-secret', '--data-dir', dataDir, '--new-secret-file', newFile, '--json'], { SHUYU_MASTER_SECRET: '', SHUYU_MASTER_SECRET_FILE: '' });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.json).to.include({ rotated: true, previousSource: 'default-file', signingKeyFingerprint: original.signing.fingerprint });
    expect(readFileSync(join(dataDir, 'master.secret'), 'utf8').trim()).to.equal(NEW);
    const reopened = await openKeystore(join(dataDir, 'enclave', 'keystore'), NEW, operatorPem);
    expect(publicInfoOf(reopened)).to.deep.equal(original);
    await refusedWith(openKeystore(join(dataDir, 'enclave', 'keystore'), OLD), 'keystore-locked');
  });

  it('secret from the environment: the current one from SHUYU_MASTER_SECRET_FILE, a wrong one exits 1, a new file inside the keystore exits 2', async () => {
    const dataDir = join(root, 'data');
    const current = join(root, 'current.secret');
    writeFileSync(current, NEW, { mode: 0o600 });
    const next = join(root, 'next.secret');
    writeFileSync(next, 'third-master-secret-abcdefghij', { mode: 0o600 });
    const wrong = await user.run(['server', 'rotate-master-secret', '--data-dir', dataDir, '--new-secret-file', next], { SHUYU_MASTER_SECRET: 'a-wrong-master-secret-0000', SHUYU_MASTER_SECRET_FILE: '' });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.match(/wrong master secret/);
    const inside = join(dataDir, 'enclave', 'new.secret');
    writeFileSync(inside, 'fourth-master-secret-abcdefghij');
    const usage = await user.run(['server', 'rotate-master-secret', '--data-dir', dataDir, '--new-secret-file', inside], { SHUYU_MASTER_SECRET: '', SHUYU_MASTER_SECRET_FILE: current });
    expect(usage.code, usage.stderr).to.equal(2);
    expect(usage.stderr).to.match(/must not be stored inside/);
    rmSync(inside);
    const ok = await user.run(['server', 'rotate-master-secret', '--data-dir', dataDir, '--new-secret-file', next], { SHUYU_MASTER_SECRET: '', SHUYU_MASTER_SECRET_FILE: current });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/SHUYU_MASTER_SECRET_FILE=/);
    // master.secret (the embedded default) is left alone when the secret came from the environment
    expect(readFileSync(join(dataDir, 'master.secret'), 'utf8').trim()).to.equal(NEW);
    expect(publicInfoOf(await openKeystore(join(dataDir, 'enclave', 'keystore'), 'third-master-secret-abcdefghij'))).to.deep.equal(original);
  });

  it('cluster: re-seals the keystore row of the enclave schema, opened as the enclave opens it', async () => {
    const schema = freshSchema();
    const state = await openEnclaveState({ location: testDatabaseUrl(), schema });
    try {
      const made = await openOrCreateKeystore({ dir: storeKeystore(state.store), masterSecret: OLD, operatorPublicKeyPem: operatorPem });
      const next = join(root, 'cluster-next.secret');
      writeFileSync(next, NEW, { mode: 0o600 });
      const env = { SHUYU_MASTER_SECRET: OLD, SHUYU_MASTER_SECRET_FILE: '', SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl(), SHUYU_ENCLAVE_DATABASE_SCHEMA: schema };
      const r = await user.run(['server', 'rotate-master-secret', '--data-dir', join(root, 'data'), '--new-secret-file', next, '--json'], env);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.json).to.include({ rotated: true, signingKeyFingerprint: publicInfoOf(made.keystore).signing.fingerprint });
      expect(publicInfoOf(await openKeystore(storeKeystore(state.store), NEW, operatorPem))).to.deep.equal(publicInfoOf(made.keystore));
      await refusedWith(openKeystore(storeKeystore(state.store), OLD), 'keystore-locked');
    } finally {
      await state.store.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await state.close();
    }
  });
});
