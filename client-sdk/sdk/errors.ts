/**
 * Every non-2xx answer of the API, typed: the server speaks RFC 9457 problem+json, and `type` is its
 * stable problem URI (https://shuyu.local/problems/<slug>); `slug` is the last segment, which is what
 * code should switch on (e.g. `err.slug === 'insufficient-funds'`).
 */
export class ShuyuApiError extends Error {
  override readonly name = 'ShuyuApiError';
  readonly slug: string;

  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    readonly detail: string | undefined,
    /** the whole problem document, including extensions such as `errors` or `findings` */
    readonly problem: Record<string, unknown> = {},
  ) {
    super(detail ? `${title}: ${detail}` : title);
    this.slug = type.slice(type.lastIndexOf('/') + 1) || type;
  }
}

export const isShuyuApiError = (e: unknown): e is ShuyuApiError => e instanceof ShuyuApiError;
