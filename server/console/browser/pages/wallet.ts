/** Wallet balance (available, held in escrow, revenue) and the statement of ledger entries. */
import { h, table } from '../dom.js';
import { dateTime, t, yuan } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { statement, wallet } from '../endpoints.js';
import { isMissingRoute, notice, pageHeader, safeT, section, shortHash } from '../ui.js';

const fen = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

function tile(label: string, amount: number | null, cls: string): HTMLElement {
  return h('div', { class: `tile ${cls}` }, h('span', { class: 'tile-label' }, label), h('strong', { class: 'tile-value' }, amount === null ? '—' : yuan(amount)));
}

export async function walletPage(): Promise<Node> {
  let w: Record<string, unknown>;
  let entries: Record<string, unknown>[];
  try {
    [w, entries] = await Promise.all([wallet(), statement()]);
  } catch (e) {
    if (isMissingRoute(e)) return h('div', null, pageHeader(t('wallet.title')), notice('info', t('common.unavailable', { what: 'GET /v1/ledger/…' })));
    throw e;
  }
  const available = fen(w.availableFen ?? w.balanceFen ?? w.walletFen);
  const held = fen(w.heldFen ?? w.escrowFen);
  const revenue = fen(w.revenueFen);
  return h(
    'div',
    null,
    pageHeader(t('wallet.title')),
    h('div', { class: 'tiles' }, tile(t('wallet.balance'), available, 'available'), tile(t('wallet.held'), held, 'held'), revenue !== null ? tile(t('wallet.revenue'), revenue, 'revenue') : null),
    section(
      t('wallet.statement'),
      entries.length
        ? table(
            t('wallet.statement'),
            [t('wallet.at'), t('wallet.kind'), t('wallet.amount'), t('wallet.trade'), t('wallet.memo')],
            entries.map((e) => {
              const amount = fen(e.amountFen) ?? 0;
              const kind = String(e.kind ?? e.type ?? '');
              const tradeId = typeof e.tradeId === 'string' ? e.tradeId : null;
              return [
                dateTime(String(e.at ?? e.createdAt ?? '')),
                h('span', { class: `badge ledger-${kind}` }, safeT(`ledger.${kind}` as MessageKey, kind)),
                h('span', { class: amount < 0 ? 'neg' : 'pos' }, yuan(amount)),
                tradeId ? h('a', { href: `#/trades/${tradeId}` }, shortHash(tradeId)) : '—',
                String(e.memo ?? e.description ?? ''),
              ];
            }),
            { numeric: [2] },
          )
        : notice('info', t('wallet.empty')),
    ),
  );
}
