import { z } from 'zod';
import type { RouteDef } from '../http/route.js';
import { openApiPath } from '../http/router.js';
import { Problem } from './schemas.js';

const toSchema = (s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> => {
  try {
    const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
    return rest;
  } catch {
    return {};
  }
};

/** OpenAPI 3.1 generated from the route table and its zod schemas (the same objects the router validates with). */
export function buildOpenApi(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      if (!schema) continue;
      const js = toSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, p] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema: p });
      }
    }
    if (r.idempotent) parameters.push({ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', minLength: 8, maxLength: 200 } });
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(r.responses)) {
      responses[status] = status === '204' ? { description: 'No content' } : { description: 'Success', content: { 'application/json': { schema: toSchema(schema, 'output') } } };
    }
    responses.default = { description: 'Problem (RFC 9457)', content: { 'application/problem+json': { schema: toSchema(Problem, 'output') } } };
    const op: Record<string, unknown> = {
      operationId: r.id,
      summary: r.summary,
      parameters,
      responses,
      security: r.roles === 'public' ? [] : [{ bearer: [] }],
      'x-roles': r.roles,
    };
    if (r.object) op['x-object'] = r.object;
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: toSchema(r.body, 'input') } } };
    if (r.rawBody) op.requestBody = { required: true, content: { [r.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } } };
    (paths[openApiPath(r.path)] ??= {})[r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Shuyu (数域) API', version, description: 'Privacy-preserving data trading: raw data does not leave the domain.' },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
