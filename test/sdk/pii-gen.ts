import fc from 'fast-check';
import { luhnCheckDigit, residentIdCheckChar } from '../../client-sdk/pii/checksums.js';

/** Generators of valid and deliberately broken PII values, built on the same check-digit functions. */

const REGIONS = ['530102', '530103', '110105', '310104', '440305', '510107', '650102'];

export const validResidentId = fc
  .record({
    region: fc.constantFrom(...REGIONS),
    date: fc.date({ min: new Date('1930-01-01T00:00:00Z'), max: new Date('2020-12-31T00:00:00Z'), noInvalidDate: true }),
    seq: fc.integer({ min: 0, max: 999 }),
  })
  .map(({ region, date, seq }) => {
    const body = region + date.toISOString().slice(0, 10).replaceAll('-', '') + String(seq).padStart(3, '0');
    return body + residentIdCheckChar(body);
  });

/** Same ID with a wrong check character. */
export const badCheckResidentId = fc.tuple(validResidentId, fc.integer({ min: 1, max: 10 })).map(([id, shift]) => {
  const chars = '0123456789X';
  const wrong = chars[(chars.indexOf(id[17]!) + shift) % 11]!;
  return id.slice(0, 17) + wrong;
});

/** Correct check character over an impossible birth date (e.g. 31 February, month 13). */
export const badDateResidentId = fc
  .tuple(fc.constantFrom(...REGIONS), fc.constantFrom('19900230', '19881301', '20010431', '19990000', '21500101'), fc.integer({ min: 0, max: 999 }))
  .map(([region, date, seq]) => {
    const body = region + date + String(seq).padStart(3, '0');
    return body + residentIdCheckChar(body);
  });

export const validCard = fc
  .tuple(fc.constantFrom('62', '4', '51', '35'), fc.integer({ min: 16, max: 19 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 18, maxLength: 18 }))
  .map(([prefix, len, digits]) => {
    const body = (prefix + digits.join('')).slice(0, len - 1);
    return body + luhnCheckDigit(body);
  })
  .filter((c) => !/^(\d)\1+$/.test(c));

export const badCard = validCard.map((c) => c.slice(0, -1) + String((Number(c.at(-1)) + 1 + (Number(c[0]) % 9)) % 10));

export const validMobile = fc
  .tuple(fc.integer({ min: 3, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }))
  .map(([second, rest]) => `1${second}${rest.join('')}`);

export const badMobile = fc.oneof(
  validMobile.map((m) => `1${fc.sample(fc.constantFrom('0', '1', '2'), 1)[0]}${m.slice(2)}`),
  validMobile.map((m) => m.slice(0, 10)),
  validMobile.map((m) => `2${m.slice(1)}`),
);
