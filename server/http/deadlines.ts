import type { ServerResponse } from 'node:http';

/**
 * Every request's deadline on one shared interval instead of a timer (and a 'close' listener to clear it)
 * per request. All deadlines have the same length, so a response is overdue once `ms` have passed since
 * it was tracked; a response that has started answering or has closed is simply dropped at the next tick.
 * The deadline fires at most one tick (≤ 250 ms, ≤ ms/4) late.
 */
// Default `any`: the router names the class bare, for a table whose onOverdue takes express's Response.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Deadlines<R extends ServerResponse = any> {
  private live = new Map<R, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;

  constructor(
    private readonly ms: number,
    private readonly onOverdue: (res: R) => void,
  ) {
    this.tickMs = Math.max(5, Math.min(250, Math.floor(ms / 4)));
  }

  track(res: R): void {
    this.live.set(res, performance.now() + this.ms);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /**
   * The response has closed: drop it now. Left to the next tick, every answered response (with its request
   * and headers) would stay reachable for up to a tick — at 2,000 requests/s some 500 of them, surviving the
   * young-generation collections into the old generation (longer scavenges, frequent mark-compacts).
   */
  forget(res: R): void {
    this.live.delete(res);
  }

  /** Responses tracked and not yet known to be answered (tests). */
  get size(): number {
    return this.live.size;
  }

  private tick(): void {
    const now = performance.now();
    for (const [res, due] of this.live) {
      if (res.headersSent || res.closed) this.live.delete(res);
      else if (due <= now) {
        this.live.delete(res);
        this.onOverdue(res);
      }
    }
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
