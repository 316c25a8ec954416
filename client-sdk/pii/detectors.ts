import type { Level, Tag } from '../../contracts/dataset/schema.js';
import { isBankCard, isEmail, isMobile, isResidentId } from './checksums.js';

/**
 * The kinds of personal information the owner-side check looks for, and what each one implies for the
 * column's classification (分类分级). The rule, documented in the README ("PII detection"):
 * anything that identifies a natural person directly is at least level 3 (sensitive) and `personal`;
 * ID numbers and bank-card numbers are also `sensitive-personal` (GB/T 35273-2020 Annex B lists
 * identity documents and bank accounts as personal sensitive information); card numbers are `financial`.
 * Level 4 (core) is for data whose leak harms national security — never inferred from a pattern.
 */
export const PII_KINDS = ['cn-resident-id', 'bank-card', 'cn-mobile', 'email'] as const;
export type PiiKind = (typeof PII_KINDS)[number];

export interface PiiSuggestion {
  level: Level;
  tags: Tag[];
  label: string;
}

export const PII_SUGGESTIONS: Record<PiiKind, PiiSuggestion> = {
  'cn-resident-id': { level: 3, tags: ['personal', 'sensitive-personal'], label: 'resident ID numbers (GB 11643)' },
  'bank-card': { level: 3, tags: ['personal', 'sensitive-personal', 'financial'], label: 'bank-card numbers (Luhn)' },
  'cn-mobile': { level: 3, tags: ['personal'], label: 'mobile phone numbers' },
  email: { level: 3, tags: ['personal'], label: 'e-mail addresses' },
};

/**
 * Candidate patterns for values embedded in free text. Every candidate is then checked by the
 * validator (check digits, dates), so the regexes only need to find the right shapes.
 */
const CANDIDATES: Record<PiiKind, RegExp> = {
  'cn-resident-id': /(?<![0-9A-Za-z])[1-8]\d{16}[0-9Xx](?![0-9A-Za-z])/g,
  'bank-card': /(?<![0-9])[1-9](?:[ -]?\d){15,18}(?![0-9])/g,
  'cn-mobile': /(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}(?![0-9])/g,
  email: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}/g,
};

const VALIDATORS: Record<PiiKind, (v: string) => boolean> = {
  'cn-resident-id': (v) => isResidentId(v),
  'bank-card': isBankCard,
  'cn-mobile': isMobile,
  email: isEmail,
};

/** What one cell holds: for each kind, how many shaped candidates were seen and how many validated. */
export interface CellFindings {
  /** kinds with at least one candidate of the right shape (before check digits) */
  shaped: Set<PiiKind>;
  /** kinds with at least one candidate that passed its validator */
  valid: Set<PiiKind>;
}

/**
 * Classifies one cell. An 18-digit run that is a valid ID number is not also counted as a card
 * candidate, so ID columns are not reported as cards (about 1 in 10 ID numbers also passes Luhn).
 */
export function inspectCell(cell: string): CellFindings {
  const shaped = new Set<PiiKind>();
  const valid = new Set<PiiKind>();
  const value = cell.trim();
  if (value === '') return { shaped, valid };
  const idSpans: Array<[number, number]> = [];
  for (const kind of PII_KINDS) {
    for (const m of value.matchAll(CANDIDATES[kind])) {
      const start = m.index ?? 0;
      const end = start + m[0].length;
      if (kind === 'bank-card' && idSpans.some(([s, e]) => start >= s && end <= e)) continue;
      shaped.add(kind);
      if (VALIDATORS[kind](m[0])) {
        valid.add(kind);
        if (kind === 'cn-resident-id') idSpans.push([start, end]);
      }
    }
  }
  return { shaped, valid };
}
