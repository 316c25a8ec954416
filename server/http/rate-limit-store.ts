import type { ClientRateLimitInfo, IncrementResponse, Store } from 'express-rate-limit';
import type { Db } from '../store/db.js';

/** The limit is SHUYU_RATE_LIMIT_PER_MINUTE: per client and minute. */
export const RATE_LIMIT_WINDOW_MS = 60_000;

export interface SharedRateLimitOptions {
  /** Requests allowed per client and window. */
  limit: number;
  windowMs: number;
  /** How late, at most, a server adds its hits to the shared count while a client is under half its limit. */
  syncMs?: number;
  now?: () => number;
}

interface KeyState {
  window: number;
  /** The shared count as this process last read it. */
  seen: number;
  /** Hits answered here and not yet added to the shared count. */
  pending: number;
  synced: boolean;
}

const UPSERT =
  'INSERT INTO rate_limit_hits (window_start, client_key, hits) VALUES (?, ?, ?) ON CONFLICT (window_start, client_key) DO UPDATE SET hits = rate_limit_hits.hits + excluded.hits RETURNING hits';

/**
 * express-rate-limit's store on the server's database (rate_limit_hits): a fixed window per client key, counted by
 * one atomic upsert-increment, so every server of a cluster counts against the same limit.
 */
export class SharedRateLimitStore implements Store {
  readonly localKeys = false;
  private readonly syncMs: number;
  private readonly now: () => number;
  private readonly keys = new Map<string, KeyState>();
  private window = -1;
  private windowIso = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly o: SharedRateLimitOptions,
  ) {
    this.syncMs = o.syncMs ?? 100;
    this.now = o.now ?? Date.now;
  }

  private current(): number {
    const w = Math.floor(this.now() / this.o.windowMs) * this.o.windowMs;
    if (w !== this.window) {
      // a new window: the old one's counts no longer matter here, and its rows can go (any server may do it)
      this.window = w;
      this.windowIso = new Date(w).toISOString();
      for (const [k, s] of this.keys) if (s.window !== w) this.keys.delete(k);
      this.db.run('DELETE FROM rate_limit_hits WHERE window_start < ?', this.windowIso).catch(() => {});
    }
    return w;
  }

  private state(key: string, w: number): KeyState {
    let s = this.keys.get(key);
    if (!s || s.window !== w) this.keys.set(key, (s = { window: w, seen: 0, pending: 0, synced: false }));
    return s;
  }

  /** Adds `own` hits and this key's pending ones to the shared count; answers the count after them. */
  private async sync(key: string, s: KeyState, own = 0): Promise<number> {
    const n = s.pending + own;
    s.pending = 0;
    const iso = s.window === this.window ? this.windowIso : new Date(s.window).toISOString();
    try {
      const total = (await this.db.get<{ hits: number }>(UPSERT, iso, key, n))!.hits;
      // answers of concurrent syncs may arrive out of order; the shared count only grows within a window
      if (total > s.seen) s.seen = total;
      s.synced = true;
      return total;
    } catch (e) {
      s.pending += n - own; // hits already answered are counted by the next sync; the failed request's own is not
      throw e;
    }
  }

  increment(key: string): Promise<IncrementResponse> | IncrementResponse {
    const w = this.current();
    const s = this.state(key, w);
    const resetTime = new Date(w + this.o.windowMs);
    // Exact on a key's first hit and from half the limit on; below it a hit reaches the shared count ≤ syncMs late, so other servers may overshoot by their last syncMs of hits.
    if (!s.synced || (s.seen + s.pending + 1) * 2 >= this.o.limit || this.syncMs <= 0) {
      // its own hit alone (with those already answered): two requests at once never both see the last allowed count
      return this.sync(key, s, 1).then((totalHits) => ({ totalHits, resetTime }));
    }
    s.pending++;
    this.schedule();
    return { totalHits: s.seen + s.pending, resetTime };
  }

  /** One timer for every key: adds what is pending, then stops until a hit is counted in process again. */
  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      let left = false;
      for (const [key, s] of this.keys) {
        if (s.pending === 0 || s.window !== this.window) continue;
        // a failed sync (the database away) keeps the hits pending for the next round
        this.sync(key, s).catch(() => {});
        left = true;
      }
      if (left) this.schedule();
    }, this.syncMs);
    this.timer.unref();
  }

  get(key: string): ClientRateLimitInfo | undefined {
    const s = this.keys.get(key);
    return s && s.window === this.window ? { totalHits: s.seen + s.pending, resetTime: new Date(s.window + this.o.windowMs) } : undefined;
  }

  decrement(key: string): void {
    const s = this.keys.get(key);
    if (s && s.window === this.window) {
      s.pending--;
      this.schedule();
    }
  }

  async resetKey(key: string): Promise<void> {
    this.keys.delete(key);
    await this.db.run('DELETE FROM rate_limit_hits WHERE client_key = ?', key);
  }

  shutdown(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
