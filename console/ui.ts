/** Shared pieces of the pages: headings, notices, error boxes, status badges, definition lists. */
import { ApiError } from './api.js';
import { h, type Child } from './dom.js';
import { t } from './i18n.js';
import type { MessageKey } from './messages.js';

export function pageHeader(title: string, ...extra: Child[]): HTMLElement {
  return h('header', { class: 'page-header' }, h('h1', { tabindex: -1 }, title), extra);
}

export function section(title: string, ...children: Child[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), children);
}

export type NoticeKind = 'info' | 'ok' | 'warn' | 'error';
export function notice(kind: NoticeKind, ...children: Child[]): HTMLElement {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' || kind === 'warn' ? 'alert' : 'status' }, children);
}

/** A problem+json error from either client (api.ts ApiError, the SDK's ShuyuApiError). */
export function asProblem(e: unknown): { status: number; slug: string; title: string; detail?: string | undefined } | null {
  if (e instanceof ApiError) return e;
  const x = e as { status?: unknown; slug?: unknown; title?: unknown; detail?: unknown } | null;
  return x && typeof x.status === 'number' && typeof x.slug === 'string' && typeof x.title === 'string'
    ? { status: x.status, slug: x.slug, title: x.title, detail: typeof x.detail === 'string' ? x.detail : undefined }
    : null;
}

export function errorText(e: unknown): string {
  const p = asProblem(e);
  if (p) return `${p.title}${p.detail ? ` — ${p.detail}` : ''} (${p.status} ${p.slug})`;
  return e instanceof Error ? e.message : String(e);
}

export const errorBox = (e: unknown): HTMLElement => notice('error', h('strong', null, t('common.error')), ' ', errorText(e));


export function stateBadge(state: string): HTMLElement {
  const key = `state.${state}` as MessageKey;
  return h('span', { class: `badge state-${state}` }, safeT(key, state));
}

/** t() for keys built from server data (a state, a tag): an unknown value shows as itself. */
export function safeT(key: MessageKey, fallback: string): string {
  const s = t(key);
  return s === key ? fallback : s;
}

export function dl(pairs: [string, Child][]): HTMLElement {
  return h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '—')]));
}

export const mono = (text: string, label?: string): HTMLElement => h('code', { class: 'mono', title: label ?? null }, text);

/** Long ids and hashes shortened for tables and lists (the detail pages show them whole). */
export const shortHash = (hex: string | null | undefined): string => (!hex ? '—' : hex.length <= 20 ? hex : `${hex.slice(0, 12)}…${hex.slice(-4)}`);

export function button(label: string, onclick: (ev: Event) => void, attrs: Record<string, string | boolean> = {}): HTMLButtonElement {
  return h('button', { type: 'button', onclick: onclick as EventListener, ...attrs }, label);
}
