/**
 * The one error type of the domain. `type` is a stable slug: the server turns it into the
 * problem+json `type` (https://shuyu.local/problems/<type>) and picks the HTTP status from
 * server/http/problems.ts, so renaming a slug is a breaking API change.
 */
export class DomainError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
