/**
 * Serialized, already-validated responses of one route, kept for one version of the data they were
 * read from (a route's `cache.version()`): when the version moves, every entry is dropped, so an
 * answer is never older than the last change. Bounded by entries and bytes (oldest dropped first),
 * since keys include caller-chosen query text.
 */
export interface CachedResponse {
  status: number;
  /** The JSON text res.json would have sent for `value` (sent as UTF-8). */
  text: string;
  /** Its length in UTF-8 bytes (Content-Length). */
  length: number;
  etag: string;
  /** The validated body (the idempotency store keeps objects, not bytes). */
  value: unknown;
}

export class ResponseCache {
  private entries = new Map<string, CachedResponse>();
  private version: number | string | undefined;
  private bytes = 0;

  constructor(
    private readonly maxEntries = 256,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  get(key: string, version: number | string): CachedResponse | undefined {
    if (version !== this.version) {
      this.entries.clear();
      this.bytes = 0;
      this.version = version;
      return undefined;
    }
    return this.entries.get(key);
  }

  /** Stores an answer computed from `version` (read before computing it); a stale one is not kept. */
  set(key: string, version: number | string, r: CachedResponse): void {
    if (version !== this.version || r.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) (this.bytes -= old.length), this.entries.delete(key);
    this.entries.set(key, r);
    this.bytes += r.length;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.length;
    }
  }
}
