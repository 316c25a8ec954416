/**
 * Check digits used by the PII detectors. Pure functions over digit strings, so tests can generate
 * valid and invalid numbers with the same code paths the detectors use.
 */

/** GB 11643-1999 §5.2 weights for the first 17 digits of a citizen identification number (2^(18-i) mod 11). */
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/** ISO 7064 MOD 11-2 check character for each remainder 0..10 (GB 11643-1999 §5.2, table). */
const ID_CHECK = '10X98765432';

/** The check character of the first 17 digits of a resident ID number (GB 11643, ISO 7064 MOD 11-2). */
export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new RangeError('resident ID body must be 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * ID_WEIGHTS[i]!;
  return ID_CHECK[sum % 11]!;
}

/** A real calendar date (YYYYMMDD) between 1800-01-01 and today (UTC): an ID's birth date must exist. */
export function isPlausibleBirthDate(yyyymmdd: string, today: Date = new Date()): boolean {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(yyyymmdd);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 1800 || mo < 1 || mo > 12 || d < 1) return false;
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return false;
  return date.getTime() <= today.getTime();
}

/**
 * An 18-character mainland resident ID number (GB 11643-1999): 6-digit administrative division code
 * (first digit 1–8), 8-digit birth date, 3-digit sequence, check character (0–9 or X).
 */
export function isResidentId(value: string, today?: Date): boolean {
  const v = value.toUpperCase();
  if (!/^[1-8]\d{16}[\dX]$/.test(v)) return false;
  if (!isPlausibleBirthDate(v.slice(6, 14), today)) return false;
  return residentIdCheckChar(v.slice(0, 17)) === v[17];
}

/** Luhn (ISO/IEC 7812-1 Annex B) check digit for a digit string without its check digit. */
export function luhnCheckDigit(body: string): string {
  if (!/^\d+$/.test(body)) throw new RangeError('Luhn body must be digits');
  let sum = 0;
  // Doubling starts from the rightmost body digit: it sits next to the check digit.
  for (let i = body.length - 1, double = true; i >= 0; i--, double = !double) {
    let d = Number(body[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function luhnValid(digits: string): boolean {
  if (!/^\d{2,}$/.test(digits)) return false;
  return luhnCheckDigit(digits.slice(0, -1)) === digits[digits.length - 1];
}

/** Payment card numbers (PAN) as issued in China: 16–19 digits passing Luhn, not all one digit. */
export function isBankCard(value: string): boolean {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^[1-9]\d{15,18}$/.test(digits)) return false;
  if (/^(\d)\1+$/.test(digits)) return false;
  return luhnValid(digits);
}

/** Mainland mobile numbers: 11 digits, 1 then 3–9 (MIIT numbering plan), optional +86/86 prefix. */
export function isMobile(value: string): boolean {
  const digits = value.replace(/[\s-]/g, '').replace(/^(\+?86)(?=1\d{10}$)/, '');
  return /^1[3-9]\d{9}$/.test(digits);
}

/** A pragmatic e-mail shape (local@domain.tld), not the full RFC 5322 grammar. */
export function isEmail(value: string): boolean {
  return /^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$/.test(value);
}
