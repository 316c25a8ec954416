import { z } from 'zod';
import { defineHandler } from './types.js';

/**
 * Liveness and memory, for health checks and the leak test. `gc: true` runs a full V8 collection first
 * (the enclave runs with --expose-gc) so growth measured across runs is retained memory — SEAL's WASM heap
 * included — not garbage waiting for the collector.
 */
export const ping = defineHandler({
  request: z.object({ gc: z.boolean().optional() }).strict(),
  response: z
    .object({ pid: z.number().int(), rssBytes: z.number(), heapUsedBytes: z.number(), arrayBuffersBytes: z.number(), uptimeSeconds: z.number() })
    .strict(),
  handle: ({ gc }) => {
    if (gc) (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    return { pid: process.pid, rssBytes: m.rss, heapUsedBytes: m.heapUsed, arrayBuffersBytes: m.arrayBuffers, uptimeSeconds: process.uptime() };
  },
});
