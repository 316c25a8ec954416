import { expect } from 'chai';
import { liveServer, market, quoteAndSubmit, approve, waitForTrade, liveActor, sealTourism, blobsOf, offerInput, SPEND_BY_REGION, type Live, type Market, type SealedFixture } from '../server/fixture.js';
import { signApproval, certifyReviewer } from '../../contracts/review/approval.js';
import { withCommitment, type BundleManifest } from '../../formats/manifest.js';
import { verifyReceipt } from '../../formats/receipt.js';
import { sm2KeyPair, sm3Hex, sm2Fingerprint, sm2PublicKeyFromPem } from '../../crypto/index.js';
import type { RouteDef } from '../../server/http/route.js';
import type { Actor } from '../server/harness.js';
import { planted, plantRows } from './planted.js';
import { Rng, send, sendDeclared, rssOfTree, MiB, type Answer } from './lib.js';

/**
 * The seeded fuzz run: ≥ 10,000 malformed inputs across every route of THE route table and the
 * upload path — JSON bodies and raw text, path parameters and query strings, bundle manifests, ciphertext
 * blobs (bit flips, truncation, extension, wrong names, giant declared sizes, hostile SEAL payloads under a
 * valid commitment), restricted SQL and verify computations, approvals and reviewer certificates (signature
 * and statement tampering), receipts — against the real listening server with its forked enclave.
 * Passes when: 0 answers ≥ 500, every refusal is problem+json, no forged signature accepted, the server and
 * the enclave are alive after, and the resident memory the fuzz adds to the test process + enclave stays under a
 * fixed cap.
 */
const SEED = Number(process.env.SHUYU_FUZZ_SEED ?? 20261123);
const SCALE = Number(process.env.SHUYU_FUZZ_SCALE ?? 1);
/**
 * Fixed cap on what the fuzz adds to the resident memory of the test process (which hosts the server, its store
 * pool and HE workers) plus the forked enclave: growth, because a parallel run's worker arrives holding what the
 * test files before this one left in its heap.
 */
const RSS_GROWTH_CAP = 768 * MiB;
const CONCURRENCY = 6;

