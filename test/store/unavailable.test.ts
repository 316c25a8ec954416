import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { openDatabase } from '../../server/store/db.js';
import { toProblem } from '../../server/http/problems.js';
import { dropSchema, freshSchema, testDatabaseUrl } from './engines.js';

/** A TCP relay to the run's PostgreSQL that the test can take down and bring back: a database restart as the pool sees it. */
class Relay {
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  port = 0;
  async up(): Promise<void> {
    const target = new URL(testDatabaseUrl());
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }
  async down(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

describe('store: PostgreSQL goes away and comes back', () => {
  it('fails requests with 503 store-unavailable (problem+json), writes nothing half, and recovers without reopening', async () => {
    const relay = new Relay();
    await relay.up();
    const url = new URL(testDatabaseUrl());
    url.port = String(relay.port);
    const schema = freshSchema();
    const db = await openDatabase(url.toString(), { schema, poolSize: 2 });
    try {
      await db.run("INSERT INTO meta (key, value) VALUES ('before', '1')");
      await relay.down(); // a restart: every connection dropped, nothing listening
      let lost: unknown = null;
      await db
        .transaction(async () => {
          await db.run("INSERT INTO meta (key, value) VALUES ('during', '1')");
        })
        .catch((e) => (lost = e));
      expect(lost, 'the write failed').to.not.equal(null);
      const p = toProblem(lost);
      expect(p.status).to.equal(503);
      expect(p.type).to.match(/\/store-unavailable$/);
      await relay.up(); // back on the same port: the pool opens new connections by itself
      let back = false;
      for (let i = 0; i < 50 && !back; i++) {
        back = await db.get('SELECT 1 AS one').then(
          () => true,
          () => false,
        );
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
      expect(back, 'the pool recovered').to.equal(true);
      expect((await db.all<{ key: string }>('SELECT key FROM meta ORDER BY key')).map((r) => r.key)).to.deep.equal(['before']);
    } finally {
      await db.close().catch(() => {});
      await relay.down().catch(() => {});
      await dropSchema(schema);
    }
  });
});
