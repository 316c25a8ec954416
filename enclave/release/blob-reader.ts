import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DomainError } from '../../contracts/errors.js';
import type { BlobStoreLocation } from '../../formats/enclave-protocol.js';

/**
 * Where the enclave reads sealed blobs by their SM3 name. The store is not trusted: a reader only fetches
 * bytes (at most the size the manifest declares); the caller re-hashes them against the manifest. A shared
 * volume or an object store fits behind the same interface.
 */
export interface BlobReader {
  /** The bytes of blob `sm3`, refused when absent or not `size` bytes long. */
  read(sm3: string, size: number): Promise<Uint8Array>;
}

const SM3_NAME = /^[0-9a-f]{64}$/;

/** A read-only local directory: the server's store (`ab/cdef…`) or a sealer's bundle directory (`<sm3>`). */
export class DirectoryBlobReader implements BlobReader {
  private readonly dir: string;

  constructor(
    dir: string,
    private readonly layout: 'sharded' | 'flat' = 'sharded',
  ) {
    this.dir = resolve(dir);
  }

  private pathOf(sm3: string): string {
    // a name is 64 lower-case hex digits: no separator or '..' can reach outside the directory
    if (!SM3_NAME.test(sm3)) throw new DomainError('blob-name-invalid', 'a blob name must be an SM3 digest (64 lower-case hex digits)');
    return this.layout === 'sharded' ? join(this.dir, sm3.slice(0, 2), sm3.slice(2)) : join(this.dir, sm3);
  }

  async read(sm3: string, size: number): Promise<Uint8Array> {
    const path = this.pathOf(sm3);
    let file;
    try {
      file = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new DomainError('row-chunk-missing', `blob ${sm3} is not in the enclave's blob store`, { sm3 });
      throw new DomainError('blob-store-unavailable', 'the enclave cannot read its blob store', { sm3 });
    }
    try {
      const st = await file.stat();
      if (!st.isFile() || st.size !== size) throw new DomainError('row-chunk-invalid', `blob ${sm3} is not the one the manifest names (size)`, { sm3 });
      const bytes = new Uint8Array(size);
      let at = 0;
      while (at < size) {
        const { bytesRead } = await file.read(bytes, at, size - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      if (at !== size) throw new DomainError('row-chunk-invalid', `blob ${sm3} is shorter than the manifest says`, { sm3 });
      return bytes;
    } finally {
      await file.close();
    }
  }
}

/** Used when the enclave was started without a blob store: any release that needs rows is refused, typed. */
export const noBlobStore: BlobReader = {
  read: () => Promise.reject(new DomainError('blob-store-unavailable', 'the enclave was started without a blob store; it cannot read sealed rows')),
};

export function blobReaderOf(location: BlobStoreLocation | undefined): BlobReader {
  if (!location) return noBlobStore;
  return new DirectoryBlobReader(location.dir, location.layout ?? 'sharded');
}
