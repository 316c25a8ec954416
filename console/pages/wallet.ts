/** Wallet balances (available, held in escrow, revenue) and the statement of ledger transactions. */
import { accountIds } from '../../contracts/ledger/ledger.js';
import { h, table } from '../dom.js';
import { dateTime, t, yuan } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { buyerClient, type LedgerTxn } from '../endpoints.js';
import { currentUser } from '../session.js';
import { notice, pageHeader, safeT, section, shortHash } from '../ui.js';

function tile(label: string, amount: number, cls: string): HTMLElement {
  return h('div', { class: `tile ${cls}` }, h('span', { class: 'tile-label' }, label), h('strong', { class: 'tile-value' }, yuan(amount)));
}

/** What one transaction did to this organisation's wallet and revenue accounts. */
function effectOn(txn: LedgerTxn, orgId: string): { wallet: number; revenue: number } {
  const sum = (id: string) => txn.entries.filter((e) => e.accountId === id).reduce((a, e) => a + e.amount, 0);
  return { wallet: sum(accountIds.wallet(orgId)), revenue: sum(accountIds.revenue(orgId)) };
}

export async function walletPage(): Promise<Node> {
  const client = buyerClient();
  const [w, st] = await Promise.all([client.wallet(), client.statement({ limit: 200 })]);
  const orgId = currentUser()?.org.id ?? w.orgId;
  const rows = [...st.transactions].reverse().map((x) => {
    const eff = effectOn(x, orgId);
    const cell = (v: number) => (v === 0 ? '' : h('span', { class: v < 0 ? 'neg' : 'pos' }, yuan(v)));
    return [
      dateTime(x.at),
      h('span', { class: `badge ledger-${x.kind}` }, safeT(`ledger.${x.kind}` as MessageKey, x.kind)),
      cell(eff.wallet),
      cell(eff.revenue),
      x.tradeId ? h('a', { href: `#/trades/${x.tradeId}` }, shortHash(x.tradeId)) : '—',
      x.memo,
    ];
  });
  return h(
    'div',
    null,
    pageHeader(t('wallet.title')),
    h('div', { class: 'tiles' }, tile(t('wallet.balance'), w.availableFen, 'available'), tile(t('wallet.held'), w.heldFen, 'held'), tile(t('wallet.revenue'), w.revenueFen, 'revenue')),
    section(
      t('wallet.statement'),
      rows.length
        ? table(t('wallet.statement'), [t('wallet.at'), t('wallet.kind'), t('wallet.walletChange'), t('wallet.revenueChange'), t('wallet.trade'), t('wallet.memo')], rows, { numeric: [2, 3] })
        : notice('info', t('wallet.empty')),
    ),
  );
}
