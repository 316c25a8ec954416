import { expect } from 'chai';
import { connect } from 'node:net';
import { liveServer, releaseLive, liveActor, sealTourism, uploadBundle, blobsOf, offerInput, topUp, certify, idemKey, SPEND_BY_REGION, type Live } from '../server/fixture.js';
import { certifyReviewer } from '../../contracts/review/approval.js';
import { sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import type { Actor } from '../server/harness.js';
import { OperatorClient } from '../../client-sdk/sdk/operator.js';
import { ShuyuApiError } from '../../client-sdk/sdk/errors.js';

/**
 * Every string field of every route in the served OpenAPI document (request body fields found by walking the
 * body schema and the valid body the sweep starts from, record keys, path and query parameters) gets each
 * hostile string in an otherwise valid request of a caller the route allows, against the live server with its
 * enclave. No answer may be a 5xx; ill-formed text (lone surrogates, NUL and other controls, DEL, bidirectional
 * overrides, the byte-order mark, noncharacters) in a JSON field, a query or a path parameter must be 422
 * validation-failed naming it, and so must bytes that are not UTF-8 (stray, overlong, an encoded surrogate,
 * truncated) in a JSON field's raw bytes or a parameter's percent-encoding. Headers (Idempotency-Key,
 * Authorization) with control characters or bytes that are not ASCII get problem+json, never a 5xx.
 */
const BAD_BYTES: { name: string; bytes: number[] }[] = [
  { name: 'stray 0xFF', bytes: [0x61, 0xff, 0x62] },
  { name: 'overlong "/"', bytes: [0xc0, 0xaf] },
  { name: 'encoded surrogate', bytes: [0xed, 0xa0, 0x80] },
  { name: 'truncated 数', bytes: [0xe6, 0x95] },
];
const MARK = 'BADBYTESMARK';
const LONG = '長'.repeat(60_000);
const HOSTILE: { name: string; value: string; illFormed?: boolean }[] = [
  { name: 'lone high surrogate', value: 'a\ud800b', illFormed: true },
  { name: 'lone low surrogate', value: '\udc00', illFormed: true },
  { name: 'NUL', value: 'a\u0000b', illFormed: true },
  { name: 'U+0001', value: '\u0001', illFormed: true },
  { name: 'DEL', value: 'x\u007f', illFormed: true },
  { name: 'RLO', value: 'abc\u202etxt.exe', illFormed: true },
  { name: 'LRI', value: '\u2066abc', illFormed: true },
  { name: 'BOM', value: '\ufeffname', illFormed: true },
  { name: 'U+FFFE', value: 'x\ufffe', illFormed: true },
  { name: 'U+FFFF', value: 'x\uffff', illFormed: true },
  { name: 'U+FDD0', value: 'x\ufdd0', illFormed: true },
  { name: 'U+10FFFF', value: 'x\u{10ffff}', illFormed: true },
  { name: 'very long', value: LONG },
  { name: 'SQL', value: "'; DROP TABLE orgs; --" },
  { name: 'path traversal', value: '../../etc/passwd' },
  { name: 'percent NUL', value: '%00' },
  { name: 'emoji', value: '😀👩‍👩‍👧' },
  { name: 'CJK', value: '数据可用不可见' },
];

/**
 * The hostile values one body field gets: a window of each kind that moves from field to field, so every value
 * meets many fields of every route and every field meets every kind, in half the requests of the full cross
 * product (SHUYU_HOSTILE_FULL=1 runs all of it).
 */
const FULL = process.env.SHUYU_HOSTILE_FULL === '1';
function windowOf<T>(xs: T[], field: number, n: number): T[] {
  if (FULL || n >= xs.length) return xs;
  return Array.from({ length: n }, (_, i) => xs[(field * n + i) % xs.length]!);
}
const ILL = HOSTILE.filter((h) => h.illFormed);
const WELL = HOSTILE.filter((h) => !h.illFormed);
const hostileFor = (field: number) => [...windowOf(ILL, field, Math.ceil(ILL.length / 2)), ...windowOf(WELL, field, Math.ceil(WELL.length / 2))];

type Schema = Record<string, any>;
type Path = (string | number)[];

/** A URL component as the bytes a sloppy client would send: lone surrogates as their (invalid) UTF-8 form. */
function encodeLoose(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => '%' + b.toString(16).toUpperCase()).join('');
    } else out += encodeURIComponent(s[i]!);
  }
  return out;
}

