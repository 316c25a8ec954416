import { expect } from 'chai';
import fc from 'fast-check';
import { AuditLog } from '../../contracts/audit/log.js';
import { isDomainError } from '../../contracts/errors.js';
import { accountIds, Ledger, replayJournal } from '../../contracts/ledger/ledger.js';
import { freshStore, testClock, thrown } from './helpers.js';
import { closeTestDbs, onEngines } from '../store/engines.js';

async function setup() {
  const { db, store } = await freshStore();
  const clock = testClock();
  const audit = new AuditLog(store.audit, clock);
  const ledger = new Ledger(store.ledger, audit, clock, store.transaction);
  return { db, store, ledger, audit, clock };
}

type Op =
  | { op: 'topUp'; org: number; amount: number; key: number }
  | { op: 'hold'; trade: number; org: number; amount: number }
  | { op: 'release'; trade: number }
  | { op: 'capture'; trade: number; feeBps: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('topUp' as const), org: fc.nat(3), amount: fc.integer({ min: 1, max: 100_000 }), key: fc.nat(40) }),
  fc.record({ op: fc.constant('hold' as const), trade: fc.nat(60), org: fc.nat(3), amount: fc.integer({ min: 1, max: 60_000 }) }),
  fc.record({ op: fc.constant('release' as const), trade: fc.nat(60) }),
  fc.record({ op: fc.constant('capture' as const), trade: fc.nat(60), feeBps: fc.integer({ min: 0, max: 10_000 }) }),
);

const EXPECTED_REFUSALS = new Set(['insufficient-funds', 'idempotency-conflict', 'capture-mismatch']);

