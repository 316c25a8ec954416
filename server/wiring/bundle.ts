import { DomainError } from '../../contracts/errors.js';
import { BundleManifest, manifestCommitment } from '../../enclave/format/manifest.js';
import { verifyBundle, type VerifyBundleOptions } from '../../enclave/format/verify.js';
import type { BundlePort, ManifestFacts } from '../datasets/bundle-port.js';
import { issuesToErrors } from '../http/validation.js';

/** The bundle format as the server sees it: C's manifest schema, commitment and verifier — one implementation. */
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

/**
 * `expected` gives the enclave's current keys when it is running, so a bundle sealed to another
 * domain's keys is refused before it becomes visible.
 */
export function createBundlePort(expected: () => Promise<VerifyBundleOptions['expected'] | undefined> = async () => undefined): BundlePort {
  return {
    parseManifest,
    async verifyBundle(manifest, getBlob) {
      const exp = await expected();
      await verifyBundle(manifest, getBlob, exp ? { expected: exp } : {});
    },
  };
}
