/**
 * 我的数据: the organisation's datasets with their level, commitment, active offers, trades and
 * revenue, and the uploads still in progress with what is missing and the command that resumes them
 * (sealing and uploading happen on the owner's machine, never in the browser).
 */
import { h, table } from '../dom.js';
import { dateTime, num, t, yuan } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { currentUser } from '../session.js';
import { mono, notice, pageHeader, safeT, section, shortHash } from '../ui.js';
import { levelBadge, sectorName } from './catalog.js';
import { all } from '../api.js';
import { type Dataset, offersOf, openUploads, ownTrades, revenueByDataset, revenueByTrade, type Upload } from './owner-data.js';

/** The CLI line that continues an upload from the sealed bundle directory it was sealed into. */
export const resumeCommand = (u: Upload): string =>
  `shuyu owner upload DATA.csv --schema SCHEMA.json --title ${JSON.stringify(u.title)} --bundle-dir BUNDLE_DIR --resume ${u.id}`;

function uploadsSection(uploads: Upload[] | null): HTMLElement {
  if (uploads === null) return section(t('mine.uploads'), notice('info', t('mine.uploadsUnavailable')));
  if (!uploads.length) return section(t('mine.uploads'), h('p', { class: 'muted' }, t('mine.uploadsNone')));
  return section(
    t('mine.uploads'),
    h(
      'ul',
      { class: 'uploads' },
      uploads.map((u) => {
        const pct = u.totalBytes ? Math.floor((u.receivedBytes / u.totalBytes) * 100) : 0;
        return h(
          'li',
          { class: 'upload', 'data-upload': u.id },
          h('h3', null, u.title, ' ', h('span', { class: `badge upstate-${u.state}` }, safeT(`upstate.${u.state}` as MessageKey, u.state))),
          h(
            'dl',
            { class: 'facts' },
            h('dt', null, t('mine.progress')),
            h('dd', null, h('progress', { max: 100, value: pct, 'aria-label': t('mine.progress') }), ` ${pct}% · ${num(u.receivedBytes)} / ${num(u.totalBytes)} B`),
            h('dt', null, t('mine.missing')),
            h('dd', null, t('mine.missingN', { n: u.missing.length, total: u.blobs.length }), u.missing.length ? h('small', { class: 'hashes' }, ' ', u.missing.slice(0, 3).map(shortHash).join(' · '), u.missing.length > 3 ? ' …' : '') : null),
            h('dt', null, t('mine.expires')),
            h('dd', null, dateTime(u.expiresAt)),
            h('dt', null, t('common.id')),
            h('dd', null, mono(u.id)),
          ),
          h('p', null, t('mine.resume')),
          h('pre', { class: 'command' }, h('code', null, resumeCommand(u))),
          h('small', { class: 'hint' }, t('mine.resumeHint')),
        );
      }),
    ),
  );
}

export async function myDatasetsPage(): Promise<Node> {
  const orgId = currentUser()!.org.id;
  const [datasets, trades, byTrade, uploads] = await Promise.all([all<Dataset>('/datasets'), ownTrades(), revenueByTrade(orgId), openUploads()]);
  const offers = new Map(await Promise.all(datasets.map(async (d) => [d.id, await offersOf(d.id)] as const)));
  const revenue = revenueByDataset(trades, byTrade);
  const tradeCount = (id: string) => trades.filter((x) => x.datasetId === id).length;
  const total = [...revenue.values()].reduce((a, b) => a + b, 0);
  return h(
    'div',
    null,
    pageHeader(t('mine.title')),
    section(
      t('mine.datasets'),
      datasets.length
        ? table(
            t('mine.datasets'),
            [t('mine.dataset'), t('mine.sector'), t('mine.rows'), t('mine.level'), t('mine.commitment'), t('mine.offers'), t('mine.trades'), t('mine.revenue')],
            datasets.map((d) => [
              h('a', { href: `#/owner/datasets/${d.id}` }, d.title),
              sectorName(d.sector),
              num(d.rowCount),
              levelBadge(d.maxLevel),
              mono(shortHash(d.commitment), d.commitment),
              String(offers.get(d.id)?.length ?? 0),
              String(tradeCount(d.id)),
              yuan(revenue.get(d.id) ?? 0),
            ]),
            { numeric: [2, 5, 6, 7], className: 'my-datasets' },
          )
        : notice('info', t('mine.empty')),
      datasets.length ? h('p', { class: 'total' }, `${t('mine.revenueTotal')}: `, h('strong', { 'data-total': String(total) }, yuan(total))) : null,
    ),
    uploadsSection(uploads),
  );
}
