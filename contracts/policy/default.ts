import raw from './default-policy.json' with { type: 'json' };
import { PolicyDocument } from './schema.js';

/** The default negative list shipped with Shuyu (documented rule by rule in docs/negative-list.md). */
export const DEFAULT_POLICY: PolicyDocument = PolicyDocument.parse(raw);
