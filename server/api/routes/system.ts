import { z } from 'zod';
import { defineRoute, type RouteDef } from '../../http/route.js';
import { Health, EnclaveInfo } from '../../../formats/http-api.js';
import { HttpProblem } from '../../http/problems.js';
import type { Services } from '../services.js';

export function systemRoutes(s: Services, openapi: () => unknown): RouteDef[] {
  return [
    defineRoute({
      id: 'health',
      method: 'get',
      path: '/v1/health',
      summary: 'Report liveness',
      roles: 'public',
      responses: { 200: Health },
      handler: async () => {
        const jobs = Object.fromEntries((await s.db.all<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state')).map((r) => [r.state, r.n]));
        const enclave = s.enclave ? (s.enclave.isUp() ? 'up' : 'down') : 'not-configured';
        return {
          status: 200,
          body: { status: enclave === 'down' ? 'degraded' : 'ok', version: s.version, uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000), enclave, jobs },
        };
      },
    }),
    defineRoute({
      id: 'metrics',
      method: 'get',
      path: '/v1/metrics',
      summary: 'Expose Prometheus metrics',
      roles: 'public',
      responses: {},
      rawResponse: { contentType: 'text/plain' },
      handler: async ({ res }) => {
        res.type('text/plain; version=0.0.4').send(await s.metrics.render());
        return { status: 200, streamed: true };
      },
    }),
    defineRoute({
      id: 'openapi',
      method: 'get',
      path: '/v1/openapi.json',
      summary: 'Describe the API (OpenAPI 3.1)',
      roles: 'public',
      responses: { 200: z.record(z.string(), z.unknown()) },
      handler: () => ({ status: 200, body: openapi() }),
    }),
    defineRoute({
      id: 'enclave-info',
      method: 'get',
      path: '/v1/enclave',
      summary: "Read the enclave's public keys and HE parameters",
      roles: 'public',
      responses: { 200: EnclaveInfo },
      handler: async () => {
        if (!s.enclave) throw new HttpProblem('enclave-unavailable', 'this server runs without an enclave');
        // publicInfo() restarts a dead enclave child; only a failed restart is a 503.
        // The HE Galois keys (≈ 4.4 MB of base64) only serve the server's own rotate-and-sum: every SDK start
        // reads this route, so it carries their fingerprint and the keys have a route of their own.
        const { he, ...rest } = await s.enclave.publicInfo();
        const { galoisKeys: _keys, ...heRest } = he as Record<string, unknown>;
        return { status: 200, body: { ...rest, he: { ...heRest, galoisKeysUrl: '/v1/enclave/galois-keys' } } };
      },
    }),
    defineRoute({
      id: 'enclave-galois-keys',
      method: 'get',
      path: '/v1/enclave/galois-keys',
      summary: "Read the enclave's HE Galois keys (public; base64 of SEAL's serialisation, SM3 fingerprint beside)",
      roles: 'public',
      responses: { 200: z.object({ fingerprint: z.string(), galoisKeys: z.string() }) },
      handler: async () => {
        if (!s.enclave) throw new HttpProblem('enclave-unavailable', 'this server runs without an enclave');
        const he = (await s.enclave.publicInfo()).he as { galoisKeys: string; galoisKeysFingerprint: string };
        return { status: 200, body: { fingerprint: he.galoisKeysFingerprint, galoisKeys: he.galoisKeys } };
      },
    }),
  ];
}
