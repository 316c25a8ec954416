/** A dataset's page: overview, schema (roles, levels, tags, bounds), offers, and a generated sample. */
import type { CatalogEntry, Sample } from '../../client-sdk/sdk/types.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { PriceModel } from '../../contracts/offer/price-model.js';
import { get } from '../api.js';
import { h, table } from '../dom.js';
import { dateTime, list, num, t, yuan } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import type { RouteMatch } from '../router.js';
import type { Offer } from '../endpoints.js';
import { dl, mono, notice, pageHeader, safeT, section } from '../ui.js';
import { levelBadge, sectorName } from './catalog.js';
import { currentUser } from '../session.js';
import { buyPanel } from './buy.js';
import { purposeName } from './purposes.js';

export const tagChip = (tag: string): HTMLElement => h('span', { class: `tag tag-${tag}` }, safeT(`tag.${tag}` as MessageKey, tag));

export function priceText(p: PriceModel): string {
  switch (p.kind) {
    case 'fixed':
      return t('price.fixed', { p: yuan(p.perQueryFen) });
    case 'per-row':
      return t('price.per-row', { p: yuan(p.fenPerThousandRows) }) + (p.minimumFen ? t('price.minimum', { p: yuan(p.minimumFen) }) : '');
    case 'tiered':
      return `${t('price.tiered')}: ${p.tiers.map((x) => `${x.upToRows === null ? '∞' : num(x.upToRows)} → ${yuan(x.fenPerThousandRows)}`).join('; ')}`;
    case 'subscription':
      return `${t('price.subscription')}: ${yuan(p.periodFen)} / ${p.periodDays}d × ${p.queriesPerPeriod}`;
    case 'epsilon':
      return `${t('price.epsilon')}: ${yuan(p.baseFen)} + ${yuan(p.fenPerEpsilon)} × ε`;
  }
}

function offerCard(o: Offer): HTMLElement {
  return h(
    'article',
    { class: 'offer' },
    h('h3', null, o.title, ' ', h('small', null, t('offer.version', { v: o.version }))),
    o.description ? h('p', null, o.description) : null,
    dl([
      [t('offer.price'), priceText(o.priceModel)],
      [t('offer.kinds'), list(o.allowedKinds.map((k) => t(`kind.${k}`)))],
      [t('offer.columns'), o.allowedColumns.join(', ')],
      [t('offer.purposes'), list(o.terms.purposes.map(purposeName))],
      [t('offer.validity'), `${dateTime(o.terms.validFrom)} – ${dateTime(o.terms.validUntil)}`],
      [t('offer.epsilon'), `${o.terms.epsilonPerQuery} / ${o.terms.epsilonBudgetPerBuyer}`],
      [t('offer.minGroup'), String(o.terms.minGroupSize)],
      [t('offer.quota'), String(o.terms.queryQuotaPerBuyer)],
      [t('offer.destinations'), o.terms.destinations.join(', ')],
      [t('offer.fee'), `${num(o.platformFeeBps / 100)}%`],
    ]),
  );
}

export function schemaTable(schema: DatasetSchema): HTMLElement {
  return table(
    t('dataset.schema'),
    [t('col.name'), t('col.type'), t('col.role'), t('col.level'), t('col.tags'), t('col.bounds'), t('col.description')],
    schema.columns.map((c) => [
      mono(c.name),
      c.type,
      t(`colrole.${c.role}`),
      levelBadge(c.level),
      (c.tags ?? []).map(tagChip),
      c.bounds ? `[${num(c.bounds[0])}, ${num(c.bounds[1])}]` : c.values ? c.values.slice(0, 8).join(', ') + (c.values.length > 8 ? ` … (${c.values.length})` : '') : '—',
      c.description ?? '',
    ]),
  );
}

export async function datasetPage(m: RouteMatch): Promise<Node> {
  const id = m.params[0]!;
  const [entry, sample, offers] = await Promise.all([
    get<CatalogEntry & { schema: DatasetSchema }>(`/catalog/${id}`),
    get<Sample>(`/catalog/${id}/sample`, { rows: 8 }),
    get<{ items: Offer[] }>(`/catalog/${id}/offers`),
  ]);
  const offersBody = offers.items.length ? h('div', { class: 'offers' }, offers.items.map(offerCard)) : notice('info', t('dataset.noOffers'));

  return h(
    'div',
    null,
    pageHeader(entry.title, h('p', { class: 'meta' }, h('span', { class: 'badge sector' }, sectorName(entry.sector)), ' ', levelBadge(entry.maxLevel))),
    section(
      t('dataset.overview'),
      entry.description ? h('p', null, entry.description) : null,
      dl([
        [t('catalog.rows'), num(entry.rowCount)],
        [t('dataset.version'), String(entry.version)],
        [t('common.created'), dateTime(entry.createdAt)],
        [t('dataset.commitment'), mono(entry.commitment)],
        [t('dataset.keywords'), list(entry.keywords) || '—'],
      ]),
    ),
    section(t('dataset.schema'), schemaTable(entry.schema)),
    section(t('dataset.offers'), offersBody),
    // buyers build, quote and submit a computation here, limited to what the offers sell
    currentUser()?.user.role === 'buyer' && offers.items.length ? buyPanel(entry.schema, offers.items) : null,
    section(
      t('dataset.sample'),
      notice('info', t('dataset.sampleNote')),
      table(t('dataset.sample'), sample.columns, sample.rows.map((r) => r.map((v) => (v === null ? '∅' : String(v))))),
    ),
  );
}