const NASTY: unknown[] = [
  null, true, false, 0, -1, 1.5, -0.0001, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, '', ' ', '0', 'null', '\u0000', '\ud800', '\u202e',
  'a'.repeat(5000), "'; DROP TABLE trades; --", '" OR 1=1 --', '../../../../etc/passwd', '%2e%2e%2f', '<script>alert(1)</script>',
  '${jndi:ldap://x}', '__proto__', 'constructor', '01a20000-0000-7000-8000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '2026-02-30T25:61:61Z', 'NaN', 'Infinity', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', {}, [], [[[[[]]]]], { __proto__: { admin: true } },
  { constructor: { prototype: { polluted: 1 } } }, Array.from({ length: 300 }, (_, i) => i), { kind: 'sql', query: 'SELECT 1' },
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function clone<T>(v: T): T {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** Every path into objects and arrays of a JSON value (including the root, as []). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (out.length > 400) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** 1–3 structural mutations: delete, replace with a nasty value, add an unknown field, swap type, duplicate. */
function mutate(rng: Rng, value: unknown): unknown {
  let v = clone(value) as Json;
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const ps = paths(v);
    const p = rng.pick(ps);
    const nasty = clone(rng.pick(NASTY)) as Json;
    if (p.length === 0) {
      if (rng.bool(0.3)) v = nasty;
      else if (v && typeof v === 'object' && !Array.isArray(v)) (v as Record<string, Json>)[rng.pick(['status', 'price', 'priceFen', 'state', 'role', 'orgId', 'x', '__proto__'])] = nasty;
      continue;
    }
    const parent = p.slice(0, -1).reduce<any>((o, k) => o[k], v);
    const key = p[p.length - 1]!;
    const op = rng.int(5);
    if (op === 0) {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (op === 1) parent[key] = nasty;
    else if (op === 2 && parent && typeof parent === 'object' && !Array.isArray(parent)) parent[`unknown_${rng.int(99)}`] = nasty;
    else if (op === 3) {
      const cur = parent[key];
      parent[key] = typeof cur === 'string' ? (rng.bool() ? Number(cur.length) : [cur]) : typeof cur === 'number' ? String(cur) : cur === null ? {} : typeof cur === 'object' ? JSON.stringify(cur) : null;
    } else {
      const cur = parent[key];
      parent[key] = typeof cur === 'string' ? cur + rng.pick(['x', '\u0000', '🙂', ' '.repeat(3), cur]) : typeof cur === 'number' ? cur * -1 - 1 : [cur, cur];
    }
  }
  return v;
}

/** Raw body text that is not what the route expects at the byte level. */
function rawMutant(rng: Rng, valid: unknown): { body: string | Buffer; type: string } {
  const text = JSON.stringify(valid ?? {});
  switch (rng.int(9)) {
    case 0:
      return { body: text.slice(0, rng.int(Math.max(1, text.length))), type: 'application/json' };
    case 1: {
      const b = Buffer.from(text);
      b[rng.int(b.length)] ^= 1 << rng.int(8);
      return { body: b, type: 'application/json' };
    }
    case 2:
      return { body: '\ufeff' + text, type: 'application/json' };
    case 3:
      return { body: text, type: rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream']) };
    case 4:
      return { body: text, type: rng.pick(['application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json; charset=ebcdic']) };
    case 5:
      return { body: '['.repeat(20_000 + rng.int(60_000)) + ']'.repeat(rng.bool() ? 0 : 1), type: 'application/json' };
    case 6:
      return { body: rng.pick(['', 'null', '0', '"x"', 'true', '[]', '{"a":1,"a":2}', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}']), type: 'application/json' };
    case 7:
      return { body: `{"pad":"${'x'.repeat(270 * 1024)}"}`, type: 'application/json' }; // over the 256 KiB JSON limit → 413
    default:
      return { body: rng.bytes(1 + rng.int(512)), type: 'application/json' };
  }
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) is sent as its raw, invalid UTF-8 bytes. */
function uriPart(v: string): string {
  try {
    return encodeURIComponent(v);
  } catch {
    return '%ED%A0%80';
  }
}

const GARBAGE_IDS = ['x', '1', '-1', '..%2F..%2Fetc%2Fpasswd', "1'%20OR%20'1'='1", '%00', 'null', 'undefined', '01A20000-0000-7000-8000-000000000000', '01a20000-0000-7000-8000-00000000000', 'a'.repeat(3000), '%F0%9F%99%82', '%ZZ', '01a20000-0000-7000-8000-000000000000%00'];

const SQL_PARTS = [
  'SELECT', 'region', 'COUNT(*)', 'SUM(spend)', 'AVG(nights)', 'visitor_id', 'hometown', 'FROM', 'dataset', 'WHERE', 'GROUP BY', 'HAVING', 'ORDER BY',
  'LIMIT 1', 'UNION SELECT', '*', ',', '(', ')', "'", '"', ';', '--', '/*', '*/', '=', '1=1', 'OR', 'AND', 'NOT', 'IN', 'LIKE', "'%a%'", 'sqlite_master',
  'ATTACH DATABASE', "'/etc/passwd'", 'AS x', 'PRAGMA', 'load_extension(', 'randomblob(1000000000)', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r)',
  'zeroblob(2000000000)', 'printf(', 'substr(', 'CASE WHEN', 'THEN', 'ELSE', 'END', 'JOIN', 'dataset d2', 'ON', 'MIN(spend)', 'MAX(spend)', '0x7fffffffffffffff', '1e999',
];
const SQL_SEEDS = [
  'SELECT region, COUNT(*) AS n, SUM(spend) AS total FROM dataset GROUP BY region',
  'SELECT region, AVG(nights) FROM dataset WHERE region IN (\'Dali\') GROUP BY region',
  'SELECT COUNT(*) FROM dataset',
  "SELECT visitor_id FROM dataset WHERE hometown = 'x'",
  'SELECT * FROM dataset',
  'SELECT SUM(spend) FROM dataset; DROP TABLE dataset',
  "SELECT region, SUM(spend) FROM dataset WHERE visitor_id = 'VIS-1' GROUP BY region",
  'SELECT name FROM sqlite_master',
  'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT COUNT(*) FROM r',
];

function sqlMutant(rng: Rng): string {
  if (rng.bool(0.4)) {
    const base = rng.pick(SQL_SEEDS);
    const cut = rng.int(base.length);
    return rng.bool() ? base.slice(0, cut) + rng.pick(SQL_PARTS) + ' ' + base.slice(cut) : base.slice(0, cut);
  }
  return Array.from({ length: 1 + rng.int(14) }, () => rng.pick(SQL_PARTS)).join(' ');
}

describe('security: seeded fuzz of every route and the upload path', function () {
  this.timeout(300_000);
  let l: Live;
  let m: Market;
  let base: string;
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  const perCategory = new Map<string, number>();
  let sent = 0;
  let peakRss = 0;
  let startRss = 0;
  let sampler: NodeJS.Timeout | null = null;

  const timeByRoute = new Map<string, [number, number]>();
  function record(category: string, label: string, a: Answer, opts: { mustRefuse?: boolean } = {}): void {
    sent++;
    const t = timeByRoute.get(label) ?? [0, 0];
    timeByRoute.set(label, [t[0] + 1, t[1] + (a.ms ?? 0)]);
    perCategory.set(category, (perCategory.get(category) ?? 0) + 1);
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    if (a.status >= 500 || a.status < 0) failures.push(`${category} ${label}: ${a.status} ${a.text.slice(0, 160)}`);
    else if (a.status >= 400 && !/^application\/problem\+json/.test(a.contentType)) failures.push(`${category} ${label}: ${a.status} not problem+json`);
    else if (opts.mustRefuse && a.status < 400) failures.push(`${category} ${label}: forged input accepted (${a.status})`);
  }

  /** Runs thunks with a fixed number in flight (inputs were generated sequentially from the seed). */
  async function pool(jobs: (() => Promise<void>)[]): Promise<void> {
    let i = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (i < jobs.length) await jobs[i++]!();
      }),
    );
  }

  before(async () => {
    l = await liveServer();
    base = l.srv.url;
    m = await market(l, { rows: 30, tag: 'fz' });
    plantRows(m.fixture.secrets);
    for (const a of [m.owner, m.buyer, m.reviewer]) planted.tokens.add(a.token);
    startRss = rssOfTree();
    peakRss = startRss;
    sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOfTree())), 200);
  });
  after(() => {
    if (sampler) clearInterval(sampler);
  });
  afterEach(() => console.log(`      RSS now ${(rssOfTree() / MiB).toFixed(0)} MiB, peak ${(peakRss / MiB).toFixed(0)} MiB; slowest: ${[...timeByRoute.entries()].sort((a, b) => b[1][1] - a[1][1]).slice(0, 5).map(([k, [n, ms]]) => `${k} ${n}× ${(ms / n).toFixed(0)} ms`).join(', ')}`));

  it('JSON bodies, raw bodies, path parameters and query strings on every route of the route table', async () => {
    const rng = new Rng(SEED);
    const routes = l.srv.app.routes;
    const policy = (await l.http().get('/v1/policy').set(m.buyer.auth)).body;
    const { trade } = await quoteAndSubmit(l, m);
    const cancelTrade = (await quoteAndSubmit(l, m)).trade;
    const upload = (await l.http().post('/v1/uploads').set(m.owner.auth).send({ title: 'fuzz upload', manifest: m.fixture.manifest })).body;
    const spareUpload = (await l.http().post('/v1/uploads').set(m.owner.auth).send({ title: 'fuzz spare', manifest: m.fixture.manifest })).body;
    const spareOffer = (await l.http().post(`/v1/datasets/${m.dataset.id}/offers`).set(m.owner.auth).send(offerInput())).body.offer;
    const quote = (await l.http().post(`/v1/offers/${m.offer.id}/quotes`).set(m.buyer.auth).send({ computation: SPEND_BY_REGION, purpose: { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' }, destination: 'CN' })).body;
    const actorFor = (r: RouteDef): Actor => {
      if (r.roles === 'public') return m.buyer;
      const role = r.roles[0]!;
      return role === 'operator' ? (l.operator as Actor) : role === 'owner' ? m.owner : role === 'buyer' ? m.buyer : m.reviewer;
    };
    const idFor = (r: RouteDef): string => {
      if (r.id === 'withdraw-offer' || r.id === 'revise-offer') return spareOffer.id;
      if (r.id === 'cancel-trade') return cancelTrade.id;
      if (r.id === 'abort-upload' || r.path.endsWith('/complete') || r.method === 'delete') return r.object?.resource === 'upload' ? spareUpload.id : upload.id;
      switch (r.object?.resource) {
        case 'dataset':
        case 'catalog-entry':
          return m.dataset.id;
        case 'offer':
          return m.offer.id;
        case 'trade':
          return trade.id;
        case 'upload':
          return upload.id;
        case 'user':
          return m.reviewer.userId;
        default:
          return m.dataset.id;
      }
    };
    const template = (r: RouteDef): unknown => {
      if (r.path === '/v1/orgs') return { name: 'Fuzz Org', region: 'CN' };
      if (r.path === '/v1/users') return { orgId: m.buyer.orgId, name: 'fuzz user', role: 'buyer' };
      if (r.path.endsWith('/tokens')) return { ttlDays: 30 };
      if (r.path === '/v1/me/key') return { publicKeyPem: m.buyer.keys!.publicKeyPem };
      if (r.path.endsWith('/certificate')) return { certificate: { statement: {}, signature: 'AA==' } };
      if (r.path === '/v1/uploads') return { title: 'fuzz', description: 'd', keywords: ['a'], manifest: m.fixture.manifest };
      if (r.path.endsWith('/offers') || r.path.endsWith('/versions')) return offerInput();
      if (r.path.endsWith('/quotes')) return { computation: SPEND_BY_REGION, purpose: { code: 'tourism-planning', statement: 'Plan visitor services' }, destination: 'CN' };
      if (r.path === '/v1/trades') return { quote, computation: SPEND_BY_REGION };
      if (r.path.endsWith('/cancel')) return { reason: 'no longer needed' };
      if (r.path.endsWith('/decision')) return { decision: 'approve', reason: 'aggregate only', approval: { statement: {}, signature: 'AA==' } };
      if (r.path === '/v1/ledger/topups') return { orgId: m.buyer.orgId, amountFen: 100, memo: 'fuzz' };
      if (r.path === '/v1/policy') return policy;
      return {};
    };
    const jobs: (() => Promise<void>)[] = [];
    const perRoute = Math.round(110 * SCALE);
    for (const r of routes) {
      if (r.rawBody) continue; // the blob path has its own generators below
      const who = actorFor(r);
      const id = idFor(r);
      const hasBody = r.method === 'post' || r.method === 'put';
      // big or whole-chain answers (enclave keys, OpenAPI, audit verification) get fewer, the rest the same share
      const n = r.path.startsWith('/v1/enclave') || r.path === '/v1/openapi.json' ? 10 : r.path.startsWith('/v1/audit') ? Math.round(perRoute / 4) : perRoute;
      for (let i = 0; i < n; i++) {
        const kind = hasBody ? rng.int(10) : 7 + rng.int(3);
        let path = r.path.replace(':id', id).replace(':hash', '0'.repeat(64));
        const headers: Record<string, string> = { ...who.auth, 'Idempotency-Key': `fz-${SEED}-${r.id}-${i}` };
        let body: string | Buffer | undefined;
        let category: string;
        if (kind < 6) {
          category = 'json-body';
          headers['Content-Type'] = 'application/json';
          // the policy route only ever gets refused shapes (a valid mutation would change the live policy)
          const b = mutate(rng, template(r));
          body = JSON.stringify(r.path === '/v1/policy' ? { ...(b as object), rules: 'not-a-list' } : b);
        } else if (kind < 7) {
          category = 'raw-body';
          const raw = rawMutant(rng, template(r));
          headers['Content-Type'] = raw.type;
          body = raw.body;
        } else if (kind < 8 && r.path.includes(':')) {
          category = 'path-param';
          path = r.path.replace(':id', rng.pick(GARBAGE_IDS)).replace(':hash', rng.pick([...GARBAGE_IDS, 'G'.repeat(64), '0'.repeat(63)]));
          if (hasBody) {
            headers['Content-Type'] = 'application/json';
            body = JSON.stringify(template(r));
          }
        } else {
          category = 'query';
          const q = Array.from({ length: 1 + rng.int(4) }, () => {
            const k = rng.pick(['limit', 'cursor', 'sector', 'q', 'level', 'orgId', 'state', 'limit[]', '__proto__', 'rows', 'after', 'x'.repeat(300)]);
            const v = String(rng.pick(NASTY.filter((x) => typeof x !== 'object')) ?? '');
            return `${encodeURIComponent(k)}=${uriPart(v)}`;
          });
          if (rng.bool(0.2)) q.push('limit=1&limit=2');
          path += '?' + q.join('&');
          if (hasBody) {
            headers['Content-Type'] = 'application/json';
            body = JSON.stringify(template(r));
          }
        }
        const label = `${r.method.toUpperCase()} ${r.path}`;
        jobs.push(async () => record(category, label, await send(base, r.method, path, headers, body)));
      }
    }
    await pool(jobs);
    // the live policy is unchanged by the fuzz
    expect((await l.http().get('/v1/policy').set(m.buyer.auth)).body).to.deep.equal(policy);
    expect(failures.slice(0, 15), failures.slice(0, 15).join('\n')).to.deep.equal([]);
  });

  it('the upload path: manifests, blobs (bit flips, truncation, wrong names, giant sizes) and hostile ciphertexts under a valid commitment', async () => {
    const rng = new Rng(SEED + 1);
    const f: SealedFixture = await sealTourism(l, 20, 'fzu');
    const blobs = blobsOf(f);
    const jobs: (() => Promise<void>)[] = [];
    const owner = m.owner.auth;
    // manifests
    for (let i = 0; i < Math.round(600 * SCALE); i++) {
      const body = { title: 'fuzzed manifest', manifest: mutate(rng, f.manifest) };
      jobs.push(async () => {
        const a = await send(base, 'post', '/v1/uploads', { ...owner, 'Content-Type': 'application/json' }, JSON.stringify(body));
        record('manifest', 'POST /v1/uploads', a);
        if (a.status === 201) {
          // an accepted (structurally valid) manifest: clean up so it does not linger
          const id = JSON.parse(a.text).id as string;
          record('manifest', 'DELETE /v1/uploads/:id', await send(base, 'delete', `/v1/uploads/${id}`, owner));
        }
      });
    }
    await pool(jobs.splice(0));
    // blobs against one open upload of the real manifest
    const up = (await l.http().post('/v1/uploads').set(owner).send({ title: 'fuzz blobs', manifest: f.manifest })).body;
    for (let i = 0; i < Math.round(500 * SCALE); i++) {
      const b = rng.pick(blobs);
      let bytes: Buffer = Buffer.from(b.bytes);
      let name = b.hash;
      let type = 'application/octet-stream';
      switch (rng.int(6)) {
        case 0:
          for (let k = 0; k <= rng.int(4); k++) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8);
          break;
        case 1:
          bytes = bytes.subarray(0, rng.int(bytes.length));
          break;
        case 2:
          bytes = Buffer.concat([bytes, rng.bytes(1 + rng.int(64))]);
          break;
        case 3:
          name = rng.pick([sm3Hex(rng.bytes(8)), rng.pick(blobs).hash, b.hash.toUpperCase(), b.hash.slice(1), '../' + b.hash.slice(3)]);
          if (name === b.hash) bytes = rng.bytes(bytes.length);
          break;
        case 4:
          type = rng.pick(['application/json', 'text/plain', '']);
          bytes = rng.bytes(rng.int(2048));
          break;
        default:
          bytes = rng.bytes(rng.int(4096));
      }
      const path = `/v1/uploads/${up.id}/blobs/${encodeURIComponent(name).replace(/%2F/g, '/')}`;
      const headers: Record<string, string> = { ...owner, ...(type ? { 'Content-Type': type } : {}) };
      jobs.push(async () => record('blob', 'PUT blob', await send(base, 'put', path, headers, bytes)));
    }
    // giant declared sizes: refused from the headers, without reading (or waiting for) the body
    for (let i = 0; i < 20; i++) {
      const b = rng.pick(blobs);
      const declared = rng.pick([2 ** 31, 2 ** 40, 8 * 1024 * 1024 + 1, Number.MAX_SAFE_INTEGER]);
      jobs.push(async () => record('blob-giant', 'PUT blob (giant Content-Length)', await sendDeclared(base, 'PUT', `/v1/uploads/${up.id}/blobs/${b.hash}`, { ...owner, 'Content-Type': 'application/octet-stream' }, declared, b.bytes.subarray(0, 64))));
      jobs.push(async () => record('json-giant', 'POST /v1/uploads (giant Content-Length)', await sendDeclared(base, 'POST', '/v1/uploads', { ...owner, 'Content-Type': 'application/json' }, declared, Buffer.from('{"title":"'))));
    }
    await pool(jobs.splice(0));
    // completing with blobs missing or corrupt is refused and leaves no dataset
    record('complete', 'POST complete (missing blobs)', await send(base, 'post', `/v1/uploads/${up.id}/complete`, owner));
    // hostile ciphertexts under a VALID commitment: the owner re-hashes the manifest, so only the enclave's
    // checked SEAL load can tell (random bytes, truncated, zero-length header, a SEAL header declaring a giant size)
    const heChunks = (f.manifest.chunks as { kind: string; sm3: string; size: number }[]).filter((c) => c.kind === 'he');
    const rowChunks = (f.manifest.chunks as { kind: string; sm3: string; size: number }[]).filter((c) => c.kind === 'rows');
    const hostile: ((b: Buffer) => Buffer)[] = [
      (b) => rng.bytes(b.length),
      (b) => b.subarray(0, b.length >> 1),
      (b) => Buffer.concat([b.subarray(0, 16), Buffer.alloc(4096)]),
      (b) => {
        const x = Buffer.from(b);
        x.writeBigUInt64LE(2n ** 40n, 8); // SEAL header: declared size far beyond the bytes (decompression bomb)
        return x;
      },
      (b) => {
        const x = Buffer.from(b);
        x[3] ^= 0xff; // header version / compression mode byte
        return x;
      },
      (b) => {
        const x = Buffer.from(b);
        for (let k = 16; k < x.length; k += 97) x[k] ^= 0x5a; // compressed stream corrupted everywhere
        return x;
      },
    ];
    const datasetsBefore = (await l.http().get('/v1/datasets').set(owner)).body.items.length;
    let hostileAccepted = 0;
    const acceptedKinds: string[] = [];
    for (let i = 0; i < hostile.length * 2; i++) {
      const target = i < hostile.length ? rng.pick(heChunks) : rng.pick(rowChunks.length ? rowChunks : heChunks);
      const original = blobs.find((b) => b.hash === target.sm3)!;
      const evil = hostile[i % hostile.length]!(original.bytes);
      const evilHash = sm3Hex(evil);
      const { commitment: _c, ...body } = clone(f.manifest) as BundleManifest;
      const chunks = body.chunks.map((c) => (c.sm3 === target.sm3 ? { ...c, sm3: evilHash, size: evil.length } : c));
      const manifest = withCommitment({ ...body, bundleId: crypto.randomUUID(), chunks } as never);
      const u = await send(base, 'post', '/v1/uploads', { ...owner, 'Content-Type': 'application/json' }, JSON.stringify({ title: `hostile ${i}`, manifest }));
      record('hostile-bundle', 'POST /v1/uploads', u);
      if (u.status !== 201) continue;
      const id = JSON.parse(u.text).id as string;
      for (const c of chunks) {
        const bytes = c.sm3 === evilHash ? evil : blobs.find((b) => b.hash === c.sm3)!.bytes;
        record('hostile-bundle', 'PUT blob', await send(base, 'put', `/v1/uploads/${id}/blobs/${c.sm3}`, { ...owner, 'Content-Type': 'application/octet-stream' }, bytes));
      }
      const done = await send(base, 'post', `/v1/uploads/${id}/complete`, owner);
      record('hostile-bundle', 'POST complete', done);
      if (done.status < 300) {
        hostileAccepted++;
        acceptedKinds.push(`${i < hostile.length ? 'he' : 'rows'}#${i % hostile.length}`);
      }
    }
    console.log(`      hostile bundles with a valid commitment accepted at upload: ${hostileAccepted}/${hostile.length * 2} ${JSON.stringify(acceptedKinds)} (HE ciphertexts: the enclave's checked SEAL load; row chunks: the enclave opens every one before publication)`);
    // every hostile HE ciphertext and every hostile row chunk is refused by the enclave before the dataset becomes visible
    expect(acceptedKinds).to.deep.equal([]);
    expect((await l.http().get('/v1/datasets').set(owner)).body.items.length - datasetsBefore).to.equal(hostileAccepted);
    expect(failures.slice(0, 15), failures.slice(0, 15).join('\n')).to.deep.equal([]);
  });

  it('computations: restricted SQL, verify and aggregate requests through quotes', async () => {
    const rng = new Rng(SEED + 2);
    const jobs: (() => Promise<void>)[] = [];
    const purpose = { code: 'tourism-planning', statement: 'Plan visitor services across Yunnan regions' };
    for (let i = 0; i < Math.round(1200 * SCALE); i++) {
      let computation: unknown;
      const k = rng.int(10);
      if (k < 6) computation = { kind: 'sql', query: sqlMutant(rng) };
      else if (k < 8) computation = mutate(rng, { kind: 'verify', match: { visitor_id: 'VIS-1', hometown: 'x' }, perAttribute: true });
      else computation = mutate(rng, SPEND_BY_REGION);
      const body = JSON.stringify({ computation, purpose, destination: rng.pick(['CN', 'DE', 'US', 'XX', '']) });
      jobs.push(async () => record('computation', 'POST quote', await send(base, 'post', `/v1/offers/${m.offer.id}/quotes`, { ...m.buyer.auth, 'Content-Type': 'application/json' }, body)));
    }
    await pool(jobs);
    expect(failures.slice(0, 15), failures.slice(0, 15).join('\n')).to.deep.equal([]);
  });

  it('signatures: tampered approvals and reviewer certificates are refused, never accepted', async () => {
    const rng = new Rng(SEED + 3);
    const { trade } = await quoteAndSubmit(l, m);
    const c = await l.http().get(`/v1/reviews/${trade.id}`).set(m.reviewer.auth);
    const now = Date.now();
    const statement = { ...c.body.approvalTemplate, decidedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3600_000).toISOString() };
    const good = signApproval(statement, m.reviewer.keys!.privateKey);
    const stranger = sm2KeyPair();
    const forgeries: unknown[] = [];
    for (let i = 0; i < Math.round(300 * SCALE); i++) {
      const k = rng.int(5);
      if (k === 0) {
        const der = Buffer.from(good.signature, 'base64');
        der[rng.int(der.length)] ^= 1 << rng.int(8);
        forgeries.push({ ...good, signature: der.toString('base64') });
      } else if (k === 1) {
        const der = Buffer.from(good.signature, 'base64');
        forgeries.push({ ...good, signature: rng.bool() ? der.subarray(0, rng.int(der.length)).toString('base64') : Buffer.concat([der, rng.bytes(1 + rng.int(8))]).toString('base64') });
      } else if (k === 2) {
        const s2 = mutate(rng, statement) as Record<string, unknown>;
        if (JSON.stringify(s2) === JSON.stringify(statement)) continue;
        forgeries.push({ ...good, statement: s2 });
      } else if (k === 3) {
        forgeries.push(signApproval(statement, stranger.privateKey));
      } else forgeries.push(mutate(rng, good));
    }
    for (const approval of forgeries) {
      if (JSON.stringify(approval) === JSON.stringify(good)) continue;
      const a = await send(base, 'post', `/v1/reviews/${trade.id}/decision`, { ...m.reviewer.auth, 'Content-Type': 'application/json' }, JSON.stringify({ decision: 'approve', reason: 'approved after checks', approval }));
      record('approval', 'POST decision (tampered approval)', a, { mustRefuse: true });
    }
    expect((await l.http().get(`/v1/trades/${trade.id}`).set(m.buyer.auth)).body.state).to.equal('under_review');
    // reviewer certificates for a fresh reviewer: tampered or signed by anyone but the operator
    const fresh = await liveActor(l, 'reviewer');
    const certStatement = {
      type: 'shuyu.reviewer-cert.v1', reviewerId: fresh.userId, orgId: fresh.orgId, publicKeyPem: fresh.keys!.publicKeyPem, fingerprint: fresh.keys!.fingerprint,
      issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(now + 86_400_000).toISOString(),
    };
    const realCert = certifyReviewer(certStatement as never, l.operator.privateKey);
    for (let i = 0; i < Math.round(200 * SCALE); i++) {
      let cert: unknown;
      const k = rng.int(3);
      if (k === 0) cert = certifyReviewer(certStatement as never, stranger.privateKey);
      else if (k === 1) {
        const der = Buffer.from(realCert.signature, 'base64');
        der[rng.int(der.length)] ^= 1 << rng.int(8);
        cert = { ...realCert, signature: der.toString('base64') };
      } else {
        cert = mutate(rng, realCert);
        if (JSON.stringify(cert) === JSON.stringify(realCert)) continue;
      }
      const a = await send(base, 'put', `/v1/users/${fresh.userId}/certificate`, { ...l.operator.auth, 'Content-Type': 'application/json' }, JSON.stringify({ certificate: cert }));
      // a mutation of the certificate's envelope (an extra unknown field) may still carry the operator's valid signature
      const stillValid = JSON.stringify((cert as { statement?: unknown }).statement) === JSON.stringify(realCert.statement) && (cert as { signature?: unknown }).signature === realCert.signature;
      record('certificate', 'PUT certificate (tampered)', a, { mustRefuse: !stillValid });
    }
    expect(failures.slice(0, 15), failures.slice(0, 15).join('\n')).to.deep.equal([]);
  });

  it('receipts: tampered receipts of a delivered trade never verify and never throw', async () => {
    const rng = new Rng(SEED + 4);
    const { trade } = await quoteAndSubmit(l, m);
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'delivered'], 90_000);
    const receipt = (await l.http().get(`/v1/trades/${trade.id}/result`).set(m.buyer.auth)).body.receipt;
    const pinned = l.enclaveInfo.signing?.publicKeyPem ?? receipt.publicKeyPem;
    expect(verifyReceipt(receipt, { pinnedPublicKeyPem: pinned }).valid).to.equal(true);
    let tried = 0;
    let accepted = 0;
    let threw = 0;
    const oddities: string[] = [];
    const sameKey = (pem: unknown): boolean => {
      try {
        return sm2Fingerprint(sm2PublicKeyFromPem(pem as string)) === sm2Fingerprint(sm2PublicKeyFromPem(receipt.publicKeyPem));
      } catch {
        return false;
      }
    };
    const diffOf = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      b === null || typeof b !== 'object' ? b : Object.fromEntries(Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).map((k) => [k, b[k]]));
    for (let i = 0; i < Math.round(2400 * SCALE); i++) {
      let r: Record<string, unknown>;
      const k = rng.int(4);
      if (k === 0) {
        const p = Buffer.from(receipt.payload as string);
        p[rng.int(p.length)] ^= 1 << rng.int(7);
        r = { ...receipt, payload: p.toString('utf8') };
      } else if (k === 1) {
        const der = Buffer.from(receipt.signature, 'base64');
        der[rng.int(der.length)] ^= 1 << rng.int(8);
        r = { ...receipt, signature: der.toString('base64') };
      } else if (k === 2) {
        const payload = JSON.parse(receipt.payload);
        payload.result = mutate(rng, payload.result);
        r = { ...receipt, payload: JSON.stringify(payload) };
      } else r = mutate(rng, receipt) as Record<string, unknown>;
      if (JSON.stringify(r) === JSON.stringify(receipt)) continue;
      tried++;
      sent++;
      perCategory.set('receipt', (perCategory.get('receipt') ?? 0) + 1);
      // a change outside payload/signature/key (an extra envelope field, whitespace after the PEM) does not change what was signed
      const sameSigned = r !== null && typeof r === 'object' && r.payload === receipt.payload && r.signature === receipt.signature && sameKey(r.publicKeyPem);
      try {
        const v = verifyReceipt(r, { pinnedPublicKeyPem: pinned });
        if (v.valid && !sameSigned) {
          accepted++;
          if (oddities.length < 5) oddities.push(`verified: ${JSON.stringify(diffOf(receipt, r)).slice(0, 300)}`);
        }
      } catch (e) {
        threw++;
        if (oddities.length < 5) oddities.push(`threw ${String(e).slice(0, 200)} on ${JSON.stringify(diffOf(receipt, r)).slice(0, 300)}`);
      }
    }
    console.log(`      tampered receipts: ${tried} tried, ${accepted} verified, ${threw} threw`);
    expect(oddities, oddities.join('\n')).to.deep.equal([]);
    expect(accepted).to.equal(0);
    expect(threw).to.equal(0);
  });

  it('totals: ≥ 10,000 inputs, 0 answers ≥ 500, server and enclave alive, memory growth under the cap', async () => {
    const health = await l.http().get('/v1/health');
    expect(health.status).to.equal(200);
    const hist = Object.fromEntries([...statuses.entries()].sort((a, b) => a[0] - b[0]));
    const five = [...statuses.entries()].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0);
    console.log(`      fuzz seed ${SEED}: ${sent} inputs ${JSON.stringify(Object.fromEntries(perCategory))}`);
    console.log(`      statuses ${JSON.stringify(hist)}; 5xx: ${five}; RSS (test process hosting the server + enclave) start ${(startRss / MiB).toFixed(0)} MiB, peak ${(peakRss / MiB).toFixed(0)} MiB (+${((peakRss - startRss) / MiB).toFixed(0)} MiB, cap +${RSS_GROWTH_CAP / MiB} MiB)`);
    expect(five).to.equal(0);
    expect(failures, failures.slice(0, 10).join('\n')).to.deep.equal([]);
    expect(sent).to.be.at.least(10_000 * Math.min(1, SCALE));
    expect(peakRss - startRss).to.be.below(RSS_GROWTH_CAP);
  });
});
