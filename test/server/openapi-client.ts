import createClient, { type Middleware } from 'openapi-fetch';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/**
 * A client made from the served OpenAPI document (openapi-fetch) that checks every answer against the
 * document: the status must be declared for the operation, and the body must validate (ajv, JSON Schema
 * 2020-12) against the schema declared for that status and content type.
 */
type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };
type Operation = { operationId: string; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };

export interface Answer {
  operationId: string;
  method: string;
  path: string;
  status: number;
  declared: boolean;
  errors: string[];
}

/** openapi-fetch's client with the paths left open (the document is read at run time, not generated here). */
export interface FetchAnswer {
  data?: any;
  error?: any;
  response: Response;
}
type Call = (path: string, init?: Record<string, unknown>) => Promise<FetchAnswer>;
export interface LooseClient {
  GET: Call;
  POST: Call;
  PUT: Call;
  DELETE: Call;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export class ContractChecker {
  readonly answers: Answer[] = [];
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly doc: Doc, readonly baseUrl: string) {
    // strict off: the document's own keywords (paths, x-roles…) sit beside the schemas; zod's regexes are not all /u-safe
    this.ajv = new Ajv2020({ strict: false, allErrors: true, unicodeRegExp: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema(doc, 'openapi.json');
  }

  operations(): { operationId: string; method: string; path: string }[] {
    return Object.entries(this.doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ operationId: op.operationId, method, path })));
  }

  private validator(ref: string): ValidateFunction {
    let v = this.compiled.get(ref);
    if (!v) this.compiled.set(ref, (v = this.ajv.compile({ $ref: `openapi.json${ref}` })));
    return v;
  }

  /** Checks one answer of `method schemaPath` against the document. */
  async check(method: string, schemaPath: string, response: Response): Promise<Answer> {
    const op = this.doc.paths[schemaPath]?.[method.toLowerCase()];
    const answer: Answer = { operationId: op?.operationId ?? '?', method, path: schemaPath, status: response.status, declared: false, errors: [] };
    if (!op) {
      answer.errors.push(`no operation ${method} ${schemaPath} in the document`);
      return this.record(answer);
    }
    const declared = op.responses[String(response.status)];
    answer.declared = declared !== undefined;
    const r = declared ?? (response.status >= 400 ? op.responses.default : undefined);
    if (!r) {
      answer.errors.push(`status ${response.status} is not declared`);
      return this.record(answer);
    }
    const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const text = await response.clone().text();
    if (!r.content) {
      if (text !== '') answer.errors.push(`status ${response.status} declares no body, got ${text.slice(0, 80)}`);
      return this.record(answer);
    }
    const media = r.content[type];
    if (!media) {
      answer.errors.push(`content type ${type} is not declared for ${response.status} (declared: ${Object.keys(r.content).join(', ')})`);
      return this.record(answer);
    }
    if (!type.endsWith('json')) return this.record(answer);
    if (!media.schema.$ref) {
      answer.errors.push('a JSON answer whose schema is not a component');
      return this.record(answer);
    }
    const v = this.validator(media.schema.$ref);
    if (!v(JSON.parse(text))) {
      answer.errors.push(...(v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`));
    }
    return this.record(answer);
  }

  private record(a: Answer): Answer {
    this.answers.push(a);
    return a;
  }

  /** A client of the document for one caller; every answer it gets is checked. */
  client(auth: Record<string, string> = {}): LooseClient {
    const c = createClient<any>({ baseUrl: this.baseUrl, headers: auth });
    const checker: Middleware = {
      onResponse: async ({ request, response, schemaPath }) => {
        await this.check(request.method, schemaPath, response);
        return undefined;
      },
    };
    c.use(checker);
    return c as unknown as LooseClient;
  }
}
