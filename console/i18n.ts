/**
 * Chinese (default) and English. One dictionary per language with the same keys (the English one is
 * typed against the Chinese one, so a missing translation fails the type check). Domain names that
 * already exist bilingually in contracts/ (sectors, levels, negative-list reasons) come from there.
 */
import { zh, en, type MessageKey } from './messages.js';

export type Lang = 'zh' | 'en';
const LANG_KEY = 'shuyu.lang';
const dictionaries: Record<Lang, Record<MessageKey, string>> = { zh, en };

let current: Lang = (localStorage.getItem(LANG_KEY) as Lang | null) === 'en' ? 'en' : 'zh';

export const lang = (): Lang => current;

export function setLang(l: Lang): void {
  current = l;
  localStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
}

/** t('catalog.results', { n: 3 }) — `{name}` placeholders are replaced by the values given. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  return (dictionaries[current][key] ?? key).replace(/\{(\w+)\}/g, (_, k: string) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Picks the current language from a { zh, en } pair (as contracts/ stores bilingual text). */
export const bi = (text: { zh: string; en: string } | undefined | null): string => (text ? text[current] : '');

/** Locale-aware formatting. Money is integer fen: shown as yuan with two decimals, never via floats for sums. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100).toLocaleString(current === 'zh' ? 'zh-CN' : 'en-GB');
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, '0')}`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(current === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export const num = (n: number, digits = 2): string =>
  n.toLocaleString(current === 'zh' ? 'zh-CN' : 'en-GB', { maximumFractionDigits: Number.isInteger(n) ? 0 : digits });

/** An enumeration in the current language: 甲、乙、丙 / a, b, c. */
export const list = (items: readonly string[]): string => items.join(current === 'zh' ? '、' : ', ');
