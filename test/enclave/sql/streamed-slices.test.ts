import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sm3Hex } from '../../../crypto/index.js';
import { encodeSealedRowChunk, rowChunkAad, sealRowChunk } from '../../../formats/row-chunk.js';
import type { BundleManifest } from '../../../formats/manifest.js';
import { validateSql } from '../../../query/validate.js';
import { DirectoryBlobReader } from '../../../enclave/release/blob-reader.js';
import { streamRowChunks } from '../../../enclave/release/row-chunks.js';
import { runSqlInSandbox, type SealedChunkStream } from '../../../enclave/sandbox/sandbox.js';
import { SANDBOX_FEED_WINDOW } from '../../../enclave/sandbox/protocol.js';
import { BUNDLE, COLUMNS, makeRows, newKeys, schema, sealRows } from './fixture.js';
import { isDomainError } from '../../../contracts/errors.js';

/**
 * The sealed input streamed per slice: the enclave reads each chunk (from the blob store, or any stream) as
 * the worker goes, a few ahead of its loader, and each slice's database holds only its slice: the worker's
 * SQLite memory follows the configured slice size, not the dataset's, and the chunks held at once follow
 * the feed window.
 */
describe('SQL sandbox: sealed chunks streamed per slice, memory bounded by configuration', function () {
  this.timeout(300_000);
  const keys = newKeys();
  const v = validateSql('SELECT region, channel, COUNT(*) AS n, SUM(amount) AS s, AVG(nights) AS a FROM dataset GROUP BY region, channel', schema, { mode: 'exact' });
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  const plan = v.plan;

  /** `chunks` chunks of `perChunk` rows, each generated and sealed when it is read (never all in memory). */
  function generated(chunks: number, perChunk: number): SealedChunkStream & { reads: number } {
    const s = {
      count: chunks,
      reads: 0,
      read: (i: number) => {
        s.reads++;
        const rows = makeRows(perChunk, 7 + i).map((r, j) => {
          r[0] = `P${String(Math.floor((i * perChunk + j) * 0.9)).padStart(8, '0')}`; // some people have two rows, across chunks too
          return r;
        });
        const aad = rowChunkAad(BUNDLE, i);
        return Promise.resolve({ sealed: sealRowChunk({ columns: COLUMNS, rows }, keys.publicKey, aad), aad });
      },
    };
    return s;
  }

  it("the worker's peak SQLite memory stays under a bound while the rows grow ×4 (1 and 2 slice threads)", async () => {
    const perChunk = 4_000;
    const run = (chunks: number, threads: number, sliceRows = 12_000) => {
      const stream = generated(chunks, perChunk);
      // every column loaded (no `columns`): the table is as wide as the schema
      return runSqlInSandbox({ schema, chunks: stream, unwrapPrivateKey: keys.privateKey, plan, minGroupSize: 10, maxRowsPerPerson: 1, sliceRows, threads }).then((out) => ({ out, reads: stream.reads }));
    };
    const mib = (b: number | undefined): number => (b ?? 0) / 1048576;
    let sliced = 0;
    for (const threads of [1, 2]) {
      const small = await run(20, threads); // 80k rows
      const large = await run(80, threads); // 320k rows
      expect(small.out.stats.slices).to.equal(7);
      expect(large.out.stats.slices).to.equal(27);
      expect(large.reads, 'each chunk read once').to.equal(80);
      expect(small.out.stats.rowsLoaded * 4).to.equal(large.out.stats.rowsLoaded);
      // wasm memory only grows: its final size is a worker's SQLite peak (pages and heap)
      const [a, b] = [mib(small.out.stats.wasmMemoryBytes), mib(large.out.stats.wasmMemoryBytes)];
      expect(b, `threads=${threads}: ${a} MiB at 80k rows, ${b} MiB at 320k`).to.be.at.most(a * 1.1);
      expect(b, 'under the bound a 12k-row slice sets (sql.js itself and one slice)').to.be.below(28);
      sliced = Math.max(sliced, b);
      // the enclave held no more sealed chunks at once than the feed window, whatever the dataset's size
      expect(large.out.stats.sealedChunksHeldPeak).to.be.at.most(SANDBOX_FEED_WINDOW);
    }
    // the same 320k rows in one database: the memory then follows the dataset
    const whole = await run(80, 1, 0);
    expect(mib(whole.out.stats.wasmMemoryBytes)).to.be.above(1.5 * sliced);
  });

  describe('from the blob store (streamRowChunks)', () => {
    const rows = makeRows(3_000);
    const chunks = sealRows(rows, keys.publicKey, 250);
    let dir = '';
    let manifest: BundleManifest;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'shuyu-stream-'));
      const refs = chunks.map((c, index) => {
        const blob = encodeSealedRowChunk(c.sealed);
        const sm3 = sm3Hex(blob);
        writeFileSync(join(dir, sm3), blob);
        return { kind: 'rows' as const, index, sm3, size: blob.length };
      });
      // the parts of a manifest the reader uses: the bundle id (aad) and the row chunks' names and sizes
      manifest = { bundleId: BUNDLE, chunks: [...refs].reverse() } as unknown as BundleManifest;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('answers what the chunks in memory answer, sliced over 2 threads', async () => {
      const input = { schema, unwrapPrivateKey: keys.privateKey, plan, columns: [...plan.groupBy, 'amount', 'nights', 'person_id'], maxRowsPerPerson: 1, sliceRows: 700, threads: 2 };
      const streamed = await runSqlInSandbox({ ...input, chunks: streamRowChunks(manifest, new DirectoryBlobReader(dir, 'flat')) });
      const inMemory = await runSqlInSandbox({ ...input, chunks, threads: 1 });
      expect(streamed.rows).to.deep.equal(inMemory.rows);
      expect(streamed.stats.slices).to.equal(4);
      expect(streamed.stats.rowsLoaded).to.equal(rows.length);
    });

    it('a chunk missing from the store, or another chunk in its place, fails the run at that chunk, typed', async () => {
      const reader = new DirectoryBlobReader(dir, 'flat');
      const typeOf = (m: BundleManifest) =>
        runSqlInSandbox({ schema, chunks: streamRowChunks(m, reader), unwrapPrivateKey: keys.privateKey, plan, sliceRows: 700 }).then(
          () => 'released',
          (e: unknown) => (isDomainError(e) ? e.type : String(e)),
        );
      type Ref = { kind: 'rows'; index: number; sm3: string; size: number };
      const refs = manifest.chunks as Ref[];
      const swap = (f: (c: Ref) => Ref) => ({ ...manifest, chunks: refs.map((c) => (c.index === 7 ? f(c) : c)) }) as unknown as BundleManifest;
      expect(await typeOf(swap((c) => ({ ...c, sm3: 'f'.repeat(64) })))).to.equal('row-chunk-missing');
      const other = refs.find((c) => c.index === 8)!;
      expect(await typeOf(swap((c) => ({ ...c, sm3: other.sm3, size: other.size })))).to.equal('row-chunk-invalid');
    });
  });
});
