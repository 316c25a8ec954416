/**
 * Wall time per phase of a crash chain (server start, the work before the kill, the kill, the checks), so the
 * suite's printed figures say where its minutes go.
 */
export class PhaseClock {
  private readonly ms = new Map<string, { n: number; ms: number }>();

  async time<T>(phase: string, f: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  add(phase: string, ms: number): void {
    const p = this.ms.get(phase) ?? { n: 0, ms: 0 };
    p.n++;
    p.ms += ms;
    this.ms.set(phase, p);
  }

  /** `{ phase: "n× mean s (total s)" }` for the report line. */
  summary(): Record<string, string> {
    return Object.fromEntries([...this.ms].map(([k, v]) => [k, `${v.n}× ${(v.ms / v.n / 1000).toFixed(2)} s (${(v.ms / 1000).toFixed(1)} s)`]));
  }
}
