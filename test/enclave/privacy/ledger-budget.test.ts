import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DomainError, isDomainError } from '../../../contracts/errors.js';
import { PrivacyBudgetLedger, type ChargeRequest } from '../../../enclave/privacy/ledger.js';
import { ENGINES } from '../../store/engines.js';
import { closeTestStates, testLedger } from './state-fixture.js';

/** The enclave's ε ledger: budgets kept on the dataset commitment, per buyer and across all buyers. */
for (const engine of ENGINES) {
  describe(`privacy budget ledger: per buyer and dataset-wide, keyed by the commitment [${engine}]`, () => {
    let dir: string;
    let ledger: PrivacyBudgetLedger;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'shuyu-ledger-'));
      // embedded: the SQLite file the enclave keeps in its data folder; cluster: a PostgreSQL schema
      ledger = engine === 'sqlite' ? await PrivacyBudgetLedger.open(join(dir, 'privacy.sqlite')) : await testLedger(engine);
    });
    afterEach(async () => {
      await ledger.close();
      await closeTestStates();
      rmSync(dir, { recursive: true, force: true });
    });

    const req = (over: Partial<ChargeRequest>): ChargeRequest => ({
      chargeKey: 'k',
      buyerOrgId: 'org-a',
      datasetId: 'ds-1',
      datasetKey: 'commitment-1',
      epsilon: 0.5,
      limitEpsilon: 1,
      datasetLimitEpsilon: 1.2,
      ...over,
    });
    const refusal = async (f: () => Promise<unknown>): Promise<{ type: string; detail: Record<string, unknown> } | 'charged'> => {
      try {
        await f();
        return 'charged';
      } catch (e) {
        if (isDomainError(e)) return { type: e.type, detail: e.detail };
        throw e;
      }
    };

    it('the dataset-wide budget bounds all buyers together, in the same transaction as the buyer budget', async () => {
      await ledger.charge(req({ chargeKey: 't1', buyerOrgId: 'org-a' }), () => 'a1');
      await ledger.charge(req({ chargeKey: 't2', buyerOrgId: 'org-b' }), () => 'b1');
      // org-c has its whole per-buyer budget left, but the dataset has 0.2 of 1.2 left
      let produced = false;
      const r = await refusal(() => ledger.charge(req({ chargeKey: 't3', buyerOrgId: 'org-c' }), () => (produced = true)));
      expect(r).to.not.equal('charged');
      expect(r).to.deep.include({ type: 'privacy-budget-exhausted' });
      expect((r as { detail: Record<string, unknown> }).detail).to.include({ limit: 'dataset', epsilonLimit: 1.2, epsilonSpent: 1 });
      expect(produced, 'nothing is produced when refused').to.equal(false);
      expect((await ledger.spentByAll('commitment-1')).epsilon).to.equal(1);
      // the per-buyer limit is still its own refusal
      const own = await refusal(() => ledger.charge(req({ chargeKey: 't4', buyerOrgId: 'org-a', epsilon: 0.6, datasetLimitEpsilon: 100 }), () => 'x'));
      expect((own as { detail: Record<string, unknown> }).detail).to.include({ limit: 'buyer' });
    });

    it('the dataset-wide δ is charged too', async () => {
      await ledger.charge(req({ chargeKey: 't1', delta: 1e-6, datasetLimitDelta: 1.5e-6 }), () => 1);
      const r = await refusal(() => ledger.charge(req({ chargeKey: 't2', buyerOrgId: 'org-b', delta: 1e-6, datasetLimitDelta: 1.5e-6 }), () => 2));
      expect((r as { detail: Record<string, unknown> }).detail).to.include({ limit: 'dataset' });
    });

    it('the same bundle published under two listings shares the buyer budget and the dataset budget', async () => {
      await ledger.charge(req({ chargeKey: 't1', datasetId: 'ds-1' }), () => 1);
      await ledger.charge(req({ chargeKey: 't2', datasetId: 'ds-2' }), () => 2);
      expect((await ledger.spent('org-a', 'commitment-1')).epsilon).to.equal(1);
      const r = await refusal(() => ledger.charge(req({ chargeKey: 't3', datasetId: 'ds-3' }), () => 3));
      expect((r as { detail: Record<string, unknown> }).detail).to.include({ limit: 'buyer', epsilonSpent: 1 });
      // another bundle has its own budget
      expect(await refusal(() => ledger.charge(req({ chargeKey: 't4', datasetKey: 'commitment-2' }), () => 4))).to.equal('charged');
    });

    it('the smallest dataset-wide total ever charged under binds every listing of the same bundle', async () => {
      // listing A (the owner's total ε 1.2) charges first; listing B of the same bundle then claims ε 100
      expect(await refusal(() => ledger.charge(req({ chargeKey: 'a1', datasetId: 'ds-a' }), () => 1))).to.equal('charged');
      const r = await refusal(() => ledger.charge(req({ chargeKey: 'b1', datasetId: 'ds-b', buyerOrgId: 'org-b', datasetLimitEpsilon: 100 }), () => 1));
      expect(r).to.equal('charged'); // 0.5 + 0.5 ≤ 1.2
      const third = await refusal(() => ledger.charge(req({ chargeKey: 'b2', datasetId: 'ds-b', buyerOrgId: 'org-c', datasetLimitEpsilon: 100 }), () => 1));
      expect(third).to.deep.include({ type: 'privacy-budget-exhausted' });
      expect((third as { detail: Record<string, unknown> }).detail).to.include({ limit: 'dataset', epsilonLimit: 1.2 });
    });

    it('a retried release is replayed, not charged twice; the key cannot be reused for another charge', async () => {
      const a = await ledger.charge(req({ chargeKey: 't1' }), () => ({ v: Math.random() }));
      const b = await ledger.charge(req({ chargeKey: 't1' }), () => ({ v: -1 }));
      expect(b.replayed).to.equal(true);
      expect(b.result).to.deep.equal(a.result);
      expect((await ledger.spentByAll('commitment-1')).charges).to.equal(1);
      expect(((await refusal(() => ledger.charge(req({ chargeKey: 't1', datasetKey: 'commitment-2' }), () => 0))) as { type: string }).type).to.equal('privacy-charge-conflict');
    });

    it('a charge whose output fails is not charged: the charge and its output are one transaction', async () => {
      const r = await refusal(() =>
        ledger.charge(req({ chargeKey: 't1' }), async () => {
          throw new DomainError('privacy-differencing-refused', 'refused inside the charge');
        }),
      );
      expect(r).to.deep.include({ type: 'privacy-differencing-refused' });
      expect(await ledger.spentByAll('commitment-1')).to.deep.include({ epsilon: 0, charges: 0 });
    });

    if (engine === 'sqlite') {
      it('charges recorded before budgets were keyed on the commitment still count for their listing', async () => {
        await ledger.close();
        const file = join(dir, 'old.sqlite');
        const old = new Database(file);
        old.exec(`CREATE TABLE privacy_charge (charge_key TEXT PRIMARY KEY, buyer_org_id TEXT NOT NULL, dataset_id TEXT NOT NULL,
          epsilon_micro INTEGER NOT NULL, delta REAL NOT NULL DEFAULT 0, output_json TEXT NOT NULL, created_at TEXT NOT NULL)`);
        old.prepare(`INSERT INTO privacy_charge VALUES ('old-1', 'org-a', 'ds-1', 800000, 0, '1', '2026-01-01T00:00:00.000Z')`).run();
        old.close();
        ledger = await PrivacyBudgetLedger.open(file);
        expect((await ledger.spent('org-a', 'commitment-1', 'ds-1')).epsilon).to.equal(0.8);
        const r = await refusal(() => ledger.charge(req({ chargeKey: 't1' }), () => 1));
        expect((r as { detail: Record<string, unknown> }).detail).to.include({ limit: 'buyer', epsilonSpent: 0.8 });
      });
    }
  });

  describe(`privacy refusal record and allowance [${engine}]`, () => {
    let ledger: PrivacyBudgetLedger;
    beforeEach(async () => {
      ledger = await testLedger(engine);
    });
    afterEach(closeTestStates);
    const who = (n: number, buyerOrgId = 'org-a') => ({ chargeKey: `trade:t${n}`, tradeId: `t${n}`, buyerOrgId, datasetKey: 'commitment-1' });
    const allowance = async (n: number, buyerOrgId = 'org-a'): Promise<string> =>
      ledger.reserveRefusalAllowance({ ...who(n, buyerOrgId), allowance: 2 }).then(
        async (slot) => (await slot.release(), 'ok'),
        (e: unknown) => (isDomainError(e) ? e.type : 'other'),
      );

    it('records each refusal once per release key, never values; the allowance counts them per buyer × commitment', async () => {
      const refuseWith = async (n: number, type: string) =>
        ledger
          .recordingRefusals(who(n), async () => {
            throw new DomainError(type, 'refused');
          })
          .catch((e: unknown) => (isDomainError(e) ? e.type : 'other'));
      expect(await refuseWith(1, 'privacy-differencing-refused')).to.equal('privacy-differencing-refused');
      expect(await refuseWith(1, 'privacy-differencing-refused')).to.equal('privacy-differencing-refused'); // the same job retried
      expect(await refuseWith(2, 'sql-refused')).to.equal('sql-refused'); // data-independent: not recorded
      expect((await ledger.refusals('org-a', 'commitment-1')).map((r) => [r.tradeId, r.type])).to.deep.equal([['t1', 'privacy-differencing-refused']]);
      expect(Object.keys((await ledger.refusals('org-a', 'commitment-1'))[0]!).sort()).to.deep.equal(['at', 'chargeKey', 'tradeId', 'type']);
      expect(await allowance(3)).to.equal('ok');
      await refuseWith(3, 'privacy-budget-exhausted');
      expect(await allowance(4)).to.equal('privacy-refusal-allowance-exhausted');
      // the refused release's own retry is judged as it was the first time; another buyer has its own allowance
      expect(await allowance(3)).to.equal('ok');
      expect(await allowance(5, 'org-b')).to.equal('ok');
    });
  });
}
