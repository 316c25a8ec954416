import { DomainError } from '../../contracts/errors.js';
import { BundleManifest, manifestCommitment } from '../../formats/manifest.js';
import { verifyBundle, type VerifyBundleOptions } from '../../he/bundle-check.js';
import type { BundlePort, ManifestFacts } from '../datasets/bundle-port.js';
import { issuesToErrors } from '../http/validation.js';

/** The bundle format as the server sees it: the enclave's manifest schema, commitment and verifier — one implementation. */
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
 * Has the enclave admit a verified bundle's sealed rows (EnclaveClient.admitRows: it reads them from the blob
 * store itself and keeps the row map); answers the rows it found.
 */
export type AdmitRows = (manifest: BundleManifest) => Promise<number>;

/**
 * `expected` gives the enclave's current keys when it is running, so a bundle sealed to another
 * domain's keys is refused before it becomes visible. `admitRows`, when there is an enclave, has it open
 * every sealed row chunk: only the enclave can authenticate them (the server holds no key), and a chunk
 * tampered under a valid commitment would otherwise be published and fail only at its first job.
 */
export function createBundlePort(expected: () => Promise<VerifyBundleOptions['expected'] | undefined> = async () => undefined, admitRows?: AdmitRows): BundlePort {
  return {
    parseManifest,
    async verifyBundle(manifest, getBlob) {
      const exp = await expected();
      await verifyBundle(manifest, getBlob, exp ? { expected: exp } : {});
      if (!admitRows) return;
      const m = BundleManifest.parse(manifest);
      const rows = await admitRows(m);
      if (rows !== m.rowCount) throw new DomainError('bundle-invalid', `the sealed rows hold ${rows} rows, the manifest ${m.rowCount}`);
    },
  };
}
