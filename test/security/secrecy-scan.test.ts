import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { liveServer, market, quoteAndSubmit, approve, waitForTrade, type Live } from '../server/fixture.js';
import { toB64 } from '../../crypto/index.js';
import { dataDirLayout } from '../../server/config/data-dir.js';
import { planted, plantRows } from './planted.js';

/**
 * Secrecy scan: after the security suite (this file runs last in test/security), no private key, bearer token or
 * plaintext row value is found in the live server's logs, in its answers to every readable route, in the SQLite
 * database (and its WAL) or in the blob store. The only files allowed to hold a secret in plaintext are the
 * operator's bootstrap.json and the embedded default's master secret file (both mode 0600); the platform signing key is sealed; the enclave keystore holds keys sealed only.
 */
describe('security: secrecy scan of logs, responses, database and blob store', function () {
  this.timeout(180_000);
  let l: Live;

  before(async () => {
    l = await liveServer();
    // one more full trade, so the scan sees a delivered result, a receipt, settlement and audit events
    const m = await market(l, { rows: 40, tag: 'scan' });
    plantRows(m.fixture.secrets);
    for (const a of [m.owner, m.buyer, m.reviewer]) {
      planted.tokens.add(a.token);
      planted.privateKeys.add(Buffer.from(a.keys!.privateKey).toString('hex'));
      planted.privateKeys.add(toB64(a.keys!.privateKey));
    }
    const { trade } = await quoteAndSubmit(l, m);
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    await waitForTrade(l, m.buyer.auth, trade.id, ['settled']);
    // answers of every readable route, as the roles that may read them
    const ids: Record<string, string> = { dataset: m.dataset.id, 'catalog-entry': m.dataset.id, offer: m.offer.id, trade: trade.id, user: m.reviewer.userId };
    for (const r of l.srv.app.routes) {
      if (r.method !== 'get' || r.rawBody || r.path.includes(':hash')) continue;
      if (r.object && !ids[r.object.resource]) continue;
      const who = r.roles === 'public' ? [null] : r.roles.map((role) => (role === 'operator' ? l.operator.auth : role === 'owner' ? m.owner.auth : role === 'buyer' ? m.buyer.auth : m.reviewer.auth));
      for (const auth of who) {
        const path = r.object ? r.path.replace(':id', ids[r.object.resource]!) : r.path;
        let req = l.http().get(path);
        if (auth) req = req.set(auth);
        const res = await req;
        responses.push({ where: `GET ${path}`, text: res.text ?? '' });
      }
    }
  });

  const responses: { where: string; text: string }[] = [];

  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    });
  }

  it('finds no token, private key or row value anywhere outside the owner and the enclave', async () => {
    const dataDir = l.srv.config.dataDir;
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const needles = [...planted.rows, ...planted.tokens, ...planted.privateKeys, l.operator.token];
    expect(planted.rows.size, 'row values planted by the suite').to.be.greaterThan(50);
    const any = new RegExp([...needles.map(escape), 'PRIVATE KEY'].join('|'), 'g');
    const hits: string[] = [];
    const look = (where: string, text: string) => {
      for (const x of text.matchAll(any)) {
        if (hits.length < 20) hits.push(`${where}: ${x[0].slice(0, 24)}…`);
      }
    };
    let bytes = 0;
    // the database, its WAL and the blob store, byte for byte (strings in SQLite are stored as UTF-8)
    const layout = dataDirLayout(dataDir);
    const allowed = new Set([layout.bootstrapFile, layout.masterSecretFile].filter((f) => existsSync(f)));
    const scanned = files(dataDir).filter((p) => !allowed.has(p));
    for (const p of scanned) {
      const b = readFileSync(p);
      bytes += b.length;
      look(relative(dataDir, p), b.toString('latin1'));
    }
    for (const f of allowed) {
      const mode = statSync(f).mode & 0o777;
      expect(mode, `${relative(dataDir, f)} is readable by its owner only`).to.equal(0o600);
    }
    // every log line the server wrote during the whole run
    const logs = l.logs.join('');
    bytes += logs.length;
    look('logs', logs);
    // answers: a token appears only in the answer that issued it, never in anything readable later
    for (const r of responses) {
      bytes += r.text.length;
      look(r.where, r.text);
    }
    console.log(
      `      secrecy scan: ${scanned.length} files + ${l.logs.length} log lines + ${responses.length} answers (${(bytes / 1024 / 1024).toFixed(1)} MiB) for ${planted.rows.size} row values, ${planted.tokens.size + 1} tokens, ${planted.privateKeys.size} private-key encodings and PEM private keys: ${hits.length} found`,
    );
    expect(hits, hits.join('\n')).to.deep.equal([]);
  });
});
