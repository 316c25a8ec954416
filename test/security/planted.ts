/**
 * Values the security suite planted in the live server that must never come back out in plaintext: rows of the
 * CSVs it sealed, bearer tokens, and private keys that never leave their owner. Files register what they plant;
 * the secrecy scan (run last) looks for all of it in logs, responses, the database and the blob store.
 */
export const planted = {
  rows: new Set<string>(),
  tokens: new Set<string>(),
  privateKeys: new Set<string>(),
};

/** Row values worth searching for: long enough not to occur by chance in a hash, an id or a count. */
export function plantRows(values: Iterable<string>): void {
  for (const v of values) if (v.length >= 6) planted.rows.add(v);
}
