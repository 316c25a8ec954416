import { expect } from 'chai';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { market, quoteAndSubmit, approve, waitForTrade } from '../server/fixture.js';
import { ServerProcess } from './process.js';
import { brokenInvariants } from './books.js';
import { PhaseClock } from './phases.js';
import { dataDirLayout } from '../../server/config/data-dir.js';

/**
 * The README's backup and restore procedure, run: online SQLite backup while the server serves, then the blobs
 * (excluding blobs/tmp), the sealed keystore; the original is stopped; a server started on the restored
 * directory with the same master secret verifies its audit chain, keeps every invariant, lists the dataset
 * and runs a NEW trade on it (so the blobs and the enclave keys came back whole).
 */
describe('faults: backup while serving, restore into an empty data directory', function () {
  this.timeout(240_000);
  const root = mkdtempSync(join(tmpdir(), 'shuyu-backup-'));
  const env = { ...process.env, SHUYU_MASTER_SECRET: 'backup-test-master-secret-0123456789', SHUYU_LOG_LEVEL: 'warn', SHUYU_JOB_POLL_MS: '50' };
  const original = new ServerProcess(join(root, 'data'), env);
  const restored = new ServerProcess(join(root, 'restored'), env);
  after(async () => {
    await original.kill();
    await restored.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('restores a data directory that verifies, balances and runs new trades', async () => {
    const c = new PhaseClock();
    let l = await c.time('first start (keystore created)', async () => original.live(await original.start(), root));
    const m = await c.time('market', () => market(l, { rows: 30, tag: 'bk' }));
    const first = await quoteAndSubmit(l, m);
    expect((await approve(l, m, first.trade.id)).status).to.equal(200);
    await c.time('first trade settles', () => waitForTrade(l, m.buyer.auth, first.trade.id, ['settled']));
    expect((await l.http().post('/v1/audit/checkpoints').set(l.operator.auth)).status).to.equal(201);

    // the backup, taken while the server is running
    const backup = join(root, 'backup');
    mkdirSync(backup);
    const src = new Database(join(original.dataDir, 'shuyu.sqlite'), { readonly: true, fileMustExist: true });
    await src.backup(join(backup, 'shuyu.sqlite'));
    src.close();
    cpSync(join(original.dataDir, 'blobs'), join(backup, 'blobs'), { recursive: true, filter: (p) => !p.includes(`${join('blobs', 'tmp')}`) });
    cpSync(join(original.dataDir, 'enclave', 'keystore'), join(backup, 'enclave', 'keystore'), { recursive: true });
    // older layouts kept a sealed platform signing key beside the keystore; quotes and checkpoints are now signed by the enclave key
    if (existsSync(dataDirLayout(original.dataDir).platformKeyFile)) cpSync(dataDirLayout(original.dataDir).platformKeyFile, dataDirLayout(backup).platformKeyFile);
    expect(await c.time('clean stop', () => original.stop())).to.equal(0);

    // restore into an empty directory; the operator's credentials come from the backup's database
    cpSync(backup, restored.dataDir, { recursive: true });
    cpSync(join(original.dataDir, 'bootstrap.json'), join(restored.dataDir, 'bootstrap.json'));
    l = await c.time('start on the restored directory', async () => restored.live(await restored.start(), root));
    const v = await l.http().get('/v1/audit/verify').set(l.operator.auth);
    expect(v.body.ok, JSON.stringify(v.body)).to.equal(true);
    expect(brokenInvariants(restored.dataDir)).to.deep.equal([]);
    expect((await l.http().get(`/v1/trades/${first.trade.id}`).set(m.buyer.auth)).body.state).to.equal('settled');
    expect((await l.http().get(`/v1/trades/${first.trade.id}/result`).set(m.buyer.auth)).status).to.equal(200);
    const again = await quoteAndSubmit(l, m);
    expect(again.status, JSON.stringify(again.body)).to.equal(201);
    expect((await approve(l, m, again.trade.id)).status).to.equal(200);
    const done = await c.time('new trade settles', () => waitForTrade(l, m.buyer.auth, again.trade.id, ['settled', 'failed']));
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const w = (await l.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body;
    expect(w).to.include({ availableFen: 90_000, heldFen: 0 });
    expect(await restored.stop()).to.equal(0);
    expect(brokenInvariants(restored.dataDir)).to.deep.equal([]);
    console.log('      backup while serving → restore: audit chain ok, books balanced, old receipt served, new trade settled on the restored directory');
    console.log(`      ${JSON.stringify(c.summary())}`);
  });
});
