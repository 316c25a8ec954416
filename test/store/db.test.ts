import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, migrate } from '../../server/store/db.js';

describe('store: SQLite file', () => {
  it('opens in WAL mode, applies migrations once, and reopens without reapplying', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shuyu-db-'));
    try {
      const file = join(dir, 'shuyu.db');
      const db = openDatabase(file);
      expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
      expect(db.prepare("SELECT name FROM schema_migrations WHERE name = '0001_meta.sql'").get()).to.exist;
      db.close();
      const again = openDatabase(file);
      expect(migrate(again)).to.deep.equal([]);
      expect(again.pragma('integrity_check', { simple: true })).to.equal('ok');
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
