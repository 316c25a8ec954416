import type { Db } from '../db.js';

/**
 * The catalogue's version: a counter the database's own triggers bump on every insert, update or delete of
 * a dataset or an offer (migration 0210), whoever writes — any server process, or a tool. Equal versions ⇒
 * the catalogue reads the same, so every server of a cluster can answer with the same ETag.
 */
export function catalogVersion(db: Db): () => Promise<number> {
  return async () => (await db.get<{ v: number }>('SELECT v FROM catalog_version WHERE id = 1'))!.v;
}
