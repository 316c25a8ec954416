import { z } from 'zod';
import { EmptyPayload } from '../protocol.js';
import { defineHandler } from './types.js';

/** Liveness and memory, for health checks and the leak test. */
export const ping = defineHandler({
  request: EmptyPayload,
  response: z.object({ pid: z.number().int(), rssBytes: z.number(), heapUsedBytes: z.number(), uptimeSeconds: z.number() }).strict(),
  handle: () => {
    const m = process.memoryUsage();
    return { pid: process.pid, rssBytes: m.rss, heapUsedBytes: m.heapUsed, uptimeSeconds: process.uptime() };
  },
});
