import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromB64, sm3Hex, toB64 } from '../../../crypto/index.js';
import { encodeSealedRowChunk } from '../../../formats/row-chunk.js';
import type { BundleManifest } from '../../../formats/manifest.js';
import { validateSql, type SqlMode } from '../../../query/validate.js';
import { DirectoryBlobReader } from '../../../enclave/release/blob-reader.js';
import { streamRowChunks } from '../../../enclave/release/row-chunks.js';
import { runSqlInSandbox, type SandboxInput } from '../../../enclave/sandbox/sandbox.js';
import { openEnclaveState, type EnclaveState } from '../../../enclave/state/state.js';
import { ShareQueue } from '../../../enclave/state/share-queue.js';
import { passesOfShare, runSqlShared, sealShare, ShareExecutor, shareKeyOf, type SharedRun } from '../../../enclave/sql/shares.js';
import { BUNDLE, makeRows, newKeys, schema, sealRows } from './fixture.js';
import { expectSameRows } from './random-queries.js';
import { freshSchema, testDatabaseUrl } from '../../store/engines.js';

/**
 * A SQL run split across enclaves (enclave/sql/shares.ts): the coordinator queues shares of the run's person
 * passes in the enclaves' state store, another enclave leases and runs them over the rows it reads from the
 * blob store itself, and the merged answer is the one-database answer. Two enclaves are two executors on two
 * connections to one store (PostgreSQL, as a cluster's; SQLite for the coordinator-alone case).
 */
