import { isDomainError } from '../../../contracts/errors.js';
import Database from 'better-sqlite3';
import { DatasetSchema } from '../../../contracts/dataset/schema.js';
import { sm2KeyPair } from '../../../crypto/index.js';
import { type RowChunkFormat, rowChunkAad, sealRowChunk, type SealedRowChunk } from '../../../formats/row-chunk.js';

/** A small dataset with every role, sealed into row chunks exactly as an owner's machine would. */
export const schema = DatasetSchema.parse({
  sector: 'tourism',
  columns: [
    { name: 'person_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal'] },
    { name: 'region', type: 'category', role: 'dimension', level: 1, values: ['north', 'south', 'east', 'west'] },
    { name: 'channel', type: 'category', role: 'dimension', level: 1, values: ['web', 'shop'] },
    { name: 'amount', type: 'decimal(2)', role: 'measure', level: 2, bounds: [-100, 1000] },
    { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] },
    { name: 'name', type: 'text', role: 'attribute', level: 3, tags: ['personal'] },
  ],
});

export const COLUMNS = schema.columns.map((c) => c.name);

/** Deterministic rows (a linear congruential sequence; this is test data, not privacy noise). */
export function makeRows(n: number, seed = 7): (string | number | null)[][] {
  let s = seed;
  const next = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const regions = ['north', 'south', 'east', 'west'];
  const rows: (string | number | null)[][] = [];
  for (let i = 0; i < n; i++) {
    const person = `P${String(Math.floor(i * 0.9)).padStart(6, '0')}`; // some people have two rows
    const amount = Math.round((next() * 1100 - 100) * 100) / 100;
    rows.push([
      person,
      regions[Math.floor(next() * (i % 50 === 0 ? 1 : 4))]!, // north is the biggest region
      next() < 0.3 ? 'shop' : 'web',
      next() < 0.05 ? null : amount,
      Math.floor(next() * 31),
      `name-${i}`,
    ]);
  }
  return rows;
}

export const BUNDLE = 'bundle-test-1';

/** `format`: the row chunks' plaintext format (default: what new bundles are sealed in). */
export function sealRows(rows: (string | number | null)[][], publicKey: Uint8Array, perChunk = 500, format?: RowChunkFormat): { sealed: SealedRowChunk; aad: Uint8Array }[] {
  const out: { sealed: SealedRowChunk; aad: Uint8Array }[] = [];
  for (let i = 0, idx = 0; i < rows.length || idx === 0; i += perChunk, idx++) {
    const aad = rowChunkAad(BUNDLE, idx);
    out.push({ sealed: sealRowChunk({ columns: COLUMNS, rows: rows.slice(i, i + perChunk) }, publicKey, aad, format), aad });
    if (rows.length === 0) break;
  }
  return out;
}

export function newKeys(): { publicKey: Uint8Array; privateKey: Uint8Array } {
  return sm2KeyPair();
}

/** The reference: the same plaintext in a real SQLite (better-sqlite3) table named like the sandbox's. */
export function referenceDb(rows: (string | number | null)[][]): Database.Database {
  const db = new Database(':memory:');
  db.exec(
    `CREATE TABLE dataset (__row INTEGER PRIMARY KEY, person_id TEXT, region TEXT, channel TEXT, amount REAL, nights INTEGER, name TEXT)`,
  );
  const ins = db.prepare('INSERT INTO dataset VALUES (?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => rows.forEach((r, i) => ins.run(i + 1, ...r)))();
  return db;
}

/** 'released', or the type of the DomainError that refused the release. */
export async function refusedType(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isDomainError(e)) return e.type;
    throw e;
  }
  return 'released';
}
