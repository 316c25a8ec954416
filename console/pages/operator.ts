/** Operator pages: organisations, users, reviewer certificates, audit verification (tokens, top-ups and the negative list have pages of their own). */
import type { Org, User } from '../../client-sdk/sdk/types.js';
import { verifyAuditLog } from '../../contracts/audit/verify.js';
import { all, ApiError, get } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { bi, dateTime, t } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { reviewerCertificateFor } from '../../client-sdk/sdk/operator.js';
import { buyerClient, operatorClient, savePin } from '../endpoints.js';
import { keyLoader, loadedKey } from './key-loader.js';
import { go } from '../router.js';
import { button, dl, errorBox, errorText, mono, notice, pageHeader, safeT, section, shortHash } from '../ui.js';

export async function orgsPage(): Promise<Node> {
  const orgs = await all<Org>('/orgs');
  const name = h('input', { type: 'text', required: true, maxlength: 200 });
  const region = h('input', { type: 'text', value: 'CN', pattern: '[A-Z]{2}(-[A-Z0-9]{1,3})?', maxlength: 6, size: 6 });
  const status = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const org = await operatorClient().createOrg({ name: name.value.trim(), region: region.value.trim() || 'CN' });
          replace(status, notice('ok', t('orgs.created', { name: org.name })));
          setTimeout(() => go('#/operator/orgs'), 600);
        } catch (err) {
          replace(status, notice('error', errorText(err)));
        }
      },
    },
    field(t('orgs.name'), name),
    field(t('orgs.region'), region),
    h('button', { type: 'submit', class: 'primary' }, t('orgs.create')),
  );
  return h(
    'div',
    null,
    pageHeader(t('orgs.title')),
    section(t('orgs.title'), table(t('orgs.title'), [t('orgs.name'), t('orgs.region'), t('common.created'), t('common.id')], orgs.map((o) => [o.name, o.region, dateTime(o.createdAt), mono(o.id)]))),
    section(t('orgs.create'), form, status),
  );
}

export async function usersPage(): Promise<Node> {
  const [users, orgs] = await Promise.all([all<User>('/users'), all<Org>('/orgs')]);
  const orgName = new Map(orgs.map((o) => [o.id, o.name]));
  const name = h('input', { type: 'text', required: true, maxlength: 200 });
  const org = h('select', { required: true }, orgs.map((o) => h('option', { value: o.id }, o.name)));
  const role = h('select', null, (['owner', 'buyer', 'reviewer', 'operator'] as const).map((r) => h('option', { value: r }, t(`role.${r}`))));
  const status = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const r = await operatorClient().createUser({ orgId: org.value, name: name.value.trim(), role: role.value as User['role'] });
          replace(status, notice('ok', t('users.created', { name: r.user.name }), ' ', mono(r.token.token)));
        } catch (err) {
          replace(status, notice('error', errorText(err)));
        }
      },
    },
    field(t('users.name'), name),
    field(t('users.org'), org),
    field(t('users.role'), role),
    h('button', { type: 'submit', class: 'primary' }, t('users.create')),
  );
  return h(
    'div',
    null,
    pageHeader(t('users.title')),
    section(
      t('users.title'),
      table(
        t('users.title'),
        [t('users.name'), t('users.org'), t('users.role'), t('users.key'), t('common.created')],
        users.map((u) => [u.name, orgName.get(u.orgId) ?? shortHash(u.orgId), t(`role.${u.role}`), u.keyFingerprint ? mono(shortHash(u.keyFingerprint)) : '—', dateTime(u.createdAt)]),
      ),
    ),
    section(t('users.create'), form, status),
  );
}

/**
 * Reviewers, their registered keys and the operator's certificates of them. Certifying signs the
 * certificate statement with the operator's key in this page (the SDK's reviewerCertificateFor) and
 * submits it; the server checks it against the operator's pinned key.
 */
export async function certificatesPage(): Promise<Node> {
  const reviewers = (await all<User>('/users')).filter((u) => u.role === 'reviewer');
  const status = h('div', { 'aria-live': 'polite' });
  const certifyButtons: HTMLButtonElement[] = [];
  const certifyButton = (u: User): HTMLButtonElement => {
    const b = h('button', { type: 'button', class: 'primary', disabled: !loadedKey(), 'aria-label': `${t('certs.certify')}: ${u.name}` }, t('certs.certify'));
    b.addEventListener('click', async () => {
      const key = loadedKey();
      if (!key) return replace(status, notice('error', t('review.needKey')));
      b.disabled = true;
      try {
        await operatorClient().submitCertificate(u.id, reviewerCertificateFor(u, key.privateKey));
        replace(status, notice('ok', t('certs.certified', { name: u.name })));
        setTimeout(() => go('#/operator/certificates'), 800);
      } catch (e) {
        replace(status, notice('error', errorText(e)));
        b.disabled = false;
      }
    });
    certifyButtons.push(b);
    return b;
  };
  const rows = await Promise.all(
    reviewers.map(async (u) => {
      if (!u.publicKeyPem) return [u.name, h('span', { class: 'muted' }, t('certs.noKey')), '—', '—'];
      try {
        // Certifications are audit events of the user: ask for the certificate only when one exists for
        // the current key (the API answers 404 otherwise, which a browser reports as an error).
        const { events } = await operatorClient().auditEvents({ entityId: u.id, limit: 500 });
        if (!events.some((e) => e.action === 'reviewer.certified' && e.data.fingerprint === u.keyFingerprint)) {
          return [u.name, mono(shortHash(u.keyFingerprint)), h('span', { class: 'badge warn' }, t('certs.none')), certifyButton(u)];
        }
        const c = await get<{ fingerprint: string; expiresAt: string }>(`/users/${u.id}/certificate`);
        const current = c.fingerprint === u.keyFingerprint;
        return [
          u.name,
          mono(shortHash(u.keyFingerprint)),
          h('span', { class: current ? 'badge ok' : 'badge warn', title: current ? null : t('certs.stale') }, mono(shortHash(c.fingerprint))),
          current ? dateTime(c.expiresAt) : certifyButton(u),
        ];
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return [u.name, mono(shortHash(u.keyFingerprint)), h('span', { class: 'badge warn' }, t('certs.none')), certifyButton(u)];
        return [u.name, mono(shortHash(u.keyFingerprint)), errorBox(e), '—'];
      }
    }),
  );
  return h(
    'div',
    null,
    pageHeader(t('certs.title')),
    notice('info', t('certs.hint')),
    section(t('certs.title'), table(t('certs.title'), [t('certs.reviewer'), t('users.key'), t('certs.fingerprint'), t('certs.expires')], rows), status),
    certifyButtons.length ? section(t('review.key'), keyLoader(() => certifyButtons.forEach((b) => (b.disabled = false)))) : null,
  );
}

