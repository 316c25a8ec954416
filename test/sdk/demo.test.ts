import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { verifyReceipt } from '../../formats/receipt.js';

/** `npm run demo` at a small size: its own server, three trades with the intended outcomes, receipts that verify. */
describe('npm run demo (smaller: --rows 5000)', function () {
  this.timeout(300_000);
  const out = mkdtempSync(join(tmpdir(), 'shuyu-demo-test-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('walks the three trades, writes a verifiable receipt, prints ledger and audit, exits 0', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile(process.execPath, ['--import', 'tsx', resolve('cli/demo.ts'), '--out', out, '--rows', '5000'], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).to.equal(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.outcomes.map((o: { dataset: string; state: string; ok: boolean }) => [o.dataset, o.ok])).to.deep.equal([
      ['tourism', true],
      ['health', true],
      ['logistics', true],
    ]);
    expect(summary.audit.ok).to.equal(true);
    expect(stdout).to.match(/approves, signing the approval with SM2/);
    expect(stdout).to.match(/rejects: /);
    expect(stdout).to.match(/negative list NL-06 \(deny\)/);
    expect(stdout).to.match(/verified offline against the pinned key: VALID/);
    expect(stdout).to.match(/The ledger/);
    expect(stdout).to.match(/VERIFIED: \d+ events/);
    const receipts = readdirSync(join(out, 'receipts'));
    expect(receipts).to.have.length(1);
    const receipt = JSON.parse(readFileSync(join(out, 'receipts', receipts[0]!), 'utf8'));
    const v = verifyReceipt(receipt);
    expect(v.valid).to.equal(true);
    if (v.valid) expect(`${String(v.payload.tradeId)}.json`).to.equal(receipts[0]);
    // the inputs a reader replays the README commands with
    for (const f of ['tourism.csv', 'tourism.schema.json', 'tourism.offer.json', 'tourism.computation.json']) {
      expect(readFileSync(join(out, 'inputs', f), 'utf8').length).to.be.greaterThan(10);
    }
  });
});
