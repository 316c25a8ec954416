/**
 * Prometheus text exposition (version 0.0.4) without a dependency: counters and a latency histogram
 * per route, plus gauges the server registers (jobs by state, uploads open…). Labels never carry ids.
 */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  private requests = new Map<string, number>();
  private hist = new Map<string, { buckets: number[]; sum: number; count: number }>();
  private counters = new Map<string, number>();
  private gauges = new Map<string, () => Promise<Record<string, number>> | Record<string, number>>();

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const k = `route="${route}",method="${method}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    const hk = `route="${route}"`;
    let h = this.hist.get(hk);
    if (!h) this.hist.set(hk, (h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h!.buckets[i]!++;
    });
    h.sum += seconds;
    h.count++;
  }

  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /** A gauge family: fn returns label-value → value, e.g. { queued: 2, running: 1 } for label `state`. */
  gauge(name: string, fn: () => Promise<Record<string, number>> | Record<string, number>): void {
    this.gauges.set(name, fn);
  }

  async render(): Promise<string> {
    const out: string[] = [];
    out.push('# HELP shuyu_http_requests_total HTTP requests by route, method and status.', '# TYPE shuyu_http_requests_total counter');
    for (const [k, v] of this.requests) out.push(`shuyu_http_requests_total{${k}} ${v}`);
    out.push('# HELP shuyu_http_request_duration_seconds Request latency.', '# TYPE shuyu_http_request_duration_seconds histogram');
    for (const [k, h] of this.hist) {
      BUCKETS.forEach((b, i) => out.push(`shuyu_http_request_duration_seconds_bucket{${k},le="${b}"} ${h.buckets[i]}`));
      out.push(`shuyu_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      out.push(`shuyu_http_request_duration_seconds_sum{${k}} ${h.sum}`, `shuyu_http_request_duration_seconds_count{${k}} ${h.count}`);
    }
    for (const [name, v] of this.counters) out.push(`# TYPE ${name} counter`, `${name} ${v}`);
    for (const [name, fn] of this.gauges) {
      out.push(`# TYPE ${name} gauge`);
      try {
        for (const [label, v] of Object.entries(await fn())) out.push(`${name}{state="${label}"} ${v}`);
      } catch {
        /* a gauge that cannot be read right now is left out rather than failing the scrape */
      }
    }
    out.push(`# TYPE process_resident_memory_bytes gauge`, `process_resident_memory_bytes ${process.memoryUsage().rss}`);
    return out.join('\n') + '\n';
  }
}