const TRUSTED_CHECKPOINT = 'shuyu.auditCheckpoint';

/**
 * Verifies the whole audit chain in this page with verifyAuditLog (every hash recomputed, every
 * checkpoint's signature checked against the enclave's signing key — the key pinned in this browser, as
 * for receipts), like an outside monitor: the latest checkpoint seen is remembered here too, so a
 * rewritten or rolled-back chain fails in the page even if the server's own verification said otherwise.
 */
async function verifyInPage(): Promise<{ ok: boolean; text: string }> {
  const op = operatorClient();
  const events: unknown[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await op.auditEvents({ limit: 500, ...(after !== undefined ? { after } : {}) });
    events.push(...page.events);
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  const { checkpoints } = await op.checkpoints();
  const latest = checkpoints.at(-1);
  const enclave = buyerClient(); // any role's client pins the same way; the pin is shared with receipts
  const pin = await enclave.pinEnclave();
  savePin(pin);
  const trustedText = localStorage.getItem(TRUSTED_CHECKPOINT);
  const v = verifyAuditLog({ events, checkpoints }, pin.publicKeyPem, trustedText ? JSON.parse(trustedText) : undefined);
  if (!v.ok) return { ok: false, text: t('audit.bad', { reason: `${v.reason}${v.seq !== undefined ? ` (seq ${v.seq})` : ''}` }) };
  if (latest) localStorage.setItem(TRUSTED_CHECKPOINT, JSON.stringify(latest));
  return { ok: true, text: t('audit.ok', { n: v.events, head: shortHash(v.head) }) };
}

export async function auditPage(): Promise<Node> {
  const op = operatorClient();
  const serverVerdict = h('div', { 'aria-live': 'polite', class: 'verdict' });
  const pageVerdict = h('div', { 'aria-live': 'polite', class: 'verdict', 'data-role': 'in-page' });
  const runVerify = async (): Promise<void> => {
    replace(serverVerdict, notice('info', t('common.loading')));
    replace(pageVerdict, notice('info', t('common.loading')));
    try {
      const v = await op.verifyAudit();
      const head = typeof v.head === 'string' ? shortHash(v.head) : '—';
      replace(serverVerdict, v.ok ? notice('ok', t('audit.server'), ' ', t('audit.ok', { n: v.events, head })) : notice('error', t('audit.server'), ' ', t('audit.bad', { reason: String(v.reason ?? '') })));
    } catch (e) {
      replace(serverVerdict, errorBox(e));
    }
    try {
      const v = await verifyInPage();
      replace(pageVerdict, notice(v.ok ? 'ok' : 'error', t('audit.inPage'), ' ', v.text));
      pageVerdict.dataset.verified = String(v.ok);
    } catch (e) {
      replace(pageVerdict, errorBox(e));
    }
  };
  const [{ checkpoints }, { events }, users] = await Promise.all([op.checkpoints(), op.auditEvents({ limit: 500 }), all<User>('/users')]);
  const names = new Map(users.map((u) => [u.id, u.name]));
  const cp = checkpoints.at(-1);
  void runVerify();
  return h(
    'div',
    null,
    pageHeader(t('audit.title')),
    section(
      t('audit.verify'),
      h(
        'div',
        { class: 'actions' },
        button(t('audit.verify'), () => void runVerify(), { class: 'primary' }),
        button(t('audit.sign'), async () => {
          try {
            await op.checkpoint();
            location.reload();
          } catch (e) {
            replace(serverVerdict, errorBox(e));
          }
        }),
      ),
      serverVerdict,
      pageVerdict,
    ),
    section(
      t('audit.checkpoint'),
      cp
        ? dl([
            [t('audit.seq'), String(cp.statement.seq)],
            [t('audit.head'), mono(cp.statement.head)],
            [t('audit.at'), dateTime(cp.statement.at)],
            [t('users.key'), mono(cp.statement.keyFingerprint)],
            [t('audit.signature'), mono(shortHash(cp.signature))],
          ])
        : notice('info', t('audit.noCheckpoint')),
    ),
    section(
      t('audit.events'),
      table(
        t('audit.events'),
        [t('audit.seq'), t('audit.at'), t('audit.actor'), t('audit.entity'), t('audit.action')],
        events.slice(-50).reverse().map((e) => [String(e.seq), dateTime(e.at), names.get(e.actor) ?? e.actor, h('span', null, e.entityType, ' ', mono(shortHash(e.entityId))), e.action]),
        { numeric: [0] },
      ),
    ),
  );
}
