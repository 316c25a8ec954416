import type { Request, Response } from 'express';
import type { z } from 'zod';

/** Roles of a user (one per user). */
export const ROLES = ['owner', 'buyer', 'reviewer', 'operator'] as const;
export type RoleName = (typeof ROLES)[number];

export interface Principal {
  userId: string;
  orgId: string;
  role: RoleName;
  name: string;
  tokenId: string;
}

/**
 * Objects a route can address by id. Each kind has a loader (server/api/resources.ts) that returns the
 * organisations the object belongs to; the router refuses (404) an object of another organisation
 * unless the route's scope lets the caller's role see every organisation's objects.
 */
export const RESOURCE_KINDS = ['dataset', 'upload', 'offer', 'trade', 'user', 'catalog-entry'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export type Scope = 'org' | 'all';

export interface ObjectRule {
  resource: ResourceKind;
  /** Path parameter holding the object's id. */
  param: string;
  /** Per role: 'org' = only objects of the caller's organisation(s); 'all' = any. Default: operator 'all', others 'org'. */
  scope?: Partial<Record<RoleName, Scope>>;
}

export interface HandlerCtx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal | null;
  /** The object named by the route's ObjectRule, already checked for ownership. */
  object: unknown;
  idempotencyKey: string | null;
  req: Request;
  res: Response;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Already streamed by the handler (e.g. blob download). */
  streamed?: boolean;
}

// A route table mixes routes of different parameter, query and body types; each handler is typed by its route.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface RouteDef<P = any, Q = any, B = any> {
  /** Stable operation id (OpenAPI operationId, metrics label, idempotency scope). */
  id: string;
  method: 'get' | 'post' | 'put' | 'delete';
  /** Express path, e.g. /v1/datasets/:id */
  path: string;
  summary: string;
  /** 'public' = no token needed. */
  roles: readonly RoleName[] | 'public';
  object?: ObjectRule;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Raw request body (streamed by the handler), with its content type for OpenAPI. */
  rawBody?: { contentType: string };
  /** Successful responses: status → schema. */
  responses: Record<number, z.ZodType>;
  /** A successful answer the handler streams itself (not JSON), for OpenAPI. */
  rawResponse?: { status?: number; contentType: string };
  /**
   * Problem types (DomainError slugs) this route's own logic can answer, for OpenAPI; the ones every route
   * of its kind can answer (authentication, validation, ownership, idempotency, limits) are added there.
   */
  problems?: readonly string[];
  /** OpenAPI tag (area); by default the area of the path's first segment after /v1. */
  tags?: readonly string[];
  /** Longer OpenAPI description, when the summary is not enough. */
  description?: string;
  /** POSTs that move money or privacy budget: an Idempotency-Key header is required. */
  idempotent?: boolean;
  /** Long-running (uploads): no per-request timeout beyond the server's own. */
  longRunning?: boolean;
  handler: (ctx: HandlerCtx<P, Q, B>) => Promise<HandlerResult> | HandlerResult;
  /**
   * Successful answers served from a cache (server/http/response-cache.ts) until `version()` moves.
   * Only for routes whose answer depends on nothing but `key`'s parts and data `version()` covers:
   * the caller is NOT part of the key unless key() puts it there. Authentication, the role check,
   * rate limiting and validation of the request still run on every request.
   */
  cache?: { version(): Promise<number | string> | number | string; key(ctx: { params: P; query: Q; principal: Principal | null }): string };
}

/** Identity function that keeps the handler's parameter types inferred from the schemas. */
export function defineRoute<P, Q, B>(r: RouteDef<P, Q, B>): RouteDef<P, Q, B> {
  return r;
}

export function scopeFor(rule: ObjectRule, role: RoleName): Scope {
  return rule.scope?.[role] ?? (role === 'operator' ? 'all' : 'org');
}
