/** Operator pages: organisations, users, reviewer certificates, negative-list versions, audit verification. */
import type { Org, User } from '../../../../client-sdk/sdk/types.js';
import type { PolicyDocument } from '../../../../contracts/policy/schema.js';
import { all, ApiError, call, get } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { bi, dateTime, t } from '../i18n.js';
import type { MessageKey } from '../messages.js';
import { auditCheckpoint, auditEvents, auditVerify, policies } from '../endpoints.js';
import { go } from '../router.js';
import { button, dl, errorBox, errorText, isMissingRoute, mono, notice, pageHeader, safeT, section, shortHash } from '../ui.js';

const unavailable = (what: string): HTMLElement => notice('info', t('common.unavailable', { what }));

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
          const org = await call<Org>('POST', '/orgs', { body: { name: name.value.trim(), region: region.value.trim() || 'CN' } });
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
          const r = await call<{ user: User; token: { token: string; expiresAt: string } }>('POST', '/users', { body: { orgId: org.value, name: name.value.trim(), role: role.value } });
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

export async function certificatesPage(): Promise<Node> {
  const reviewers = (await all<User>('/users')).filter((u) => u.role === 'reviewer');
  const rows = await Promise.all(
    reviewers.map(async (u) => {
      if (!u.publicKeyPem) return [u.name, h('span', { class: 'muted' }, t('certs.noKey')), '—', '—'];
      try {
        const c = await get<{ fingerprint: string; expiresAt: string }>(`/users/${u.id}/certificate`);
        const current = c.fingerprint === u.keyFingerprint;
        return [u.name, mono(shortHash(u.keyFingerprint)), h('span', { class: current ? 'badge ok' : 'badge warn' }, mono(shortHash(c.fingerprint))), dateTime(c.expiresAt)];
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return [u.name, mono(shortHash(u.keyFingerprint)), h('span', { class: 'badge warn' }, t('certs.none')), '—'];
        return [u.name, mono(shortHash(u.keyFingerprint)), errorBox(e), '—'];
      }
    }),
  );
  return h(
    'div',
    null,
    pageHeader(t('certs.title')),
    notice('info', t('certs.hint')),
    section(t('certs.title'), table(t('certs.title'), [t('certs.reviewer'), t('users.key'), t('certs.fingerprint'), t('certs.expires')], rows)),
  );
}

type PolicyVersion = { version: number; active?: boolean; createdAt?: string; document?: PolicyDocument } & Partial<PolicyDocument>;

export async function policyPage(): Promise<Node> {
  let versions: PolicyVersion[];
  try {
    versions = (await policies()) as PolicyVersion[];
  } catch (e) {
    if (isMissingRoute(e)) return h('div', null, pageHeader(t('policy.title')), unavailable('GET /v1/policies'));
    throw e;
  }
  versions.sort((a, b) => b.version - a.version);
  return h(
    'div',
    null,
    pageHeader(t('policy.title')),
    versions.map((v) => {
      const doc = (v.document ?? v) as PolicyDocument;
      return section(
        `${bi(doc.title) || doc.policyId} · ${t('policy.version')} ${v.version}`,
        v.active ? h('p', null, h('span', { class: 'badge ok' }, t('policy.active'))) : null,
        dl([
          [t('policy.autoApprove'), doc.autoApprove?.enabled ? `${t('common.yes')} (≤ L${doc.autoApprove.maxLevel})` : t('common.no')],
          [t('common.created'), dateTime(v.createdAt)],
        ]),
        table(
          t('policy.rules'),
          [t('policy.rule'), t('policy.kind'), t('policy.effect'), t('policy.reason')],
          (doc.rules ?? []).map((r) => [mono(r.id), r.kind, h('span', { class: `badge effect-${r.effect}` }, safeT(`effect.${r.effect}` as MessageKey, r.effect)), bi(r.reason)]),
        ),
      );
    }),
  );
}

export async function auditPage(): Promise<Node> {
  const verdict = h('div', { 'aria-live': 'polite', class: 'verdict' });
  const runVerify = async (): Promise<void> => {
    replace(verdict, notice('info', t('common.loading')));
    try {
      const v = await auditVerify();
      const ok = v.ok === true || v.valid === true;
      replace(
        verdict,
        ok
          ? notice('ok', t('audit.ok', { n: String(v.events ?? v.count ?? v.length ?? '?'), head: shortHash(String(v.head ?? '')) }))
          : notice('error', t('audit.bad', { reason: String(v.reason ?? JSON.stringify(v)) })),
      );
      verdict.dataset.verified = String(ok);
    } catch (e) {
      replace(verdict, isMissingRoute(e) ? unavailable('GET /v1/audit/verify') : errorBox(e));
    }
  };
  const [checkpoint, events] = await Promise.all([
    auditCheckpoint().catch((e: unknown) => (isMissingRoute(e) || (e instanceof ApiError && e.status === 404) ? null : Promise.reject(e))),
    auditEvents().catch((e: unknown) => (isMissingRoute(e) ? null : Promise.reject(e))),
  ]);
  void runVerify();
  const cp = checkpoint as { statement?: { seq: number; head: string; at: string; keyFingerprint: string }; signature?: string } | null;
  return h(
    'div',
    null,
    pageHeader(t('audit.title')),
    section(t('audit.verify'), button(t('audit.verify'), () => void runVerify(), { class: 'primary' }), verdict),
    section(
      t('audit.checkpoint'),
      cp?.statement
        ? dl([
            [t('audit.seq'), String(cp.statement.seq)],
            [t('audit.head'), mono(cp.statement.head)],
            [t('audit.at'), dateTime(cp.statement.at)],
            [t('users.key'), mono(cp.statement.keyFingerprint)],
            [t('audit.signature'), mono(shortHash(cp.signature ?? ''))],
          ])
        : notice('info', t('audit.noCheckpoint')),
    ),
    section(
      t('audit.events'),
      events
        ? table(
            t('audit.events'),
            [t('audit.seq'), t('audit.at'), t('audit.actor'), t('audit.entity'), t('audit.action')],
            events.slice(-50).reverse().map((e) => [String(e.seq), dateTime(e.at), mono(shortHash(e.actor)), `${e.entityType} ${shortHash(e.entityId)}`, e.action]),
            { numeric: [0] },
          )
        : unavailable('GET /v1/audit/events'),
    ),
  );
}

