import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';

/** Seeded PRNG (mulberry32): the fuzz and attack runs replay exactly from their seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  ms?: number;
}

/** One HTTP request over a kept-alive connection (fetch), body as given: the fuzz controls every byte. */
export async function send(base: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const t0 = performance.now();
  const r = await fetch(base + path, { method: method.toUpperCase(), headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : new Uint8Array(body) } : {}) });
  const text = await r.text();
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', text, ms: performance.now() - t0 };
}

/** A request that declares `declared` bytes and sends only a few: the server must answer 413/4xx and not wait or buffer. */
export function sendDeclared(base: string, method: string, path: string, headers: Record<string, string>, declared: number, sent: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { method, headers: { ...headers, 'Content-Length': String(declared) }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text }));
      res.on('error', reject);
    });
    req.on('error', (e) => resolve({ status: -1, contentType: '', text: String(e) }));
    const t = setTimeout(() => {
      req.destroy();
      resolve({ status: -2, contentType: '', text: 'no answer within 10 s' });
    }, 10_000);
    req.on('close', () => clearTimeout(t));
    req.write(sent);
  });
}

/** Resident memory (bytes) of this process and its direct children (the forked enclave), from /proc. */
export function rssOfTree(pid = process.pid): number {
  const rss = (p: number): number => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* not Linux: only this process */
  }
  return rss(pid) + children.reduce((a, c) => a + rss(c), 0);
}

export const MiB = 1024 * 1024;
