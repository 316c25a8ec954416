import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { validate } from '@readme/openapi-parser';
import openapiTS, { astToString, transformSchemaObject } from 'openapi-typescript';
import typescript from 'typescript';
import { makeHarness, type Harness } from './harness.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const run = promisify(execFile);

type Doc = Record<string, any>;
const operations = (doc: Doc) =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })));

describe('server: the served OpenAPI document', function () {
  // about 20 s alone (most of it tsc); the margin is for a loaded machine
  this.timeout(120_000);
  let h: Harness;
  let doc: Doc;
  before(async () => {
    h = await makeHarness();
    const r = await h.http.get('/v1/openapi.json');
    expect(r.status).to.equal(200);
    doc = r.body;
  });
  after(() => h.close());

  it('is a valid OpenAPI 3.1 document in which every $ref resolves', async () => {
    expect(doc.openapi).to.equal('3.1.0');
    const v = await validate(structuredClone(doc) as Parameters<typeof validate>[0]);
    expect(v.valid, JSON.stringify(v).slice(0, 2000)).to.equal(true);
    expect(v.warnings).to.deep.equal([]);
    // every ref points into components/schemas, and each target exists
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]*"/g) ?? [];
    expect(refs.length).to.be.greaterThan(100);
    for (const ref of new Set(refs)) {
      const target = JSON.parse(`{${ref}}`).$ref as string;
      expect(target, 'refs point at components').to.match(/^#\/components\/schemas\/[A-Za-z][\w]*$/);
      expect(doc.components.schemas[target.split('/').pop()!], target).to.be.an('object');
    }
    // the shared schemas are one entry each, under stable names
    for (const name of ['Problem', 'Trade', 'TradeDetail', 'Offer', 'OfferInput', 'SignedQuote', 'Receipt', 'Dataset', 'Computation', 'Upload', 'Wallet']) {
      expect(doc.components.schemas, name).to.have.property(name);
    }
  });

  it('describes every operation fully enough for a generated client', () => {
    const ops = operations(doc);
    expect(ops.length).to.equal(h.shuyu.routes.length);
    const ids = new Set<string>();
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.operationId, where).to.be.a('string');
      expect(ids.has(op.operationId), `${op.operationId} twice`).to.equal(false);
      ids.add(op.operationId);
      expect(op.summary, where).to.be.a('string').and.not.equal('');
      expect(op.tags, where).to.be.an('array').with.length.greaterThan(0);
      for (const t of op.tags) expect(doc.tags.map((x: { name: string }) => x.name), where).to.include(t);
      const route = h.shuyu.routes.find((r) => r.id === op.operationId)!;
      expect(op.security, where).to.deep.equal(route.roles === 'public' ? [] : [{ bearer: [] }]);
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => /^2\d\d$/.test(s)), `${where}: a success status`).to.equal(true);
      expect(op.responses.default?.content?.['application/problem+json']?.schema, where).to.deep.equal({ $ref: '#/components/schemas/Problem' });
      for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
        if (/^[45]\d\d$/.test(status)) {
          expect(r.content['application/problem+json'].schema, `${where} ${status}`).to.deep.equal({ $ref: '#/components/schemas/Problem' });
          expect(r['x-problem-types'], `${where} ${status}`).to.be.an('array').with.length.greaterThan(0);
        }
      }
      if (route.roles !== 'public') expect(statuses, where).to.include.members(['401', '403']);
      if (route.body || route.params || route.query) expect(op.responses['422']['x-problem-types'], where).to.include('https://shuyu.local/problems/validation-failed');
      if (route.object) expect(statuses, where).to.include('404');
      const header = (op.parameters as any[]).find((p) => p.in === 'header' && p.name === 'Idempotency-Key');
      expect(Boolean(header?.required), `${where}: Idempotency-Key`).to.equal(Boolean(route.idempotent));
      if (route.idempotent) expect(op.responses['400']['x-problem-types']).to.include('https://shuyu.local/problems/missing-idempotency-key');
      for (const p of (op.parameters as any[]).filter((x) => x.in === 'path')) expect(path, where).to.include(`{${p.name}}`);
      // list routes page by cursor
      const ok = op.responses['200']?.content?.['application/json']?.schema?.$ref as string | undefined;
      if (ok?.endsWith('Page')) {
        const names = (op.parameters as any[]).filter((x) => x.in === 'query').map((x) => x.name);
        expect(names, `${where}: pagination`).to.include.members(['cursor', 'limit']);
      }
      if (op.requestBody) expect(op.requestBody.required, where).to.equal(true);
    }
  });

  it('generates a typed client (openapi-typescript) that type-checks, and the SDK types agree with the document', async function () {
    const dir = join(root, 'node_modules', '.cache', `shuyu-openapi-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      // Defaults make a field optional in a request, as zod parses it. openapi-typescript renders a
      // `prefixItems` tuple as an array of tuples: tuples are rendered here.
      const ts = astToString(
        await openapiTS(structuredClone(doc) as any, {
          defaultNonNullable: false,
          transform: (s, options) =>
            s.type === 'array' && Array.isArray(s.prefixItems) && (s.items as unknown) === false
              ? typescript.factory.createTupleTypeNode(s.prefixItems.map((i) => transformSchemaObject(i, options)))
              : undefined,
        }),
      );
      writeFileSync(join(dir, 'api.ts'), ts);
      const schemas = doc.components.schemas as Record<string, unknown>;
      // The SDK's types (client-sdk/sdk/types.ts): what the document says a route answers must be usable as the
      // SDK's answer type; what the SDK sends must be a request the document accepts.
      const sdk = readFileSync(join(root, 'client-sdk/sdk/types.ts'), 'utf8');
      // request schemas: the components a request body refers to, directly or through others
      const requestSide = new Set<string>();
      const reach = (v: unknown): void => {
        const refs = JSON.stringify(v ?? null).match(/#\/components\/schemas\/\w+/g) ?? [];
        for (const r of refs) {
          const id = r.split('/').pop()!;
          if (!requestSide.has(id)) requestSide.add(id), reach(schemas[id]);
        }
      };
      for (const { op } of operations(doc)) reach(op.requestBody);
      const checks: string[] = [];
      for (const m of sdk.matchAll(/^export type (\w+) = (In|Out)<typeof S\.(\w+)>;/gm)) {
        const [, sdkName, dir_, schema] = m;
        if (dir_ === 'Out' && schemas[schema!]) checks.push(`type _${sdkName} = Assert<Extends<S['${schema}'], SDK.${sdkName}>>;`);
        if (dir_ === 'In') {
          const name = schemas[`${schema}Input`] ? `${schema}Input` : schema!;
          if (requestSide.has(name)) checks.push(`type _${sdkName} = Assert<Extends<SDK.${sdkName}, S['${name}']>>;`);
        }
      }
      expect(checks.length, 'SDK types compared with the document').to.be.greaterThan(25);
      writeFileSync(
        join(dir, 'check.ts'),
        [
          `import createClient from 'openapi-fetch';`,
          `import type { paths, components } from './api.js';`,
          `import type * as SDK from '${join(root, 'client-sdk/sdk/types.js')}';`,
          `type S = components['schemas'];`,
          `type Assert<T extends true> = T;`,
          `type Extends<A, B> = [A] extends [B] ? true : false;`,
          ...checks,
          // the generated client: typed paths, parameters, bodies and answers
          `const client = createClient<paths>({ baseUrl: 'http://127.0.0.1:1' });`,
          `export async function typed(): Promise<void> {`,
          `  const t = await client.GET('/v1/trades/{id}', { params: { path: { id: 'x' } } });`,
          `  const state: SDK.TradeState | undefined = t.data?.state; void state;`,
          `  const org = await client.POST('/v1/orgs', { body: { name: 'x' } });`,
          `  if (org.error) { const p: S['Problem'] = org.error; void p; }`,
          `  await client.POST('/v1/ledger/topups', { params: { header: { 'Idempotency-Key': 'k-12345678' } }, body: { orgId: 'x', amountFen: 1 } });`,
          `  await client.GET('/v1/catalog', { params: { query: { q: 'x', limit: 10, cursor: 'y' } } });`,
          `  // @ts-expect-error a field the document does not know`,
          `  const body: S['CreateOrgRequest'] = { name: 'x', priceFen: 1 }; void body;`,
          `  // @ts-expect-error a path the document does not have`,
          `  await client.GET('/v1/no-such-route');`,
          `}`,
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023', 'DOM'], strict: true,
            skipLibCheck: true, noEmit: true, types: ['node'], isolatedModules: true,
          },
          files: ['check.ts'],
        }),
      );
      const tsc = join(root, 'node_modules/typescript/bin/tsc');
      const out = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir }).then(
        () => '',
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}` || 'tsc failed',
      );
      const lines = readFileSync(join(dir, 'check.ts'), 'utf8').split('\n');
      const named = out.replace(/check\.ts\((\d+),\d+\)/g, (m, n: string) => `${m} [${lines[Number(n) - 1]!.trim().slice(0, 120)}]`);
      expect(out, named).to.equal('');
    } finally {
      if (!process.env.KEEP_OPENAPI_CHECK) rmSync(dir, { recursive: true, force: true });
    }
  });
});
