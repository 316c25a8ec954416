/** The catalogue: sectors, keyword and level search over GET /v1/catalog; one card per dataset. */
import { SECTORS } from '../../contracts/dataset/sectors.js';
import { LEVEL_NAMES } from '../../contracts/dataset/schema.js';
import type { CatalogEntry } from '../../client-sdk/sdk/types.js';
import { get, type Page } from '../api.js';
import { field, h } from '../dom.js';
import { bi, num, t } from '../i18n.js';
import type { RouteMatch } from '../router.js';
import { go } from '../router.js';
import { notice, pageHeader } from '../ui.js';

export const sectorName = (slug: string): string => bi(SECTORS.find((s) => s.slug === slug)) || slug;
export const levelName = (level: number): string => `L${level} ${bi(LEVEL_NAMES[level as 1 | 2 | 3 | 4])}`;
export const levelBadge = (level: number): HTMLElement => h('span', { class: `badge level-${level}` }, levelName(level));

export async function catalogPage(m: RouteMatch): Promise<Node> {
  const sector = m.query.get('sector') ?? '';
  const q = m.query.get('q') ?? '';
  const level = m.query.get('level') ?? '';
  const page = await get<Page<CatalogEntry>>('/catalog', { sector, q, level, limit: 100 });

  const sectorSel = h(
    'select',
    { name: 'sector' },
    h('option', { value: '' }, t('catalog.allSectors')),
    SECTORS.map((s) => h('option', { value: s.slug, selected: s.slug === sector }, bi(s))),
  );
  const qInput = h('input', { type: 'search', name: 'q', value: q, maxlength: 100 });
  const levelSel = h(
    'select',
    { name: 'level' },
    h('option', { value: '' }, t('catalog.anyLevel')),
    [1, 2, 3, 4].map((l) => h('option', { value: String(l), selected: String(l) === level }, levelName(l))),
  );
  const form = h(
    'form',
    {
      class: 'filters card',
      role: 'search',
      'aria-label': t('catalog.filters'),
      onsubmit: (e: Event) => {
        e.preventDefault();
        const p = new URLSearchParams();
        if (sectorSel.value) p.set('sector', sectorSel.value);
        if (qInput.value.trim()) p.set('q', qInput.value.trim());
        if (levelSel.value) p.set('level', levelSel.value);
        go(`#/catalog${p.size ? `?${p}` : ''}`);
      },
    },
    field(t('catalog.sector'), sectorSel),
    field(t('catalog.q'), qInput, t('catalog.qHint')),
    field(t('catalog.level'), levelSel),
    h('button', { type: 'submit', class: 'primary' }, t('catalog.search')),
  );

  // Sector shortcuts: the sectors that have datasets in the current result, as links.
  const counts = new Map<string, number>();
  for (const d of page.items) counts.set(d.sector, (counts.get(d.sector) ?? 0) + 1);
  const chips = h(
    'nav',
    { class: 'chips', 'aria-label': t('catalog.sectors') },
    SECTORS.filter((s) => counts.has(s.slug) || s.slug === sector).map((s) =>
      h('a', { class: 'chip', href: `#/catalog?sector=${s.slug}`, 'aria-current': s.slug === sector ? 'true' : null }, bi(s), h('span', { class: 'count' }, String(counts.get(s.slug) ?? 0))),
    ),
  );

  const cards = page.items.map((d) =>
    h(
      'li',
      { class: 'dataset-card card' },
      h('h2', null, h('a', { href: `#/datasets/${d.id}` }, d.title)),
      h('p', { class: 'meta' }, h('span', { class: 'badge sector' }, sectorName(d.sector)), ' ', levelBadge(d.maxLevel)),
      d.description ? h('p', { class: 'desc' }, d.description) : null,
      h(
        'dl',
        { class: 'facts compact' },
        h('dt', null, t('catalog.rows')),
        h('dd', null, num(d.rowCount)),
        h('dt', null, t('catalog.columns')),
        h('dd', null, String(d.columns.length)),
        h('dt', null, t('catalog.offers')),
        h('dd', null, String(d.activeOffers)),
      ),
      d.keywords.length ? h('p', { class: 'keywords' }, d.keywords.map((k) => h('span', { class: 'kw' }, k))) : null,
    ),
  );

  return h(
    'div',
    null,
    pageHeader(t('catalog.title'), h('p', { class: 'sub' }, t('catalog.results', { n: page.items.length }))),
    form,
    chips,
    cards.length ? h('ul', { class: 'grid' }, cards) : notice('info', t('catalog.empty')),
  );
}
