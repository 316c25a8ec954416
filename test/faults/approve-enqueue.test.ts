import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { verifyReceipt } from '../../formats/receipt.js';
import { approve, market, quoteAndSubmit, waitForTrade } from '../server/fixture.js';
import { ServerProcess } from './process.js';
import { brokenInvariants } from './books.js';

/**
 * The crash between approval and job creation: the real server is SIGKILLed by its test-only fault hook
 * (SHUYU_FAULT_AT=after-approve) the moment the approval transaction has committed, before the request
 * answers or the worker wakes. Restarted without the hook on the same data directory, the trade must still
 * run — the job committed with the approval — and end delivered exactly once: one capture, a receipt that
 * verifies against the enclave's key.
 */
describe('faults: SIGKILL right after the approval commits, restart on the same data directory', function () {
  this.timeout(60_000);
  const root = mkdtempSync(join(tmpdir(), 'shuyu-approve-crash-'));
  const dataDir = join(root, 'data');
  const env = {
    ...process.env,
    SHUYU_MASTER_SECRET: 'fault-suite-master-secret-0123456789abcdef',
    SHUYU_LOG_LEVEL: 'info',
    SHUYU_JOB_POLL_MS: '50',
    SHUYU_JOB_LEASE_MS: '3000',
  };
  const faulty = new ServerProcess(dataDir, { ...env, SHUYU_FAULT_AT: 'after-approve' });
  const healthy = new ServerProcess(dataDir, env);
  const query = <T>(sql: string, ...args: unknown[]): T[] => {
    const db = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...args) as T[];
    } finally {
      db.close();
    }
  };

  after(async () => {
    await faulty.kill();
    await healthy.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('the approved trade is delivered once after the restart: one job, one capture, a verifying receipt', async () => {
    const l1 = await faulty.live(await faulty.start(), root);
    const m = await market(l1, { rows: 24, tag: 'apcrash' });
    const t = await quoteAndSubmit(l1, m);
    expect(t.status, JSON.stringify(t.body)).to.equal(201);
    expect(t.trade.state).to.equal('under_review');

    // the decision never answers: the hook kills the process once the approval is committed
    const exited = new Promise<NodeJS.Signals | null>((r) => faulty.child!.once('exit', (_code, signal) => r(signal)));
    const decided = await approve(l1, m, t.trade.id).then(
      (r) => `answered ${r.status}`,
      (e: Error) => `no answer (${e.message})`,
    );
    expect(await exited, `the server died by its fault hook (decision ${decided})`).to.equal('SIGKILL');
    expect(decided).to.match(/^no answer/);

    // on disk: the approval and its queued job, nothing run yet
    expect(query<{ state: string }>('SELECT state FROM trades WHERE id = ?', t.trade.id)).to.deep.equal([{ state: 'approved' }]);
    expect(query('SELECT state, attempts FROM jobs WHERE trade_id = ?', t.trade.id), 'the job committed with the approval').to.deep.equal([{ state: 'queued', attempts: 0 }]);

    const l2 = await healthy.live(await healthy.start(), root, l1.enclaveInfo);
    const done = await waitForTrade(l2, m.buyer.auth, t.trade.id, ['settled', 'failed', 'expired'], 40_000);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    expect(done.transitions.map((x: { to: string }) => x.to)).to.deep.equal(['screened', 'under_review', 'approved', 'executing', 'delivered', 'settled']);

    const ledger = query<{ kind: string }>('SELECT kind FROM ledger_transactions WHERE trade_id = ? ORDER BY seq', t.trade.id).map((x) => x.kind);
    expect(ledger, 'held once, captured once').to.deep.equal(['hold', 'capture']);
    expect(query('SELECT state, attempts FROM jobs WHERE trade_id = ?', t.trade.id)).to.deep.equal([{ state: 'done', attempts: 1 }]);

    const res = await l2.http().get(`/v1/trades/${t.trade.id}/result`).set(m.buyer.auth);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const check = verifyReceipt(res.body.receipt, { pinnedPublicKeyPem: l1.enclaveInfo.signing.publicKeyPem });
    expect(check.valid, JSON.stringify(check)).to.equal(true);
    expect(JSON.parse(res.body.receipt.payload).tradeId).to.equal(t.trade.id);

    expect(brokenInvariants(dataDir)).to.deep.equal([]);
    expect((await l2.http().get('/v1/ledger/wallet').set(m.buyer.auth)).body.heldFen).to.equal(0);
    expect((await l2.http().get('/v1/audit/verify').set(l2.operator.auth)).body.ok).to.equal(true);
    expect(await healthy.stop()).to.equal(0);
  });
});
