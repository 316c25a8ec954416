import { z } from 'zod';
import type { RouteDef } from '../http/route.js';
import { openApiPath } from '../http/router.js';
import { PROBLEM_BASE, PROBLEM_STATUS, TITLES } from '../http/problems.js';
import { IDEMPOTENCY_KEY } from '../http/idempotency.js';
import * as api from '../../formats/http-api.js';
import * as computation from '../../contracts/computation.js';
import * as datasetSchema from '../../contracts/dataset/schema.js';
import * as offer from '../../contracts/offer/offer.js';
import * as quote from '../../contracts/pricing/quote.js';
import * as approval from '../../contracts/review/approval.js';
import * as policy from '../../contracts/policy/schema.js';
import * as audit from '../../contracts/audit/chain.js';

/**
 * OpenAPI 3.1 generated from the route table and its zod schemas (the same objects the router validates
 * with). Every schema the routes share is ONE entry of components/schemas, named after its export; a
 * route's own anonymous body or answer is named after its operation. Requests are described as zod
 * parses them (io "input": defaults optional), answers as the router sends them (io "output"); a shared
 * schema whose two descriptions differ appears twice, the request one suffixed `Input`.
 */

type Json = Record<string, unknown>;
const REF = '#/components/schemas/';
const IN = '__in';

/** Structured schemas worth a name of their own; plain strings and numbers (ids, times, levels) stay inline. */
const NAMEABLE = new Set(['object', 'union', 'enum', 'record', 'intersection', 'tuple']);

function namedSchemas(): Map<z.ZodType, string> {
  const names = new Map<z.ZodType, string>();
  const taken = new Set<string>();
  for (const mod of [api, computation, datasetSchema, offer, quote, approval, policy, audit] as Record<string, unknown>[]) {
    for (const [name, value] of Object.entries(mod)) {
      if (!(value instanceof z.ZodType) || names.has(value) || taken.has(name)) continue;
      if (/(Query|Params)$/.test(name)) continue; // described as parameters, not bodies
      if (!NAMEABLE.has((value as z.ZodType)._zod.def.type)) continue;
      names.set(value, name);
      taken.add(name);
    }
  }
  return names;
}

const pascal = (id: string): string => id.replace(/(^|[-_.])([a-z0-9])/g, (_m, _s, c: string) => c.toUpperCase());

/** `page(Item)` answers are named `<Item>Page`. */
function pageName(s: z.ZodType, names: Map<z.ZodType, string>): string | null {
  const def = s._zod.def as { type: string; shape?: Record<string, z.ZodType> };
  if (def.type !== 'object' || !def.shape?.items || !def.shape.nextCursor) return null;
  const items = def.shape.items._zod.def as { type: string; element?: z.ZodType };
  const item = items.type === 'array' && items.element ? names.get(items.element) : undefined;
  return item ? `${item}Page` : null;
}

/** Walks a JSON value, calling `f` on every object (schemas, sub-schemas). */
function walk(v: unknown, f: (o: Json) => void): void {
  if (Array.isArray(v)) for (const x of v) walk(x, f);
  else if (v && typeof v === 'object') {
    f(v as Json);
    for (const x of Object.values(v as Json)) walk(x, f);
  }
}

function clean(s: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = s;
  return rest;
}

/**
 * One registry conversion: every named schema and every route schema of this direction, refs pointing at
 * components/schemas (`suffix` marks the input side until it is merged). Schemas zod extracts on its own
 * (cycles) come back under `__shared` and are hoisted beside the others.
 */
function convert(entries: Map<z.ZodType, string>, io: 'input' | 'output', suffix: string): Record<string, Json> {
  const reg = z.registry<{ id: string }>();
  for (const [schema, id] of entries) reg.add(schema, { id });
  const uri = (id: string) => REF + id + suffix;
  const out = z.toJSONSchema(reg, { io, uri, target: 'draft-2020-12', unrepresentable: 'any', cycles: 'ref', reused: 'inline' }) as { schemas: Record<string, Json> };
  const schemas: Record<string, Json> = {};
  for (const [id, s] of Object.entries(out.schemas)) {
    if (id === '__shared') {
      for (const [defId, d] of Object.entries((s.$defs ?? {}) as Record<string, Json>)) schemas[defId] = clean(d);
    } else schemas[id] = clean(s);
  }
  const sharedPrefix = uri('__shared') + '#/$defs/';
  walk(schemas, (o) => {
    if (typeof o.$ref === 'string' && o.$ref.startsWith(sharedPrefix)) o.$ref = REF + o.$ref.slice(sharedPrefix.length) + suffix;
  });
  return schemas;
}