onEngines('contracts/ledger: double entry in integer fen', (engine) => {
  // fewer runs on PostgreSQL: each operation is a network round trip per statement there
  const runs = engine === 'sqlite' ? 10 : 2;
  it(`${runs * 1000} random operations keep every invariant, and every balance is reproducible from the journal`, async function () {
    this.timeout(120_000);
    let total = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1000, maxLength: 1000 }), async (ops) => {
        await closeTestDbs();
        const { store, ledger, db } = await setup();
        const totals = () => db.get<{ total: number; low: number }>("SELECT COALESCE(SUM(balance), 0) AS total, COALESCE(MIN(CASE WHEN kind <> 'external' THEN balance END), 0) AS low FROM ledger_accounts");
        const org = (n: number) => `org-${n}`;
        const buyerOf = new Map<number, number>(); // trade → buyer org, as the trade record would know it
        const model = new Map<string, number>(); // what the balances must be
        const bump = (id: string, d: number) => model.set(id, (model.get(id) ?? 0) + d);
        const usedTopupKeys = new Map<string, number>();
        for (const o of ops) {
          total++;
          try {
            switch (o.op) {
              case 'topUp': {
                const key = `topup-${o.key}-${o.org}`;
                const before = usedTopupKeys.get(key);
                await ledger.topUp({ orgId: org(o.org), amountFen: o.amount, idempotencyKey: key, actor: 'operator' });
                if (before === undefined) {
                  usedTopupKeys.set(key, o.amount);
                  bump(accountIds.topup, -o.amount);
                  bump(accountIds.wallet(org(o.org)), o.amount);
                }
                break;
              }
              case 'hold': {
                const buyer = buyerOf.get(o.trade) ?? o.org;
                const fresh = !await store.ledger.transactionByKey(`hold:t${o.trade}`);
                await ledger.hold({ tradeId: `t${o.trade}`, buyerOrgId: org(buyer), amountFen: o.amount, actor: 'buyer' });
                if (fresh) {
                  buyerOf.set(o.trade, buyer);
                  bump(accountIds.wallet(org(buyer)), -o.amount);
                  bump(accountIds.escrow(`t${o.trade}`), o.amount);
                }
                break;
              }
              case 'release': {
                const buyer = buyerOf.get(o.trade);
                if (buyer === undefined) break;
                const held = model.get(accountIds.escrow(`t${o.trade}`)) ?? 0;
                await ledger.release({ tradeId: `t${o.trade}`, buyerOrgId: org(buyer), actor: 'system', memo: 'test', code: 'ledger.release-cancelled' });
                bump(accountIds.escrow(`t${o.trade}`), -held);
                bump(accountIds.wallet(org(buyer)), held);
                break;
              }
              case 'capture': {
                const held = model.get(accountIds.escrow(`t${o.trade}`)) ?? 0;
                const fee = Math.floor((held * o.feeBps) / 10_000);
                await ledger.capture({ tradeId: `t${o.trade}`, ownerOrgId: 'owner', ownerShareFen: held - fee, platformFeeFen: fee, actor: 'system' });
                bump(accountIds.escrow(`t${o.trade}`), -held);
                bump(accountIds.revenue('owner'), held - fee);
                bump(accountIds.fee, fee);
                break;
              }
            }
          } catch (e) {
            if (!isDomainError(e) || !EXPECTED_REFUSALS.has(e.type)) throw e;
          }
          // after EVERY operation, not only at the end: money is conserved and nothing but the outside world is negative
          const now = (await totals())!;
          if (now.total !== 0 || now.low < 0) throw new Error(`invariant broken after ${JSON.stringify(o)}: total ${now.total}, lowest ${now.low}`);
        }
        const accounts = await store.ledger.accounts();
        const journal = await store.ledger.transactions({});
        // 1. every transaction balances to zero and has non-zero integer entries
        for (const t of journal) {
          expect(t.entries.reduce((s, e) => s + e.amount, 0)).to.equal(0);
          for (const e of t.entries) expect(Number.isSafeInteger(e.amount) && e.amount !== 0).to.equal(true);
        }
        // 2. no account but the external one is negative; all balances sum to zero
        for (const a of accounts) if (a.kind !== 'external') expect(a.balance, a.id).to.be.at.least(0);
        expect(accounts.reduce((s, a) => s + a.balance, 0)).to.equal(0);
        // 3. balances are reproducible from the journal, and equal the independent model
        const replayed = replayJournal(journal);
        for (const a of accounts) {
          expect(replayed.get(a.id) ?? 0, a.id).to.equal(a.balance);
          expect(model.get(a.id) ?? 0, a.id).to.equal(a.balance);
        }
        // 4. each step at most once: idempotency keys are unique in the journal
        expect(new Set(journal.map((t) => t.idempotencyKey)).size).to.equal(journal.length);
        // 5. every posting has its audit event
        expect((await store.audit.events({ entityType: 'ledger-transaction' })).length).to.equal(journal.length);
      }),
      { numRuns: runs },
    );
    expect(total).to.equal(runs * 1000);
  });

  it('a replay with the same idempotency key returns the first result; a different request under it is refused', async () => {
    const { ledger, store } = await setup();
    const a = await ledger.topUp({ orgId: 'o', amountFen: 500, idempotencyKey: 'k1', actor: 'op' });
    const b = await ledger.topUp({ orgId: 'o', amountFen: 500, idempotencyKey: 'k1', actor: 'op' });
    expect(b.id).to.equal(a.id);
    expect((await store.ledger.account(accountIds.wallet('o')))!.balance).to.equal(500);
    expect(await thrown(() => ledger.topUp({ orgId: 'o', amountFen: 501, idempotencyKey: 'k1', actor: 'op' }))).to.throw().with.property('type', 'idempotency-conflict');
  });

  it('refuses holds beyond the wallet, non-integer and non-positive amounts, and mismatched captures', async () => {
    const { ledger } = await setup();
    await ledger.topUp({ orgId: 'b', amountFen: 100, idempotencyKey: 'k', actor: 'op' });
    expect(await thrown(() => ledger.hold({ tradeId: 't', buyerOrgId: 'b', amountFen: 101, actor: 'b' }))).to.throw().with.property('type', 'insufficient-funds');
    for (const bad of [0.5, -1, 0, Number.NaN, 2 ** 60]) {
      expect(await thrown(() => ledger.topUp({ orgId: 'b', amountFen: bad, idempotencyKey: `x${bad}`, actor: 'op' }))).to.throw().with.property('type', 'invalid-amount');
    }
    await ledger.hold({ tradeId: 't', buyerOrgId: 'b', amountFen: 60, actor: 'b' });
    expect(await thrown(() => ledger.capture({ tradeId: 't', ownerOrgId: 'o', ownerShareFen: 50, platformFeeFen: 5, actor: 's' }))).to.throw().with.property('type', 'capture-mismatch');
    await ledger.capture({ tradeId: 't', ownerOrgId: 'o', ownerShareFen: 54, platformFeeFen: 6, actor: 's' });
    expect(await ledger.balance(accountIds.revenue('o'))).to.equal(54);
    expect(await ledger.balance(accountIds.fee)).to.equal(6);
    expect(await ledger.release({ tradeId: 't', buyerOrgId: 'b', actor: 's', memo: 'late', code: 'ledger.release-cancelled' })).to.equal(null); // nothing left to release
  });

  it('a ledger step and its audit event commit together: a failure injected after the ledger write rolls back both', async () => {
    const { store, clock } = await setup();
    const failing = { ...store.audit, append: async () => { throw new Error('injected: disk full after the ledger write'); } };
    const ledger = new Ledger(store.ledger, new AuditLog(failing, clock), clock, store.transaction);
    expect(await thrown(() => ledger.topUp({ orgId: 'o', amountFen: 10, idempotencyKey: 'k', actor: 'op' }))).to.throw(/injected/);
    expect(await store.ledger.transactions({})).to.deep.equal([]);
    expect((await store.ledger.account(accountIds.wallet('o')))?.balance ?? 0).to.equal(0);
    expect(await store.audit.events({})).to.deep.equal([]);
  });

  it('the database itself refuses a negative wallet even if the domain check were bypassed', async () => {
    const { db } = await setup();
    await db.run("INSERT INTO ledger_accounts (id, kind, owner_id, balance) VALUES ('wallet:x', 'wallet', 'x', 0)");
    expect(await thrown(() => db.run("UPDATE ledger_accounts SET balance = -1 WHERE id = 'wallet:x'"))).to.throw(/CHECK|check constraint/);
  });
});
