/**
 * Access tokens: issue one for a user (shown once) and revoke any. The server keeps only digests and has
 * no token listing, so the list is read from the audit chain's token.issued / token.revoked events —
 * the same record an auditor sees.
 */
import type { User } from '../../client-sdk/sdk/types.js';
import { all } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { dateTime, t } from '../i18n.js';
import { operatorClient } from '../endpoints.js';
import { currentUser } from '../session.js';
import { button, errorText, mono, notice, pageHeader, section, shortHash } from '../ui.js';

interface TokenRow {
  id: string;
  userId: string;
  issuedAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

async function tokenRows(): Promise<TokenRow[]> {
  const op = operatorClient();
  const rows = new Map<string, TokenRow>();
  let after: number | undefined;
  for (;;) {
    const page = await op.auditEvents({ limit: 500, ...(after !== undefined ? { after } : {}) });
    for (const e of page.events) {
      if (e.entityType !== 'token') continue;
      if (e.action === 'token.issued') rows.set(e.entityId, { id: e.entityId, userId: String(e.data.userId), issuedAt: e.at, expiresAt: String(e.data.expiresAt), revokedAt: null });
      else if (e.action === 'token.revoked') {
        const r = rows.get(e.entityId);
        if (r) r.revokedAt = e.at;
      }
    }
    if (page.nextAfter === null || page.events.length === 0) break;
    after = page.nextAfter;
  }
  return [...rows.values()].reverse(); // newest first
}

export async function tokensPage(): Promise<Node> {
  const [users, tokens] = await Promise.all([all<User>('/users'), tokenRows()]);
  const me = currentUser()!.user;
  const userById = new Map(users.map((u) => [u.id, u]));
  const nameOf = (id: string) => userById.get(id)?.name ?? shortHash(id);
  const status = h('div', { 'aria-live': 'polite', class: 'token-status' });

  const user = h('select', { required: true }, users.map((u) => h('option', { value: u.id }, `${u.name} · ${t(`role.${u.role}`)}`)));
  const ttl = h('input', { type: 'number', min: 1, max: 365, step: 1, value: '90', required: true });
  const issue = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const who = userById.get(user.value);
        try {
          const r = await operatorClient().issueToken(user.value, Number(ttl.value));
          // shown once, here: the server cannot show it again
          replace(status, notice('ok', t('tokens.issued', { name: who?.name ?? user.value, id: r.tokenId }), ' ', h('code', { class: 'mono issued-token' }, r.token)));
          await refresh();
        } catch (err) {
          replace(status, notice('error', errorText(err)));
        }
      },
    },
    field(t('tokens.user'), user),
    field(t('tokens.ttl'), ttl),
    h('button', { type: 'submit', class: 'primary' }, t('tokens.issue')),
  );

  let now = Date.now();
  const revokeCell = (r: TokenRow): HTMLElement | string => {
    if (r.revokedAt || Date.parse(r.expiresAt) <= now) return '';
    const cell = h('div', { class: 'actions' });
    const name = nameOf(r.userId);
    const ask = button(t('tokens.revoke'), () => {
      const confirm = button(
        t('tokens.revokeConfirm'),
        async () => {
          confirm.disabled = true;
          try {
            await operatorClient().revokeToken(r.id);
            replace(status, notice('ok', t('tokens.revokedOk', { name, id: shortHash(r.id) })));
            await refresh();
          } catch (err) {
            replace(status, notice('error', errorText(err)));
            confirm.disabled = false;
          }
        },
        { class: 'danger', 'aria-label': `${t('tokens.revokeConfirm')}: ${name} ${r.id}` },
      );
      replace(cell, r.userId === me.id ? h('small', null, t('tokens.selfWarn')) : null, confirm);
      confirm.focus();
    }, { class: 'danger', 'aria-label': `${t('tokens.revoke')}: ${name} ${r.id}` });
    replace(cell, ask);
    return cell;
  };
  const state = (r: TokenRow): HTMLElement =>
    r.revokedAt
      ? h('span', { class: 'badge state-rejected' }, t('tokens.revoked'))
      : Date.parse(r.expiresAt) <= now
        ? h('span', { class: 'badge warn' }, t('tokens.expired'))
        : h('span', { class: 'badge ok' }, t('tokens.active'));

  const listOf = (rows: TokenRow[]): HTMLElement =>
    rows.length
      ? table(
          t('tokens.title'),
          [t('tokens.user'), t('users.role'), t('tokens.id'), t('tokens.issuedAt'), t('tokens.expiresAt'), t('tokens.status'), ''],
          rows.map((r) => {
            const u = userById.get(r.userId);
            return [
              h('span', { 'data-token': r.id }, nameOf(r.userId), r.userId === me.id ? t('tokens.you') : ''),
              u ? t(`role.${u.role}`) : '—',
              mono(shortHash(r.id), r.id),
              dateTime(r.issuedAt),
              dateTime(r.expiresAt),
              state(r),
              revokeCell(r),
            ];
          }),
          { className: 'tokens' },
        )
      : notice('info', t('tokens.none'));
  const list = h('div', { class: 'token-list' }, listOf(tokens));
  // the list is re-read in place, so a token just issued stays on screen while its row appears
  async function refresh(): Promise<void> {
    const rows = await tokenRows();
    now = Date.now();
    replace(list, listOf(rows));
  }

  return h(
    'div',
    null,
    pageHeader(t('tokens.title')),
    notice('info', t('tokens.intro')),
    section(t('tokens.issue'), issue, status),
    section(t('tokens.title'), list),
  );
}