/**
 * Merges the input-side schemas into the output side: an input schema identical to its output namesake
 * (refs compared modulo the suffix, and only when everything it refers to merges too) becomes that one;
 * the others are named `<id>Input` (or keep their id when there is no output namesake).
 */
function merge(outS: Record<string, Json>, inS: Record<string, Json>, answers: string[]): { schemas: Record<string, Json>; rename: Map<string, string> } {
  const answered = new Set<string>();
  const reach = (id: string): void => {
    if (answered.has(id)) return;
    answered.add(id);
    walk(outS[id], (o) => typeof o.$ref === 'string' && reach(o.$ref.slice(REF.length)));
  };
  answers.forEach(reach);
  const strip = (s: Json) => JSON.stringify(s).replaceAll(IN + '"', '"');
  const refsOf = (s: Json): string[] => {
    const r: string[] = [];
    walk(s, (o) => typeof o.$ref === 'string' && o.$ref.endsWith(IN) && r.push(o.$ref.slice(REF.length, -IN.length)));
    return r;
  };
  const same = new Set(Object.keys(inS).filter((id) => outS[id] && strip(inS[id]!) === JSON.stringify(outS[id])));
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of [...same]) {
      if (refsOf(inS[id]!).some((r) => !same.has(r))) {
        same.delete(id);
        changed = true;
      }
    }
  }
  const rename = new Map<string, string>();
  for (const id of Object.keys(inS)) rename.set(id, same.has(id) || !answered.has(id) ? id : `${id}Input`);
  const schemas: Record<string, Json> = Object.fromEntries(Object.entries(outS).filter(([id]) => answered.has(id)));
  for (const [id, s] of Object.entries(inS)) if (!same.has(id) || !answered.has(id)) schemas[rename.get(id)!] = s;
  walk(schemas, (o) => {
    if (typeof o.$ref === 'string' && o.$ref.endsWith(IN)) o.$ref = REF + rename.get(o.$ref.slice(REF.length, -IN.length));
  });
  return { schemas, rename };
}

/**
 * Problem types routes answer from their own logic, by operation, for routes that do not declare
 * `problems` themselves (a route's declaration adds to these).
 */
const ROUTE_PROBLEMS: Record<string, readonly string[]> = {
  'enclave-info': ['enclave-unavailable'],
  'enclave-galois-keys': ['enclave-unavailable'],
  'create-org': ['already-exists'],
  'create-user': ['not-found', 'already-exists'],
  'issue-token': ['not-found'],
  'revoke-token': ['not-found', 'forbidden'],
  'register-key': ['conflict'],
  'submit-reviewer-certificate': ['invalid-certificate', 'key-not-registered'],
  'get-reviewer-certificate': ['not-found'],
  'create-upload': ['bundle-invalid', 'payload-too-large'],
  'put-upload-blob': ['unsupported-media-type', 'payload-too-large', 'bad-blob-hash', 'blob-not-in-manifest', 'blob-hash-mismatch', 'blob-size-mismatch', 'upload-not-open', 'upload-interrupted'],
  'complete-upload': ['upload-not-open', 'upload-incomplete', 'bundle-invalid', 'enclave-unavailable'],
  'abort-upload': ['upload-not-open'],
  'create-offer': ['invalid-offer', 'negative-list-denied'],
  'revise-offer': ['invalid-offer', 'negative-list-denied', 'offer-withdrawn'],
  'withdraw-offer': ['offer-withdrawn'],
  'create-quote': [
    'offer-withdrawn', 'offer-not-valid', 'computation-not-offered', 'computation-invalid', 'purpose-not-permitted', 'destination-not-permitted',
    'quota-exhausted', 'budget-exhausted', 'invalid-clamp', 'verify-refused', 'sql-refused', 'privacy-order-statistic-needs-dp', 'dp-domain-too-large',
    'he-unsupported-layout', 'he-overflow', 'policy-denied',
  ],
  'submit-trade': ['invalid-quote', 'quote-expired', 'quote-mismatch', 'offer-withdrawn', 'insufficient-funds', 'quota-exhausted', 'policy-denied'],
  'cancel-trade': ['illegal-transition'],
  'get-trade-result': ['result-not-ready'],
  'decide-review': ['separation-of-duties', 'invalid-approval', 'invalid-certificate', 'illegal-transition'],
  'get-wallet': ['not-found'],
  'get-statement': ['not-found'],
  'top-up': ['not-found', 'invalid-amount', 'idempotency-conflict'],
  'get-policy-version': ['not-found'],
};

