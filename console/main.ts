/**
 * The Shuyu web console: one page served on the API's origin (server/console/serve.ts), built by
 * scripts/build-console.ts. The shell (skip link, header with navigation by role, language switch,
 * sign-out) and the page routes live here; each page is in pages/.
 */
import './styles.css';
import { h, replace } from './dom.js';
import { lang, setLang, t } from './i18n.js';
import { go, HOME, match, type PageRoute } from './router.js';
import { currentUser, restore, signOut } from './session.js';
import { forgetKey } from './pages/key-loader.js';
import { errorBox, notice } from './ui.js';
import { signInPage } from './pages/signin.js';
import { catalogPage } from './pages/catalog.js';
import { datasetPage } from './pages/dataset.js';
import { reviewQueuePage, reviewTradePage } from './pages/review.js';
import { tradesPage, tradePage } from './pages/trades.js';
import { walletPage } from './pages/wallet.js';
import { orgsPage, usersPage, certificatesPage, auditPage } from './pages/operator.js';
import { policyPage } from './pages/operator-policy.js';
import { tokensPage } from './pages/operator-tokens.js';
import { topUpsPage } from './pages/operator-topups.js';
import { myDatasetsPage } from './pages/owner-datasets.js';
import { myDatasetPage } from './pages/owner-dataset.js';
import { newOfferPage, reviseOfferPage } from './pages/owner-offer.js';

const ALL = ['owner', 'buyer', 'reviewer', 'operator'] as const;

const routes: PageRoute[] = [
  { pattern: /^\/signin$/, roles: 'public', render: signInPage },
  { pattern: /^\/owner\/datasets$/, roles: ['owner'], nav: 'nav.myData', href: '#/owner/datasets', render: myDatasetsPage },
  { pattern: /^\/owner\/datasets\/([^/]+)$/, roles: ['owner'], render: myDatasetPage },
  { pattern: /^\/owner\/datasets\/([^/]+)\/offers\/new$/, roles: ['owner'], render: newOfferPage },
  { pattern: /^\/owner\/offers\/([^/]+)\/revise$/, roles: ['owner'], render: reviseOfferPage },
  { pattern: /^\/catalog$/, roles: ALL, nav: 'nav.catalog', href: '#/catalog', render: catalogPage },
  { pattern: /^\/datasets\/([^/]+)$/, roles: ALL, render: datasetPage },
  { pattern: /^\/review$/, roles: ['reviewer'], nav: 'nav.review', href: '#/review', render: reviewQueuePage },
  { pattern: /^\/review\/([^/]+)$/, roles: ['reviewer'], render: reviewTradePage },
  { pattern: /^\/trades$/, roles: ['buyer', 'owner'], nav: 'nav.trades', href: '#/trades', render: tradesPage },
  { pattern: /^\/trades\/([^/]+)$/, roles: ['buyer', 'owner', 'operator'], render: tradePage },
  { pattern: /^\/wallet$/, roles: ['buyer', 'owner', 'operator'], nav: 'nav.wallet', href: '#/wallet', render: walletPage },
  { pattern: /^\/operator\/orgs$/, roles: ['operator'], nav: 'nav.orgs', href: '#/operator/orgs', render: orgsPage },
  { pattern: /^\/operator\/users$/, roles: ['operator'], nav: 'nav.users', href: '#/operator/users', render: usersPage },
  { pattern: /^\/operator\/tokens$/, roles: ['operator'], nav: 'nav.tokens', href: '#/operator/tokens', render: tokensPage },
  { pattern: /^\/operator\/topups$/, roles: ['operator'], nav: 'nav.topups', href: '#/operator/topups', render: topUpsPage },
  { pattern: /^\/operator\/certificates$/, roles: ['operator'], nav: 'nav.certs', href: '#/operator/certificates', render: certificatesPage },
  { pattern: /^\/operator\/policy$/, roles: ['operator'], nav: 'nav.policy', href: '#/operator/policy', render: policyPage },
  { pattern: /^\/operator\/audit$/, roles: ['operator'], nav: 'nav.audit', href: '#/operator/audit', render: auditPage },
];

function header(activePath: string): HTMLElement {
  const me = currentUser();
  const navItems = me ? routes.filter((r) => r.nav && r.roles !== 'public' && r.roles.includes(me.user.role)) : [];
  const other = lang() === 'zh' ? 'en' : 'zh';
  return h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: me ? HOME[me.user.role] : '#/signin' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '域'), h('span', null, t('app.name'))),
    me
      ? h(
          'nav',
          { 'aria-label': t('nav.main') },
          h('ul', null, navItems.map((r) => h('li', null, h('a', { href: r.href!, 'aria-current': activePath.startsWith(r.href!.slice(1)) ? 'page' : null }, t(r.nav!))))),
        )
      : h('span', { class: 'tagline' }, t('app.tagline')),
    h(
      'div',
      { class: 'who' },
      me ? h('span', { class: 'user' }, h('span', null, me.user.name), h('small', null, `${t(`role.${me.user.role}`)} · ${me.org.name}`)) : null,
      h('button', { type: 'button', class: 'ghost', lang: other === 'zh' ? 'zh-CN' : 'en', 'aria-label': t('nav.switchLangLabel'), onclick: () => { setLang(other); void render(); } }, t('nav.switchLang')),
      me ? h('button', { type: 'button', class: 'ghost', onclick: () => { forgetKey(); signOut(); go('#/signin'); } }, t('nav.signout')) : null,
    ),
  );
}

let renderSeq = 0;

async function render(): Promise<void> {
  const seq = ++renderSeq;
  const app = document.getElementById('app')!;
  const me = currentUser();
  const found = match(routes, location.hash);
  if (!me && found?.route.roles !== 'public') return go('#/signin');
  if (me && !found) return go(HOME[me.user.role]!);
  const path = location.hash.replace(/^#/, '');
  const main = h('main', { id: 'main', tabindex: -1 }, h('p', { class: 'loading', role: 'status' }, t('common.loading')));
  replace(app, h('a', { class: 'skip', href: '#main', onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, t('nav.skip')), header(path), main);
  if (!found) return replace(main, notice('warn', t('common.notFound')));
  if (me && found.route.roles !== 'public' && !found.route.roles.includes(me.user.role)) return replace(main, notice('warn', t('common.forbidden')));
  try {
    const node = await found.route.render(found.m);
    if (seq !== renderSeq) return;
    replace(main, node);
  } catch (e) {
    if (seq !== renderSeq) return;
    replace(main, errorBox(e));
  }
  const h1 = main.querySelector('h1');
  document.title = `${h1?.textContent ?? ''} · ${t('app.name')} Shuyu`;
  main.dataset.ready = 'true';
  (h1 as HTMLElement | null)?.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void render());
setLang(lang());
void restore().then(() => {
  const me = currentUser();
  if (me && (location.hash === '' || location.hash === '#/' || location.hash === '#/signin')) go(HOME[me.user.role]!);
  else void render();
});
