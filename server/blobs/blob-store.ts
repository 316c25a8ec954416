import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { DomainError } from '../../contracts/errors.js';
import { createSm3 } from '../../crypto/index.js';

export const SM3_HEX = /^[0-9a-f]{64}$/;

/**
 * Content-addressed blob store on the file system: a blob's name is the SM3 hex of its bytes,
 * stored at `blobs/ab/cdef…`. Bytes arrive in `blobs/tmp/` and are renamed into place only after
 * their hash and size were checked, so an interrupted write never leaves an addressable blob.
 * The store holds only sealed bytes (ciphertexts, sealed row chunks, manifests). It is shared by every
 * organisation to save disk; who delivered which blob is recorded per upload, never inferred from here.
 */
export class BlobStore {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
  }

  pathOf(hash: string): string {
    if (!SM3_HEX.test(hash)) throw new DomainError('bad-blob-hash', `"${hash}" is not a lower-case SM3 hex digest (64 hex characters)`);
    return join(this.dir, hash.slice(0, 2), hash.slice(2));
  }

  has(hash: string): boolean {
    return existsSync(this.pathOf(hash));
  }

  size(hash: string): number | null {
    try {
      return statSync(this.pathOf(hash)).size;
    } catch {
      return null;
    }
  }

  /**
   * Streams `source` into the store, refusing more than `maxBytes` and anything whose SM3 is not
   * `expectedHash` (when given). Returns the hash and size of what was stored.
   */
  async put(source: Readable, opts: { maxBytes: number; expectedHash?: string; expectedSize?: number }): Promise<{ hash: string; size: number }> {
    if (opts.expectedHash !== undefined) this.pathOf(opts.expectedHash); // validates the name early
    const tmp = join(this.dir, 'tmp', `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const h = createSm3();
    let size = 0;
    const limit = opts.expectedSize !== undefined ? Math.min(opts.expectedSize, opts.maxBytes) : opts.maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > limit) {
          cb(
            opts.expectedSize !== undefined && size > opts.expectedSize && opts.expectedSize <= opts.maxBytes
              ? new DomainError('blob-size-mismatch', `blob is larger than the ${opts.expectedSize} bytes its manifest declares`)
              : new DomainError('payload-too-large', `blob exceeds the limit of ${limit} bytes`, { limit }),
          );
          return;
        }
        h.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      try {
        await pipeline(source, meter, createWriteStream(tmp, { mode: 0o600 }));
      } catch (e) {
        if (e instanceof DomainError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (e as Error).message === 'aborted') {
          throw new DomainError('upload-interrupted', `the blob transfer was interrupted after ${size} bytes; send the blob again`);
        }
        throw e;
      }
      const hash = h.digest('hex');
      if (opts.expectedHash !== undefined && hash !== opts.expectedHash) {
        throw new DomainError('blob-hash-mismatch', `the bytes sent hash to ${hash}, not ${opts.expectedHash}: the blob is truncated or altered`, {
          expected: opts.expectedHash,
          actual: hash,
        });
      }
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new DomainError('blob-size-mismatch', `blob has ${size} bytes, its manifest declares ${opts.expectedSize}`);
      }
      const dest = this.pathOf(hash);
      // Same name, same bytes (just checked): a stored blob is left untouched and the copy dropped
      // (a stored file of another length is damaged and gets replaced).
      if (this.size(hash) === size) return { hash, size };
      mkdirSync(join(this.dir, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
      await rename(tmp, dest);
      return { hash, size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Stores bytes already in memory (small blobs: manifests). */
  async putBytes(bytes: Uint8Array): Promise<{ hash: string; size: number }> {
    const { Readable } = await import('node:stream');
    return this.put(Readable.from([Buffer.from(bytes)]), { maxBytes: bytes.length + 1 });
  }

  async get(hash: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(hash)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DomainError('blob-not-found', `blob ${hash} is not in the store`);
      throw e;
    }
  }

  stream(hash: string): Readable {
    return createReadStream(this.pathOf(hash));
  }

  delete(hash: string): void {
    rmSync(this.pathOf(hash), { force: true });
  }

  /** Every stored hash (for garbage collection), plus clearing of stale temp files. */
  listHashes(): string[] {
    const out: string[] = [];
    for (const d of readdirSync(this.dir)) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of readdirSync(join(this.dir, d))) if (/^[0-9a-f]{62}$/.test(f)) out.push(d + f);
    }
    return out;
  }

  clearTemp(): number {
    const tmp = join(this.dir, 'tmp');
    const files = readdirSync(tmp);
    for (const f of files) rmSync(join(tmp, f), { force: true });
    return files.length;
  }
}