/** Problem types every route of this kind can answer, besides the route's own `problems`. */
function problemTypes(r: RouteDef): string[] {
  const t = new Set<string>(['rate-limited']);
  if (r.roles !== 'public') ['unauthenticated', 'token-expired', 'token-revoked', 'forbidden'].forEach((x) => t.add(x));
  if (r.params || r.query || r.body) t.add('validation-failed');
  if (r.params) t.add('malformed-url');
  if (r.body) ['malformed-json', 'payload-too-large', 'unsupported-media-type'].forEach((x) => t.add(x));
  if (r.object) t.add('not-found');
  if (r.idempotent) ['missing-idempotency-key', 'idempotency-key-reused', 'idempotency-in-progress'].forEach((x) => t.add(x));
  if (!r.longRunning) t.add('request-timeout');
  for (const p of [...(ROUTE_PROBLEMS[r.id] ?? []), ...(r.problems ?? [])]) t.add(p);
  return [...t];
}

const problemResponse = (types: string[]): Json => ({
  description: `Problem (RFC 9457); \`type\` is one of: ${types.map((t) => `\`${t}\``).join(', ')}`,
  'x-problem-types': types.map((t) => PROBLEM_BASE + t),
  content: { 'application/problem+json': { schema: { $ref: REF + 'Problem' } } },
});

const AREA: Record<string, string> = {
  health: 'system', metrics: 'system', 'openapi.json': 'system', enclave: 'system',
  orgs: 'identity', users: 'identity', tokens: 'identity', me: 'identity',
  uploads: 'datasets', datasets: 'datasets', catalog: 'catalog', offers: 'market',
  trades: 'trades', reviews: 'reviews', ledger: 'ledger', audit: 'audit', policy: 'policy', purposes: 'policy',
};
export const TAGS: { name: string; description: string }[] = [
  { name: 'system', description: 'Liveness, metrics, this document and the enclave’s public keys (no token needed)' },
  { name: 'identity', description: 'Organisations, users, tokens and keys (operators manage; everyone reads themselves)' },
  { name: 'datasets', description: 'Owners upload sealed bundles and read their datasets' },
  { name: 'catalog', description: 'Everyone signed in searches the catalogue and reads schemas and generated samples' },
  { name: 'market', description: 'Owners list and revise offers; buyers read them and get signed quotes' },
  { name: 'trades', description: 'Buyers submit, follow, cancel and collect trades; owners and operators follow them' },
  { name: 'reviews', description: 'Reviewers read review cases and decide them' },
  { name: 'ledger', description: 'Wallets, statements and top-ups (amounts in integer fen)' },
  { name: 'audit', description: 'Operators read and verify the audit chain and its signed checkpoints' },
  { name: 'policy', description: 'The negative list: everyone reads it, operators publish versions; the purpose catalogue buyers declare from' },
];
const tagOf = (r: RouteDef): string => r.tags?.[0] ?? (/\/offers$/.test(r.path) ? 'market' : AREA[r.path.split('/')[2] ?? ''] ?? 'system');

const SUCCESS: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content' };

/** OpenAPI 3.1 generated from the route table and its zod schemas (the same objects the router validates with). */
export function buildOpenApi(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const names = namedSchemas();
  names.set(api.Problem, 'Problem');
  const inputs = new Map(names);
  const outputs = new Map(names);
  const taken = new Set(names.values());
  const nameFor = (s: z.ZodType, fallback: string, side: Map<z.ZodType, string>): string => {
    const known = side.get(s);
    if (known) return known;
    let n = pageName(s, names) ?? fallback;
    if (taken.has(n)) n = fallback;
    while (taken.has(n)) n += '_';
    taken.add(n);
    side.set(s, n);
    return n;
  };
  const bodyName = new Map<RouteDef, string>();
  const answerName = new Map<RouteDef, Record<number, string>>();
  for (const r of routes) {
    if (r.body) bodyName.set(r, nameFor(r.body, `${pascal(r.id)}Request`, inputs));
    const statuses = Object.keys(r.responses).map(Number).filter((st) => st !== 204 && st !== 304);
    const byStatus: Record<number, string> = {};
    for (const st of statuses) byStatus[st] = nameFor(r.responses[st]!, `${pascal(r.id)}Response${statuses.length > 1 ? st : ''}`, outputs);
    answerName.set(r, byStatus);
  }
  const { schemas, rename } = merge(convert(outputs, 'output', ''), convert(inputs, 'input', IN), [...answerName.values()].flatMap((a) => Object.values(a)));

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      if (!schema) continue;
      const js = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any', reused: 'inline' }) as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, p] of Object.entries(js.properties ?? {})) {
        const { description, ...rest } = p;
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (js.required ?? []).includes(name),
          ...(typeof description === 'string' ? { description } : {}),
          schema: rest,
        });
      }
    }
    // every answer's problem+json follows the reader's language (server/http/router.ts sendProblem)
    parameters.push(
      { name: 'Accept-Language', in: 'header', required: false, description: 'zh gives problem+json title and detail in Chinese (from the message catalogue); English otherwise', schema: { type: 'string' } },
      { name: 'lang', in: 'query', required: false, description: 'zh or en: the language of problem+json answers, over Accept-Language', schema: { type: 'string', enum: ['zh', 'en'] } },
    );
    if (r.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: true,
        description: 'Makes a retry safe: the same key with the same request replays the first answer (Idempotent-Replayed: true)',
        schema: { type: 'string', minLength: 8, maxLength: 200, pattern: IDEMPOTENCY_KEY.source },
      });
    }
    const responses: Record<string, unknown> = {};
    for (const status of Object.keys(r.responses).map(Number)) {
      const name = answerName.get(r)![status];
      const headers = {
        ...(r.idempotent ? { 'Idempotent-Replayed': { description: 'Present when this is the stored answer to an earlier request with the same Idempotency-Key', schema: { type: 'string', const: 'true' } } } : {}),
        ...(r.cache ? { ETag: { description: 'Send it back in If-None-Match: an unchanged answer is 304', schema: { type: 'string' } } } : {}),
      };
      responses[status] = {
        description: SUCCESS[status] ?? 'Success',
        ...(Object.keys(headers).length ? { headers } : {}),
        ...(name ? { content: { 'application/json': { schema: { $ref: REF + name } } } } : {}),
      };
    }
    if (r.rawResponse) responses[r.rawResponse.status ?? 200] = { description: SUCCESS[r.rawResponse.status ?? 200] ?? 'Success', content: { [r.rawResponse.contentType]: { schema: { type: 'string' } } } };
    if (r.cache) responses[304] = { description: 'Not modified: the If-None-Match ETag is current' };
    const types = problemTypes(r);
    const byStatus = new Map<number, string[]>();
    for (const t of types) byStatus.set(PROBLEM_STATUS[t] ?? 422, [...(byStatus.get(PROBLEM_STATUS[t] ?? 422) ?? []), t]);
    for (const [status, ts] of [...byStatus].sort((a, b) => a[0] - b[0])) responses[status] = { ...problemResponse(ts), description: `${TITLES[status] ?? 'Problem'} — ${problemResponse(ts).description}` };
    responses.default = problemResponse(['internal']);
    const op: Record<string, unknown> = {
      operationId: r.id,
      summary: r.summary,
      tags: [tagOf(r)],
      ...(r.description ? { description: r.description } : {}),
      parameters,
      responses,
      security: r.roles === 'public' ? [] : [{ bearer: [] }],
      'x-roles': r.roles,
    };
    if (r.object) op['x-object'] = r.object;
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: { $ref: REF + rename.get(bodyName.get(r)!) } } } };
    if (r.rawBody) op.requestBody = { required: true, content: { [r.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } } };
    (paths[openApiPath(r.path)] ??= {})[r.method] = op;
  }

  // keep only the components something refers to
  const used = new Set<string>();
  const visit = (v: unknown): void =>
    walk(v, (o) => {
      if (typeof o.$ref !== 'string' || !o.$ref.startsWith(REF)) return;
      const id = o.$ref.slice(REF.length);
      if (used.has(id)) return;
      used.add(id);
      visit(schemas[id]);
    });
  visit(paths);
  const components = Object.fromEntries(Object.keys(schemas).filter((id) => used.has(id)).sort().map((id) => [id, schemas[id]]));

  return {
    openapi: '3.1.0',
    info: {
      title: 'Shuyu (数域) API',
      version,
      description:
        'Privacy-preserving data trading: raw data does not leave the domain. Errors are RFC 9457 problem details (application/problem+json). ' +
        'Every reason given to people (problems, trade timeline steps, failures, ledger memos, negative-list findings) carries a stable `code` and its `params`; ' +
        'formats/messages.ts renders them in Chinese or English. Accept-Language: zh (or ?lang=zh) gives problem titles and details in Chinese.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    tags: TAGS,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A user token (shy_…) issued by an operator' } }, schemas: components },
    paths,
  };
}
