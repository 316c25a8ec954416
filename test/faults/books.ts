import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * The invariants checked after every crash and restart, read straight from the SQLite file (WAL lets a
 * reader in beside the running server) and the blob store. Returns the broken ones, in words.
 */
export function brokenInvariants(dataDir: string): string[] {
  const bad: string[] = [];
  const db = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const ic = db.pragma('integrity_check', { simple: true });
    if (ic !== 'ok') bad.push(`integrity_check: ${String(ic)}`);

    // the ledger balances and every balance is the sum of its journal
    const accounts = db.prepare('SELECT id, balance FROM ledger_accounts').all() as { id: string; balance: number }[];
    const total = accounts.reduce((a, x) => a + x.balance, 0);
    if (total !== 0) bad.push(`ledger does not balance: accounts sum to ${total}`);
    const journal = new Map((db.prepare('SELECT account_id AS id, SUM(amount) AS s FROM ledger_entries GROUP BY account_id').all() as { id: string; s: number }[]).map((r) => [r.id, r.s]));
    for (const a of accounts) if ((journal.get(a.id) ?? 0) !== a.balance) bad.push(`account ${a.id}: balance ${a.balance} ≠ journal ${journal.get(a.id) ?? 0}`);
    const unbalanced = db.prepare('SELECT transaction_id AS t, SUM(amount) AS s FROM ledger_entries GROUP BY transaction_id HAVING s <> 0').all() as { t: string; s: number }[];
    for (const u of unbalanced) bad.push(`ledger transaction ${u.t} sums to ${u.s}`);

    // no trade executed or charged twice
    const twice = db.prepare("SELECT trade_id AS t, COUNT(*) AS n FROM ledger_transactions WHERE kind = 'capture' GROUP BY trade_id HAVING n > 1").all() as { t: string; n: number }[];
    for (const x of twice) bad.push(`trade ${x.t} captured ${x.n} times`);
    const holds = db.prepare("SELECT trade_id AS t, COUNT(*) AS n FROM ledger_transactions WHERE kind = 'hold' GROUP BY trade_id HAVING n > 1").all() as { t: string; n: number }[];
    for (const x of holds) bad.push(`trade ${x.t} held ${x.n} times`);
    const exec = db.prepare("SELECT trade_id AS t, COUNT(*) AS n FROM trade_transitions WHERE to_state = 'executing' GROUP BY trade_id HAVING n > 1").all() as { t: string; n: number }[];
    for (const x of exec) bad.push(`trade ${x.t} entered executing ${x.n} times`);
    const settledAndReleased = db
      .prepare("SELECT trade_id AS t FROM ledger_transactions WHERE kind IN ('capture') AND trade_id IN (SELECT trade_id FROM ledger_transactions WHERE kind = 'release')")
      .all() as { t: string }[];
    for (const x of settledAndReleased) bad.push(`trade ${x.t} both captured and released`);

    // no partial dataset: every visible dataset has every blob of its manifest, whole, in the store
    const blobs = db.prepare('SELECT dataset_id AS d, hash, size FROM dataset_blobs').all() as { d: string; hash: string; size: number }[];
    for (const b of blobs) {
      const p = join(dataDir, 'blobs', b.hash.slice(0, 2), b.hash.slice(2));
      if (!existsSync(p)) bad.push(`dataset ${b.d}: blob ${b.hash.slice(0, 12)} missing`);
      else if (statSync(p).size !== b.size) bad.push(`dataset ${b.d}: blob ${b.hash.slice(0, 12)} has ${statSync(p).size} bytes, manifest says ${b.size}`);
    }
    const manifests = db.prepare('SELECT id, manifest_json FROM datasets').all() as { id: string; manifest_json: string }[];
    const counted = new Map((db.prepare('SELECT dataset_id AS d, COUNT(*) AS n FROM dataset_blobs GROUP BY dataset_id').all() as { d: string; n: number }[]).map((r) => [r.d, r.n]));
    for (const m of manifests) {
      const chunks = (JSON.parse(m.manifest_json).chunks as unknown[]).length;
      if ((counted.get(m.id) ?? 0) !== chunks) bad.push(`dataset ${m.id}: ${counted.get(m.id) ?? 0} blobs recorded, manifest has ${chunks}`);
    }
    const orphanUploads = db.prepare("SELECT id FROM uploads WHERE state <> 'completed' AND dataset_id IS NOT NULL").all() as { id: string }[];
    for (const u of orphanUploads) bad.push(`upload ${u.id} is not completed but names a dataset`);
  } finally {
    db.close();
  }
  return bad;
}

/** Counts for the report line. */
export function bookCounts(dataDir: string): Record<string, number> {
  const db = new Database(join(dataDir, 'shuyu.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      trades: n('SELECT COUNT(*) AS n FROM trades'),
      captures: n("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'capture'"),
      releases: n("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'release'"),
      datasets: n('SELECT COUNT(*) AS n FROM datasets'),
      uploadsOpen: n("SELECT COUNT(*) AS n FROM uploads WHERE state IN ('open', 'completing')"),
      jobsRetried: n('SELECT COUNT(*) AS n FROM jobs WHERE attempts > 1'),
      auditEvents: n('SELECT COUNT(*) AS n FROM audit_events'),
    };
  } finally {
    db.close();
  }
}