/** The string leaves of a request body schema (through refs, unions, arrays, tuples, records) and record slots for keys. */
function schemaStringPaths(doc: Schema, schema: Schema | undefined, at: Path, out: { strings: Path[]; records: Path[] }, depth = 0): void {
  if (!schema || depth > 10) return;
  if (schema.$ref) return schemaStringPaths(doc, doc.components.schemas[String(schema.$ref).split('/').pop()!], at, out, depth + 1);
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) for (const s of schema[k] ?? []) schemaStringPaths(doc, s, at, out, depth + 1);
  const types = ([] as string[]).concat(schema.type ?? []);
  if (types.includes('string')) out.strings.push(at);
  if (schema.properties) for (const [k, s] of Object.entries(schema.properties)) schemaStringPaths(doc, s as Schema, [...at, k], out, depth + 1);
  if (schema.prefixItems) (schema.prefixItems as Schema[]).forEach((s, i) => schemaStringPaths(doc, s, [...at, i], out, depth + 1));
  else if (schema.items && typeof schema.items === 'object') schemaStringPaths(doc, schema.items, [...at, 0], out, depth + 1);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    out.records.push(at);
    schemaStringPaths(doc, schema.additionalProperties, [...at, 'x'], out, depth + 1);
  }
}

/** The string leaves of a concrete JSON value. */
function valueStringPaths(v: unknown, at: Path, out: Path[], depth = 0): void {
  if (depth > 12 || out.length > 400) return;
  if (typeof v === 'string') out.push(at);
  else if (Array.isArray(v)) v.forEach((x, i) => valueStringPaths(x, [...at, i], out, depth + 1));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) valueStringPaths(x, [...at, k], out, depth + 1);
}

/** A JSON request whose body is the given bytes, answered as supertest would: status, text and parsed body. */
async function rawJson(url: string, method: string, auth: Record<string, string>, body: Buffer): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(url, { method: method.toUpperCase(), headers: { ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': idemKey() }, body: new Uint8Array(body) });
  const text = await res.text();
  let parsed: unknown = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the status and text say enough
  }
  return { status: res.status, text, body: parsed };
}

/** One request written as raw bytes; the answer's status and Content-Type (status 0: no answer). */
function rawExchange(port: number, request: Buffer): Promise<{ status: number; type: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), type: /\r\ncontent-type: ([^\r]*)/i.exec(text)?.[1] ?? '' });
    });
  });
}

/** `body` as JSON bytes with the marker string's text replaced by `bytes` (not UTF-8). */
function withBadBytes(body: unknown, bytes: number[]): Buffer {
  const [before, after] = JSON.stringify(body).split(MARK) as [string, string];
  return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
}

function setAt(root: unknown, path: Path, value: unknown, asKey = false): unknown {
  const copy = JSON.parse(JSON.stringify(root ?? {}));
  if (path.length === 0) {
    if (asKey && copy && typeof copy === 'object') copy[value as string] = 'x';
    return asKey ? copy : value;
  }
  let o = copy;
  for (const [i, k] of path.entries()) {
    const last = i === path.length - 1;
    if (last && !asKey) o[k] = value;
    else {
      if (o[k] === null || typeof o[k] !== 'object') o[k] = typeof path[i + 1] === 'number' ? [] : {};
      o = o[k];
      if (last) o[value as string] = 'x';
    }
  }
  return copy;
}

const fieldName = (p: Path): string => ['body', ...p].join('.');

