import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../../contracts/errors.js';
import { DifferencingGuard } from '../../../enclave/privacy/differencing.js';
import { PrivacyBudgetLedger, REFUSAL_SLOT_HOLD_MS, type RefusalReservation } from '../../../enclave/privacy/ledger.js';
import { ENGINES, freshSchema, testDatabaseUrl, type Engine } from '../../store/engines.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const typeOf = (e: unknown): string => (isDomainError(e) ? e.type : String(e));

/**
 * The refusal allowance holds under concurrency: releases for the same buyer and dataset admitted at once by one
 * enclave (SQLite) or by two enclaves sharing the cluster's PostgreSQL schema. Each refusal is a
 * bit about the data, so at most `allowance` of them may ever be delivered: the second release is refused from
 * the counts alone while the first still holds the last slot.
 */
for (const engine of ENGINES) {
  describe(`refusal allowance: a slot per running release [${engine}]`, function () {
    this.timeout(30_000);
    let dir: string;
    let a: PrivacyBudgetLedger;
    let b: PrivacyBudgetLedger;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'shuyu-refusal-slot-'));
      const open = (e: Engine, schema: string): Promise<PrivacyBudgetLedger> =>
        e === 'sqlite' ? PrivacyBudgetLedger.open(join(dir, 'privacy-budget.sqlite')) : PrivacyBudgetLedger.open(testDatabaseUrl(), { schema, poolSize: 2 });
      const schema = freshSchema();
      a = await open(engine, schema);
      // SQLite: one process's releases share its one connection (better-sqlite3 waits for another connection's
      // lock synchronously, so a second one in the same process would wait on itself); PostgreSQL: two enclaves
      b = engine === 'sqlite' ? a : await open(engine, schema);
    });
    afterEach(async () => {
      await Promise.all([a.close(), ...(b === a ? [] : [b.close()])]);
      rmSync(dir, { recursive: true, force: true });
    });

    const who = (trade: string) => ({ chargeKey: `trade:${trade}`, tradeId: trade, buyerOrgId: 'org', datasetKey: 'c' });
    const reserve = (l: PrivacyBudgetLedger, trade: string, allowance = 1): Promise<RefusalReservation> => l.reserveRefusalAllowance({ ...who(trade), allowance });
    const admitted = (l: PrivacyBudgetLedger, trade: string, allowance = 1): Promise<string> =>
      reserve(l, trade, allowance).then(
        () => 'ok',
        (e: unknown) => typeOf(e),
      );
    const slots = async (l: PrivacyBudgetLedger): Promise<string[]> =>
      (await l.store.all<{ k: string }>('SELECT charge_key AS k FROM privacy_refusal_reservation ORDER BY charge_key')).map((r) => r.k);

    // an exact release the differencing guard refuses (a lone region's count), admitted as the release front does:
    // a slot at admit, the computation, the refusal recorded, the slot given back at the end
    const dims = [{ name: 'region', values: ['north', 'south'] }];
    const rows = { rowCount: 20, codes: new Map([['region', Uint16Array.from({ length: 20 }, (_, i) => i % 2)]]) };
    const exactRelease = async (l: PrivacyBudgetLedger, trade: string, allowance = 1): Promise<string> => {
      try {
        const slot = await reserve(l, trade, allowance);
        try {
          await sleep(200); // decrypting and running the query
          await l.recordingRefusals(who(trade), () =>
            new DifferencingGuard(l.store).checkAndRecord({ buyerOrgId: '*', datasetId: 'c', k: 50, dimensions: dims, rows, sets: [{ dim: 'region', in: ['north'] }] }),
          );
          return 'released';
        } finally {
          await slot.release();
        }
      } catch (e) {
        return typeOf(e);
      }
    };

    it('two releases at once at allowance 1: one data-dependent refusal is delivered, the other is refused from the counts', async () => {
      const out = await Promise.all([exactRelease(a, 't1'), exactRelease(b, 't2')]);
      expect(out.sort()).to.deep.equal(['privacy-differencing-refused', 'privacy-refusal-allowance-exhausted']);
      expect(await a.refusals('org', 'c')).to.have.length(1);
      expect(await slots(a), 'every slot ended: given back or turned into the refusal').to.deep.equal([]);
      // and later ones too, whichever enclave runs them
      expect(await Promise.all([exactRelease(a, 't3'), exactRelease(b, 't4')])).to.deep.equal(['privacy-refusal-allowance-exhausted', 'privacy-refusal-allowance-exhausted']);
    });

    it('many releases at once at allowance 2: never more than 2 refusals delivered', async () => {
      const out = await Promise.all(Array.from({ length: 6 }, (_, i) => exactRelease(i % 2 ? a : b, `m${i}`, 2)));
      const delivered = out.filter((t) => t === 'privacy-differencing-refused').length;
      expect(delivered).to.equal(2);
      expect(out.filter((t) => t !== 'privacy-differencing-refused')).to.deep.equal(Array(6 - delivered).fill('privacy-refusal-allowance-exhausted'));
      expect(await a.refusals('org', 'c')).to.have.length(delivered);
    });

    it('a slot held by a release that died is kept (conservatively) and taken over by a retry under the same charge key, counted once', async () => {
      const dead = await reserve(a, 't1');
      expect(await admitted(b, 't2'), 'the dead release still holds the last slot').to.equal('privacy-refusal-allowance-exhausted');
      // the job is retried on the other enclave under the same charge key: it takes the slot over
      const retry = await reserve(b, 't1');
      expect(await slots(a)).to.deep.equal(['trade:t1']);
      // the dead attempt's late end does not free the retry's slot
      await dead.release();
      expect(await slots(a)).to.deep.equal(['trade:t1']);
      expect(await admitted(a, 't2')).to.equal('privacy-refusal-allowance-exhausted');
      // the retry is refused: its slot becomes its refusal, one count in all
      await b.recordRefusal({ ...who('t1'), type: 'privacy-differencing-refused' });
      expect(await slots(a)).to.deep.equal([]);
      const refused = await reserve(a, 't2').catch((e: unknown) => e);
      expect(isDomainError(refused) && refused.detail).to.deep.include({ refusalsUsed: 1, refusalsPending: 0, refusalAllowance: 1 });
      // a further retry of the refused key is judged as the first time and holds its slot by the refusal alone
      const again = await reserve(a, 't1');
      expect(await slots(a)).to.deep.equal([]);
      expect(await admitted(b, 't2', 2)).to.equal('ok');
      await again.release();
      await retry.release();
      expect(await a.refusals('org', 'c')).to.have.length(1);
    });

    it('a slot whose release never ended is let go after REFUSAL_SLOT_HOLD_MS, never before', async () => {
      const t0 = new Date();
      await reserve(a, 't1'); // the release dies: its job failed for good, no retry comes
      const at = (ms: number) => b.reserveRefusalAllowance({ ...who('t2'), allowance: 1, now: new Date(t0.getTime() + ms) }).then(
        () => 'ok',
        (e: unknown) => typeOf(e),
      );
      expect(await at(REFUSAL_SLOT_HOLD_MS - 60_000)).to.equal('privacy-refusal-allowance-exhausted');
      expect(await at(REFUSAL_SLOT_HOLD_MS + 60_000)).to.equal('ok');
      // a recorded refusal is never let go
      await b.recordRefusal({ ...who('t2'), type: 'privacy-differencing-refused' });
      const late = await a.reserveRefusalAllowance({ ...who('t3'), allowance: 1, now: new Date(t0.getTime() + 10 * REFUSAL_SLOT_HOLD_MS) }).catch((e: unknown) => e);
      expect(isDomainError(late) && late.type).to.equal('privacy-refusal-allowance-exhausted');
    });

    it('a release that was not refused gives its slot back; another buyer or dataset has its own slots', async () => {
      const slot = await reserve(a, 't1');
      expect(await b.reserveRefusalAllowance({ ...who('t2'), buyerOrgId: 'org-b', allowance: 1 }).then(() => 'ok')).to.equal('ok');
      expect(await b.reserveRefusalAllowance({ ...who('t3'), datasetKey: 'c2', allowance: 1 }).then(() => 'ok')).to.equal('ok');
      await slot.release();
      expect(await admitted(b, 't4')).to.equal('ok');
    });
  });
}