describe('SQL runs split across enclaves', function () {
  this.timeout(300_000);
  const keys = newKeys();
  const rows = makeRows(6_000).map((r, i) => {
    r[0] = `P${Math.floor(i * 0.7)}`; // people with one or two rows, across chunks
    return r;
  });
  const chunks = sealRows(rows, keys.publicKey, 400);
  let dir = '';
  let manifest: BundleManifest;
  const key = shareKeyOf(keys.privateKey);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-shares-'));
    const refs = chunks.map((c, index) => {
      const blob = encodeSealedRowChunk(c.sealed);
      const sm3 = sm3Hex(blob);
      writeFileSync(join(dir, sm3), blob);
      return { kind: 'rows' as const, index, sm3, size: blob.length, rows: index === chunks.length - 1 ? rows.length - 400 * index : 400 };
    });
    manifest = { bundleId: BUNDLE, chunks: refs } as unknown as BundleManifest;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const reader = () => new DirectoryBlobReader(dir, 'flat');

  function setup(q: string, mode: SqlMode, o: { maxRowsPerPerson: number; minGroupSize?: number }) {
    const v = validateSql(q, schema, { mode });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const columns = [...v.columnsUsed, 'person_id'];
    const input: SandboxInput = {
      schema,
      chunks: streamRowChunks(manifest, reader()),
      unwrapPrivateKey: keys.privateKey,
      plan: v.plan,
      columns,
      maxRowsPerPerson: o.maxRowsPerPerson,
      ...(o.minGroupSize !== undefined ? { minGroupSize: o.minGroupSize } : {}),
      sliceRows: 1_500,
    };
    const task = { query: q, mode, queryHash: v.hash, schema, manifest, columns, maxRowsPerPerson: o.maxRowsPerPerson, ...(o.minGroupSize !== undefined ? { minGroupSize: o.minGroupSize } : {}) };
    return { v, input, task };
  }

  async function twoEnclaves<T>(fn: (a: EnclaveState, b: EnclaveState) => Promise<T>): Promise<T> {
    const schemaName = freshSchema();
    const a = await openEnclaveState({ location: testDatabaseUrl(), schema: schemaName });
    const b = await openEnclaveState({ location: testDatabaseUrl(), schema: schemaName });
    try {
      return await fn(a, b);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }

  const QUERIES: [string, SqlMode, { maxRowsPerPerson: number; minGroupSize?: number }][] = [
    ['SELECT region, channel, COUNT(*) AS n, SUM(amount) AS s, AVG(nights) AS a FROM dataset GROUP BY region, channel', 'exact', { maxRowsPerPerson: 1, minGroupSize: 5 }],
    ["SELECT region, COUNT(*) AS n, SUM(CASE WHEN channel = 'web' THEN amount END) AS w FROM dataset GROUP BY region", 'exact', { maxRowsPerPerson: 2, minGroupSize: 20 }],
    ['SELECT channel, MIN(amount) AS lo, MAX(amount) AS hi, AVG(amount) AS a, COUNT(*) AS n FROM dataset GROUP BY channel', 'dp', { maxRowsPerPerson: 2 }],
  ];

  it('another enclave runs the shares it leases; the merged answer is the one-database answer (PostgreSQL)', async () => {
    await twoEnclaves(async (a, b) => {
      const executor = new ShareExecutor({ queue: new ShareQueue(b.store), key, worker: 'enclave-b', blobs: reader(), unwrapPrivateKey: keys.privateKey, pollMs: 20 });
      executor.start();
      try {
        for (const [q, mode, o] of QUERIES) {
          const { input, task } = setup(q, mode, o);
          const shared: SharedRun = { queue: new ShareQueue(a.store), shares: 3, key, worker: 'enclave-a', task, pollMs: 20 };
          const before = executor.ran;
          const split = await runSqlShared(input, shared);
          // the reference counts people exactly (without k, no bound stands in for the count: a share never uses one)
          const { minGroupSize: _k, ...exactCount } = input;
          const single = await runSqlInSandbox({ ...exactCount, chunks, sliceRows: 0 });
          expectSameRows(q, split, single);
          expect(split.stats.subjectsCount, q).to.equal('exact');
          expect(split.stats.shares, q).to.equal(3);
          expect(split.stats.sharesElsewhere! + (executor.ran - before), q).to.be.greaterThan(0);
          expect(split.stats.rowsLoaded, q).to.equal(rows.length);
          // nothing of the run is left in the store once merged
          expect(await a.store.all('SELECT task_id FROM sandbox_share'), q).to.deep.equal([]);
        }
        expect(executor.ran, 'shares the second enclave ran').to.be.greaterThan(0);
      } finally {
        await executor.stop();
      }
    });
  });

  it('with no other enclave, the coordinator takes its queued shares back and answers the same (SQLite)', async () => {
    const file = join(dir, 'state.sqlite');
    const st = await openEnclaveState({ location: file });
    try {
      const [q, mode, o] = QUERIES[0]!;
      const { input, task } = setup(q, mode, o);
      const split = await runSqlShared(input, { queue: new ShareQueue(st.store), shares: 4, key, worker: 'alone', task });
      const { minGroupSize: _k, ...exactCount } = input;
      const single = await runSqlInSandbox({ ...exactCount, chunks, sliceRows: 0 });
      expectSameRows(q, split, single);
      expect(split.stats.sharesElsewhere).to.equal(0);
    } finally {
      await st.close();
    }
  });

  it('a share leased by an enclave that died is taken back once its lease lapses; abandoned runs are swept', async () => {
    const file = join(dir, 'state-lapsed.sqlite');
    const st = await openEnclaveState({ location: file });
    try {
      const [q, mode, o] = QUERIES[1]!;
      const { input, task } = setup(q, mode, o);
      const queue = new ShareQueue(st.store);
      let dead = '';
      // an enclave leases share 1 as soon as it is queued, for 400 ms, and never comes back
      const grab = (async () => {
        for (let i = 0; i < 2000 && !dead; i++) {
          const row = (await st.store.all<{ task_id: string }>("SELECT task_id FROM sandbox_share WHERE state = 'queued'"))[0];
          if (row && (await queue.lease(row.task_id, 'dead-enclave', 400))) dead = row.task_id;
          else await new Promise((r) => setTimeout(r, 2));
        }
      })();
      const split = await runSqlShared(input, { queue, shares: 2, key, worker: 'alive', task, pollMs: 20, takeBackAfterMs: 60_000 });
      await grab;
      expect(dead, 'the share the dead enclave held').to.match(/:1$/);
      const { minGroupSize: _k, ...exactCount } = input;
      expectSameRows(q, split, await runSqlInSandbox({ ...exactCount, chunks, sliceRows: 0 }));
      // a run whose coordinator is gone: its shares are deleted after the age limit, never run for ever
      await queue.enqueue('orphan', [{ taskId: 'orphan:1', shareIndex: 1, payload: 'x' }]);
      expect(await new ShareQueue(st.store, () => Date.now() + 7 * 3600_000).sweep(6 * 3600_000)).to.equal(1);
    } finally {
      await st.close();
    }
  });

  it('shares cover every person pass once', () => {
    for (const [shares, of] of [[2, 2], [3, 6], [4, 8], [3, 9]] as const) {
      const all = Array.from({ length: shares }, (_, h) => passesOfShare(h, shares, of)).flat().sort((x, y) => x - y);
      expect(all).to.deep.equal(Array.from({ length: of }, (_, i) => i));
    }
  });

  it('a payload altered or moved in the store is refused, never run', async () => {
    await twoEnclaves(async (a, b) => {
      const [q, mode, o] = QUERIES[0]!;
      const { task } = setup(q, mode, o);
      const payload = sealShare(key, { v: 1, ...task, passes: [1], of: 2, sliceRows: 1_500 }, 'run-1:1');
      const bytes = fromB64(payload);
      bytes[40]! ^= 1;
      const queue = new ShareQueue(a.store);
      await queue.enqueue('run-1', [
        { taskId: 'run-1:1', shareIndex: 1, payload: toB64(bytes) }, // one bit flipped
        { taskId: 'run-1:2', shareIndex: 2, payload }, // sealed for another task
        { taskId: 'run-1:3', shareIndex: 3, payload: 'not a box' },
      ]);
      const ex = new ShareExecutor({ queue: new ShareQueue(b.store), key, worker: 'enclave-b', blobs: reader(), unwrapPrivateKey: keys.privateKey });
      while (await ex.runOnce());
      const rowsLeft = await queue.shares('run-1');
      expect(rowsLeft.map((r) => [r.state, r.errorType])).to.deep.equal([
        ['failed', 'sql-share-invalid'],
        ['failed', 'sql-share-invalid'],
        ['failed', 'sql-share-invalid'],
      ]);
      expect(ex.ran).to.equal(0);
      // the same payload under its own task runs
      await queue.enqueue('run-2', [{ taskId: 'run-1:1-again', shareIndex: 1, payload: sealShare(key, { v: 1, ...task, passes: [1], of: 2, sliceRows: 1_500 }, 'run-1:1-again') }]);
      expect(await ex.runOnce()).to.equal(true);
      expect(ex.ran).to.equal(1);
      expect((await queue.shares('run-2'))[0]!.state).to.equal('done');
    });
  });

  it('a share whose query is not the approved one is refused', async () => {
    await twoEnclaves(async (a, b) => {
      const [q, mode, o] = QUERIES[0]!;
      const { task } = setup(q, mode, o);
      const queue = new ShareQueue(a.store);
      await queue.enqueue('run-3', [{ taskId: 'run-3:1', shareIndex: 1, payload: sealShare(key, { v: 1, ...task, queryHash: '0'.repeat(64), passes: [1], of: 2, sliceRows: 1_500 }, 'run-3:1') }]);
      const ex = new ShareExecutor({ queue: new ShareQueue(b.store), key, worker: 'enclave-b', blobs: reader(), unwrapPrivateKey: keys.privateKey });
      expect(await ex.runOnce()).to.equal(true);
      expect((await queue.shares('run-3')).map((r) => r.errorType)).to.deep.equal(['computation-hash-mismatch']);
    });
  });
});
