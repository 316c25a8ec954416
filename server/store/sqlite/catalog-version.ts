import type { Db } from '../db.js';

/**
 * The catalogue's version: a counter SQLite's triggers bump on every insert, update or delete of a
 * dataset or an offer (migration 0210), whoever writes. Equal versions ⇒ the catalogue reads the same.
 */
export function catalogVersion(db: Db): () => number {
  const read = db.prepare('SELECT v FROM catalog_version WHERE id = 1').pluck();
  return () => read.get() as number;
}
