/**
 * One of the owner's datasets: overview with its revenue, the active offers (new, revise, withdraw)
 * and the trades on it with the buying organisation by name.
 */
import { call, get } from '../api.js';
import { h, replace, table } from '../dom.js';
import { dateTime, list, num, t, yuan } from '../i18n.js';
import type { RouteMatch } from '../router.js';
import { go } from '../router.js';
import { currentUser } from '../session.js';
import { button, dl, errorText, mono, notice, pageHeader, section, stateBadge } from '../ui.js';
import { levelBadge, sectorName } from './catalog.js';
import { priceText } from './dataset.js';
import { purposeName } from './purposes.js';
import { type Dataset, type Offer, offersOf, ownTrades, revenueByTrade, type Trade } from './owner-data.js';

function offerCard(o: Offer, status: HTMLElement): HTMLElement {
  const actions = h('div', { class: 'actions' });
  const withdraw = button(t('mine.withdraw'), () => {
    // a second, explicit step: withdrawal cannot be undone (a new offer would have a new id)
    const confirm = button(
      t('mine.withdrawConfirm'),
      async () => {
        confirm.disabled = true;
        try {
          const w = await call<Offer>('POST', `/offers/${o.id}/withdraw`);
          replace(status, notice('ok', t('mine.withdrawn', { title: w.title, v: w.version })));
          setTimeout(() => go(location.hash), 600);
        } catch (e) {
          replace(status, notice('error', errorText(e)));
          confirm.disabled = false;
        }
      },
      { class: 'danger', 'aria-label': `${t('mine.withdrawConfirm')}: ${o.title}` },
    );
    replace(actions, h('p', { class: 'confirm' }, t('mine.withdrawAsk', { title: o.title })), confirm);
    confirm.focus();
  }, { class: 'danger', 'aria-label': `${t('mine.withdraw')}: ${o.title}` });
  replace(actions, h('a', { class: 'button', href: `#/owner/offers/${o.id}/revise`, 'aria-label': `${t('mine.revise')}: ${o.title}` }, t('mine.revise')), withdraw);
  return h(
    'article',
    { class: 'offer', 'data-offer': o.id },
    h('h3', null, o.title, ' ', h('small', null, t('offer.version', { v: o.version }))),
    o.description ? h('p', null, o.description) : null,
    dl([
      [t('offer.price'), priceText(o.priceModel)],
      [t('offer.kinds'), list(o.allowedKinds.map((k) => t(`kind.${k}`)))],
      [t('offer.columns'), o.allowedColumns.join(', ')],
      [t('offer.purposes'), list(o.terms.purposes.map(purposeName))],
      [t('offer.destinations'), o.terms.destinations.join(', ')],
      [t('offer.validity'), `${dateTime(o.terms.validFrom)} – ${dateTime(o.terms.validUntil)}`],
      [t('offer.fee'), `${num(o.platformFeeBps / 100)}%`],
    ]),
    actions,
  );
}

function tradesTable(trades: Trade[], revenue: ReadonlyMap<string, number>): HTMLElement {
  if (!trades.length) return h('p', { class: 'muted' }, t('mine.noTrades'));
  return table(
    t('mine.tradesOn'),
    [t('mine.submitted'), t('mine.buyer'), t('mine.purpose'), t('mine.state'), t('mine.price'), t('mine.share'), t('mine.revenue'), ''],
    trades.map((tr) => [
      dateTime(tr.createdAt),
      tr.buyerOrgName || mono(tr.buyerOrgId),
      h('span', { title: tr.purpose.statement }, purposeName(tr.purpose.code)),
      stateBadge(tr.state),
      yuan(tr.priceFen),
      yuan(tr.ownerShareFen),
      yuan(revenue.get(tr.id) ?? 0),
      h('a', { href: `#/trades/${tr.id}`, 'aria-label': `${t('common.more')}: ${tr.buyerOrgName ?? tr.id}` }, t('common.more')),
    ]),
    { numeric: [4, 5, 6], className: 'owner-trades' },
  );
}

export async function myDatasetPage(m: RouteMatch): Promise<Node> {
  const id = m.params[0]!;
  const [d, offers, allTrades, byTrade] = await Promise.all([get<Dataset>(`/datasets/${id}`), offersOf(id), ownTrades(), revenueByTrade(currentUser()!.org.id)]);
  const trades = allTrades.filter((x) => x.datasetId === id);
  const revenue = trades.reduce((a, x) => a + (byTrade.get(x.id) ?? 0), 0);
  const status = h('div', { 'aria-live': 'polite', class: 'offer-status' });
  return h(
    'div',
    null,
    pageHeader(d.title, h('p', { class: 'meta' }, h('span', { class: 'badge sector' }, sectorName(d.sector)), ' ', levelBadge(d.maxLevel))),
    section(
      t('mine.overview'),
      d.description ? h('p', null, d.description) : null,
      dl([
        [t('mine.rows'), num(d.rowCount)],
        [t('mine.version'), String(d.version)],
        [t('mine.created'), dateTime(d.createdAt)],
        [t('dataset.commitment'), mono(d.commitment)],
        [t('mine.trades'), String(trades.length)],
        [t('mine.revenueTotal'), h('strong', { class: 'dataset-revenue' }, yuan(revenue))],
      ]),
      h('p', null, h('a', { href: `#/datasets/${d.id}` }, t('mine.catalogView'))),
    ),
    section(
      t('mine.offersOn'),
      h('div', { class: 'actions' }, h('a', { class: 'button primary', href: `#/owner/datasets/${d.id}/offers/new` }, t('mine.newOffer'))),
      status,
      offers.length ? h('div', { class: 'offers' }, offers.map((o) => offerCard(o, status))) : h('p', { class: 'muted' }, t('mine.noOffers')),
    ),
    section(t('mine.tradesOn'), tradesTable(trades, byTrade)),
  );
}
