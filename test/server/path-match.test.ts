import { expect } from 'chai';
import fc from 'fast-check';
import { Router, type Request, type Response } from 'express';
import { compilePath, matchPath, pathSegments } from '../../server/http/path-match.js';

/**
 * server/http/path-match.ts must place a request exactly where express's router would: same route (table
 * order, method, HEAD → GET), same decoded parameters, the same 400 URIError for a malformed encoding, and
 * "not mine" (left to express) for any URL whose pathname express would read differently.
 */
const TABLE: [string, string][] = [
  ['get', '/v1/catalog'],
  ['get', '/v1/catalog/:id'],
  ['get', '/v1/catalog/:id/sample'],
  ['post', '/v1/offers/:id/quotes'],
  ['get', '/v1/offers/:id'],
  ['put', '/v1/users/:id/certificate'],
  ['delete', '/v1/uploads/:id'],
  ['put', '/v1/uploads/:id/blobs/:hash'],
  ['get', '/v1/policy/versions/:policyId/:version'],
  ['get', '/v1/openapi.json'],
];

type Outcome = { route: number; params: Record<string, string> } | { error: string; status?: number } | null;

function viaExpress(method: string, url: string): Promise<Outcome> {
  const router = Router();
  TABLE.forEach(([m, p], i) => (router as unknown as Record<string, (p: string, h: (req: Request) => void) => void>)[m]!(p, (req) => done({ route: i, params: { ...req.params } as Record<string, string> })));
  let done!: (o: Outcome) => void;
  const out = new Promise<Outcome>((r) => (done = r));
  const req = { method, url, headers: {} } as unknown as Request;
  const res = { setHeader() {}, end() {} } as unknown as Response;
  router(req, res, (err?: unknown) => done(err ? { error: (err as Error).message, status: (err as { status?: number }).status } : null));
  return out;
}

const compiled = TABLE.map(([m, p]) => ({ method: m.toUpperCase(), pattern: compilePath(p)! }));
function direct(method: string, url: string): Outcome | 'not-mine' {
  const segments = pathSegments(url);
  if (!segments) return 'not-mine';
  const want = method === 'HEAD' ? 'GET' : method;
  try {
    for (let i = 0; i < compiled.length; i++) {
      const params = matchPath(compiled[i]!.pattern, segments);
      if (params && compiled[i]!.method === want) return { route: i, params: { ...params } };
    }
  } catch (err) {
    return { error: (err as Error).message, status: (err as { status?: number }).status };
  }
  return null;
}

describe('server: direct route matching agrees with express (issue 9)', function () {
  it('compiles every path of the route table', () => {
    for (const [, p] of TABLE) expect(compilePath(p), p).to.not.equal(null);
    expect(compilePath('/v1/x/*rest')).to.equal(null);
  });

  it('known cases: case, trailing slash, HEAD, encodings, query strings', async () => {
    const cases: [string, string][] = [
      ['GET', '/v1/catalog'], ['GET', '/V1/Catalog/'], ['HEAD', '/v1/catalog?q=x'], ['GET', '/v1/catalog//'],
      ['GET', '/v1/catalog/%E6%95%B0/sample'], ['GET', '/v1/catalog/%ZZ'], ['POST', '/v1/catalog/%ZZ'],
      ['POST', '/v1/offers/a%2Fb/quotes'], ['GET', '/v1/openapi.json'], ['GET', '/v1/openapiXjson'],
      ['GET', '/v1/policy/versions/p/7/'], ['PUT', '/v1/uploads/u/blobs/'], ['DELETE', '/v1/uploads/u?x=/y'],
    ];
    for (const [m, u] of cases) {
      const d = direct(m, u);
      if (d !== 'not-mine') expect(d, `${m} ${u}`).to.deep.equal(await viaExpress(m, u));
    }
    expect(direct('GET', '/v1/catalog#x')).to.equal('not-mine');
    expect(direct('GET', 'http://host/v1/catalog')).to.equal('not-mine');
  });

  it('random paths built from the table, with noise, case changes and percent-encodings: same outcome', async () => {
    const piece = fc.oneof(
      fc.constantFrom('v1', 'V1', 'catalog', 'CATALOG', 'offers', 'quotes', 'sample', 'uploads', 'blobs', 'users', 'certificate', 'policy', 'versions', 'openapi.json', 'x', ''),
      fc.constantFrom('%41', '%zz', '%', '%E6%95', '%E6%95%B0', '%2F', '..', '.', '~a', 'a-b_c', '%00', ';', ':id'),
      fc.stringMatching(/^[A-Za-z0-9%._~:@!$&'()*+,;=-]{1,6}$/),
    );
    const url = fc.tuple(fc.array(piece, { minLength: 0, maxLength: 6 }), fc.boolean(), fc.constantFrom('', '?q=1', '?a=/b', '?'))
      .map(([parts, slash, q]) => '/' + parts.join('/') + (slash ? '/' : '') + q);
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE');
    await fc.assert(
      fc.asyncProperty(method, url, async (m, u) => {
        const d = direct(m, u);
        if (d === 'not-mine') return;
        expect(d, `${m} ${u}`).to.deep.equal(await viaExpress(m, u));
      }),
      { numRuns: 3000, seed: 20261123 },
    );
  });
});