describe('security: hostile strings in every string field of every route', function () {
  this.timeout(120_000);
  let l: Live;
  after(() => releaseLive());

  it('never answer 5xx, and ill-formed text is a 422 naming the field', async () => {
    l = await liveServer();
    const doc = (await l.http().get('/v1/openapi.json')).body as Schema;

    // ── a market to aim at: real objects for every path parameter and valid bodies to start from ──
    const owner = await liveActor(l, 'owner');
    const buyer = await liveActor(l, 'buyer');
    const reviewer = await liveActor(l, 'reviewer');
    await certify(l, reviewer);
    const fixture = await sealTourism(l, 30, 'hs');
    const dataset = await uploadBundle(l, owner, fixture);
    const offer = (await l.http().post(`/v1/datasets/${dataset.id}/offers`).set(owner.auth).send(offerInput())).body.offer;
    await topUp(l, buyer.orgId, 10_000_000);
    const quoteBody = { computation: SPEND_BY_REGION, purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' }, destination: 'CN' };
    const quote = (await l.http().post(`/v1/offers/${offer.id}/quotes`).set(buyer.auth).send(quoteBody)).body;
    const trade = (await l.http().post('/v1/trades').set(buyer.auth).set('Idempotency-Key', idemKey()).send({ quote, computation: SPEND_BY_REGION })).body;
    expect(trade.state, JSON.stringify(trade)).to.equal('under_review');
    const upload = (await l.http().post('/v1/uploads').set(owner.auth).send({ title: 'sweep', manifest: fixture.manifest })).body;
    const token = (await l.http().post(`/v1/users/${buyer.userId}/tokens`).set(l.operator.auth).send({ ttlDays: 1 })).body;
    const policy = (await l.http().get('/v1/policy').set(buyer.auth)).body;
    const now = Date.now();
    const cert = certifyReviewer(
      {
        type: 'shuyu.reviewer-cert.v1', reviewerId: reviewer.userId, orgId: reviewer.orgId, publicKeyPem: reviewer.keys!.publicKeyPem,
        fingerprint: reviewer.keys!.fingerprint, issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
      },
      l.operator.privateKey,
    );

    const actors: Record<string, Actor | typeof l.operator> = { operator: l.operator, owner, buyer, reviewer };
    const pathValue = (path: string, name: string): string => {
      if (name === 'hash') return blobsOf(fixture)[0]!.hash;
      if (name === 'policyId') return policy.policyId;
      if (name === 'version') return String(policy.version);
      const area = path.split('/')[2];
      return (
        { users: reviewer.userId, uploads: upload.id, datasets: dataset.id, catalog: dataset.id, offers: offer.id, trades: trade.id, reviews: trade.id, tokens: token.tokenId } as Record<string, string>
      )[area!] ?? dataset.id;
    };
    const bodies: Record<string, unknown> = {
      'create-org': { name: 'sweep org' },
      'create-user': { orgId: buyer.orgId, name: 'sweep user', role: 'buyer' },
      'issue-token': { ttlDays: 1 },
      'register-key': { publicKeyPem: sm2PublicKeyToPem(sm2KeyPair().publicKey) },
      'submit-reviewer-certificate': { certificate: cert },
      'create-upload': { title: 'sweep upload', description: 'a sweep', keywords: ['sweep'], manifest: fixture.manifest },
      'create-offer': offerInput(),
      'revise-offer': offerInput(),
      'create-quote': quoteBody,
      'submit-trade': { quote, computation: SPEND_BY_REGION },
      'cancel-trade': { reason: 'sweep' },
      'decide-review': { decision: 'reject', reason: 'sweep reason' },
      'top-up': { orgId: buyer.orgId, amountFen: 1, memo: 'sweep' },
      'publish-policy': policy, // the active version again: refused whatever its strings, so the list never changes
    };

    const fivexx: string[] = [];
    const unnamed: string[] = [];
    let requests = 0;
    let fields = 0;
    let routes = 0;
    type Job = () => Promise<void>;
    const jobs: Job[] = [];

    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Schema>>)) {
      for (const [method, op] of Object.entries(ops)) {
        routes++;
        const roles = op['x-roles'];
        const auth = roles === 'public' ? {} : (actors[roles[0]] ?? l.operator).auth;
        const params = (op.parameters ?? []) as Schema[];
        const pathParams = params.filter((p) => p.in === 'path');
        const url = (override?: { name: string; raw: string }) =>
          path.replace(/\{(\w+)\}/g, (_m, n: string) => (override?.name === n ? override.raw : encodeURIComponent(pathValue(path, n))));
        const base = bodies[op.operationId];
        const send = async (u: string, body: unknown, what: string, expectField?: string): Promise<void> => {
          let req = (l.http() as any)[method](u).set(auth);
          if (params.some((p) => p.in === 'header' && p.name === 'Idempotency-Key')) req = req.set('Idempotency-Key', idemKey());
          if (op.requestBody?.content?.['application/octet-stream']) req = req.set('Content-Type', 'application/octet-stream').send(Buffer.from('not a blob'));
          else if (body !== undefined) req = req.set('Content-Type', 'application/json').send(JSON.stringify(body));
          // superagent would send a Buffer as JSON ({"type":"Buffer",…}): raw bytes go through fetch
          const r = Buffer.isBuffer(body) ? await rawJson(l.srv.url + u, method, auth, body) : await req;
          requests++;
          if (r.status >= 500) fivexx.push(`${method.toUpperCase()} ${path} ${what} → ${r.status} ${String(r.text).slice(0, 200)}`);
          if (expectField) {
            const named = r.status === 422 && (r.body?.errors ?? []).some((e: { path: string }) => e.path === expectField || e.path.startsWith(`${expectField}.`));
            if (!named) unnamed.push(`${method.toUpperCase()} ${path} ${what} → ${r.status} ${String(r.text).slice(0, 200)}`);
          }
        };

        // path parameters
        for (const p of pathParams) {
          fields++;
          for (const h of HOSTILE) jobs.push(() => send(url({ name: p.name, raw: encodeLoose(h.value.slice(0, 2000)) }), base, `path ${p.name} ← ${h.name}`, h.illFormed ? `params.${p.name}` : undefined));
          for (const b of BAD_BYTES) {
            const raw = b.bytes.map((x) => '%' + x.toString(16).toUpperCase().padStart(2, '0')).join('');
            jobs.push(() => send(url({ name: p.name, raw }), base, `path ${p.name} ← ${b.name}`, `params.${p.name}`));
          }
        }
        // query parameters
        for (const p of params.filter((x) => x.in === 'query')) {
          fields++;
          for (const h of HOSTILE) jobs.push(() => send(`${url()}?${p.name}=${encodeLoose(h.value.slice(0, 2000))}`, base, `query ${p.name} ← ${h.name}`, h.illFormed ? `query.${p.name}` : undefined));
          for (const b of BAD_BYTES) {
            const raw = b.bytes.map((x) => '%' + x.toString(16).toUpperCase().padStart(2, '0')).join('');
            jobs.push(() => send(`${url()}?${p.name}=${raw}`, base, `query ${p.name} ← ${b.name}`, `query.${p.name}`));
          }
        }
        // JSON body fields and record keys
        const schema = op.requestBody?.content?.['application/json']?.schema;
        if (!schema) continue;
        const found = { strings: [] as Path[], records: [] as Path[] };
        schemaStringPaths(doc, schema, [], found);
        // the strings of the valid body too (inside manifests, certificates, quotes): a sample of them, evenly spread
        const all: Path[] = [];
        valueStringPaths(base, [], all);
        const fromValue = all.filter((_p, i) => i % Math.ceil(all.length / 24) === 0);
        const seen = new Set<string>();
        for (const p of [...found.strings, ...fromValue]) {
          const key = JSON.stringify(p);
          if (seen.has(key)) continue;
          seen.add(key);
          fields++;
          for (const h of hostileFor(fields)) jobs.push(() => send(url(), setAt(base, p, h.value), `${fieldName(p)} ← ${h.name}`, h.illFormed ? fieldName(p) : undefined));
          for (const b of windowOf(BAD_BYTES, fields, 2)) jobs.push(() => send(url(), withBadBytes(setAt(base, p, MARK), b.bytes), `${fieldName(p)} ← ${b.name}`, fieldName(p)));
        }
        for (const p of found.records) {
          fields++;
          for (const h of hostileFor(fields).filter((x) => x.value.length < 1000)) jobs.push(() => send(url(), setAt(base, p, h.value, true), `key of ${fieldName(p)} ← ${h.name}`, h.illFormed ? fieldName(p) : undefined));
        }
      }
    }

    // a few at a time: the server and its enclave share the machine with the test
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }));

    // headers, as raw bytes (a well-behaved client library refuses to send them): every answer is problem+json below 500
    const { port } = new URL(l.srv.url);
    const badHeaders: string[] = [];
    const headerValues: { name: string; bytes: Buffer }[] = [
      { name: 'NUL', bytes: Buffer.from('ab\u0000cd', 'latin1') },
      { name: 'U+0001', bytes: Buffer.from('ab\u0001cd', 'latin1') },
      { name: 'DEL', bytes: Buffer.from('ab\u007fcd', 'latin1') },
      { name: 'bytes 0xFF 0xFE', bytes: Buffer.from([0x61, 0xff, 0xfe]) },
      { name: 'UTF-8 数据', bytes: Buffer.from('数据-key-0001') },
      { name: 'very long', bytes: Buffer.alloc(6000, 0x61) },
      { name: 'empty', bytes: Buffer.alloc(0) },
    ];
    const topUpBody = JSON.stringify(bodies['top-up']);
    for (const v of headerValues) {
      const cases = [
        { what: 'Idempotency-Key', head: ['POST /v1/ledger/topups HTTP/1.1', `Authorization: Bearer ${l.operator.token}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(topUpBody)}`], header: 'Idempotency-Key', body: topUpBody },
        { what: 'Authorization', head: ['GET /v1/me HTTP/1.1'], header: 'Authorization', prefix: 'Bearer ', body: '' },
      ];
      for (const c of cases) {
        const head = Buffer.concat([
          Buffer.from(`${[...c.head, `Host: 127.0.0.1:${port}`, 'Connection: close'].join('\r\n')}\r\n${c.header}: ${c.prefix ?? ''}`),
          v.bytes,
          Buffer.from(`\r\n\r\n${c.body}`),
        ]);
        const r = await rawExchange(Number(port), head);
        requests++;
        if (r.status >= 500 || r.status === 0 || !/^application\/problem\+json/.test(r.type)) badHeaders.push(`${c.what} ← ${v.name} → ${r.status} ${r.type}`);
      }
    }

    // the SDK cannot send ill-formed text unnoticed: the refusal comes back as its typed error, naming the field
    const sdk = new OperatorClient({ url: l.srv.url, token: l.operator.token });
    for (const h of HOSTILE.filter((x) => x.illFormed)) {
      const e = await sdk.createOrg({ name: h.value }).then(() => null, (err: unknown) => err);
      expect(e, h.name).to.be.instanceOf(ShuyuApiError);
      expect((e as ShuyuApiError).status, h.name).to.equal(422);
      expect((e as ShuyuApiError).detail, h.name).to.match(/^body\.name: /);
    }

    console.log(`      hostile-string sweep: ${routes} routes, ${fields} fields, ${requests} requests, ${fivexx.length} 5xx, ${unnamed.length} not refused naming the field, ${badHeaders.length} headers answered otherwise`);
    expect(fivexx, fivexx.slice(0, 10).join('\n')).to.deep.equal([]);
    expect(badHeaders, badHeaders.join('\n')).to.deep.equal([]);
    expect(unnamed, unnamed.slice(0, 10).join('\n')).to.deep.equal([]);
  });
});
