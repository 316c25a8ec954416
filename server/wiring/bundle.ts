import { DomainError } from '../../contracts/errors.js';
import { BundleManifest, manifestCommitment } from '../../enclave/format/manifest.js';
import { sm3Hex } from '../../enclave/crypto/index.js';
import type { BundlePort, ManifestFacts } from '../datasets/bundle-port.js';
import { issuesToErrors } from '../http/validation.js';

/** The bundle format as the server sees it: C's manifest schema and commitment, one implementation. */
export function parseManifest(manifest: unknown): ManifestFacts {
  const r = BundleManifest.safeParse(manifest);
  if (!r.success) {
    const errs = issuesToErrors(r.error.issues, 'manifest');
    throw new DomainError('bundle-invalid', `the manifest is not a shuyu.bundle.v1 manifest: ${errs.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  }
  const m = r.data;
  const expected = manifestCommitment(m);
  if (expected !== m.commitment) {
    throw new DomainError('bundle-invalid', `the manifest's commitment ${m.commitment} does not match its content (${expected}): it was altered after sealing`);
  }
  return {
    schema: m.schema,
    rowCount: m.rowCount,
    commitment: m.commitment,
    blobs: m.chunks.map((c) => ({ hash: c.sm3, size: c.size, kind: c.kind })),
  };
}

type VerifyFn = (manifest: unknown, getBlob: (hash: string) => Promise<Uint8Array>) => Promise<unknown> | unknown;

/** C's verifyBundle when present (structure of every blob); otherwise hash and size of every blob. */
async function loadVerify(): Promise<VerifyFn | null> {
  try {
    const mod = (await import('../../enclave/format/verify.js' as string)) as { verifyBundle?: VerifyFn };
    return mod.verifyBundle ?? null;
  } catch {
    return null;
  }
}

export function createBundlePort(): BundlePort {
  let verify: Promise<VerifyFn | null> | null = null;
  return {
    parseManifest,
    async verifyBundle(manifest, getBlob) {
      const facts = parseManifest(manifest);
      for (const b of facts.blobs) {
        const bytes = await getBlob(b.hash);
        if (bytes.length !== b.size || sm3Hex(bytes) !== b.hash) throw new DomainError('bundle-invalid', `blob ${b.hash} does not match its manifest entry`);
      }
      verify ??= loadVerify();
      const fn = await verify;
      if (fn) {
        const out = (await fn(manifest, getBlob)) as { ok?: boolean; reason?: string; errors?: unknown } | undefined;
        if (out && typeof out === 'object' && out.ok === false) {
          throw new DomainError('bundle-invalid', String(out.reason ?? JSON.stringify(out.errors ?? 'verification failed')));
        }
      }
    },
  };
}
