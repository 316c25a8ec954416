import { DomainError } from '../../contracts/errors.js';
import { sm2Fingerprint } from '../../crypto/index.js';
import { manifestCommitment, type BundleManifest } from '../../formats/manifest.js';
import type { Keystore } from '../keystore/keystore.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { maxRowsPerSubject, RowMapStore, type RowMap } from '../privacy/row-map.js';
import { mapRowsInSandbox, type SandboxLimits } from '../sandbox/sandbox.js';
import { rowChunksOf } from './row-chunks.js';

/**
 * A dataset version's row map (partition, dimension codes, subject numbers), derived inside the enclave from the sealed
 * row chunks in a sandbox worker and kept in the enclave's privacy database (docs/privacy.md §4).
 *
 * The server asks for it once, when an upload completes (`admitRows`): deriving it opens — and so
 * authenticates — every row chunk, which the server cannot do (it holds no key), so a bundle whose rows are
 * tampered under a valid commitment is refused before it becomes visible. Releases read the stored map; a
 * dataset admitted before this existed gets its map on its first release that needs one.
 */

export interface RowMapDeps {
  ledger: PrivacyBudgetLedger;
  keystore: Keystore;
  limits?: Partial<SandboxLimits>;
}

/** Derive the map from every sealed row chunk (authenticating each), check it against the manifest, store it. */
export async function deriveRowMap(manifest: BundleManifest, rowChunks: string[], d: RowMapDeps): Promise<RowMap> {
  if (manifestCommitment(manifest) !== manifest.commitment) throw new DomainError('row-chunk-invalid', 'the manifest does not match its commitment');
  if (manifest.rows.unwrapKeyFingerprint !== sm2Fingerprint(d.keystore.unwrap.publicKey)) {
    throw new DomainError('row-chunk-invalid', "the bundle's rows were not sealed to this enclave's unwrap key");
  }
  const map = await mapRowsInSandbox({
    schema: manifest.schema,
    layout: manifest.layout,
    chunks: rowChunksOf(manifest, rowChunks),
    unwrapPrivateKey: d.keystore.unwrap.privateKey,
    ...(d.limits ? { limits: d.limits } : {}),
  });
  if (map.partition.length !== manifest.rowCount) {
    throw new DomainError('privacy-row-map-mismatch', `the sealed rows hold ${map.partition.length} rows, the manifest ${manifest.rowCount}`);
  }
  map.maxRowsPerSubject = maxRowsPerSubject(map);
  new RowMapStore(d.ledger.database).put(manifest.commitment, map);
  return map;
}

/**
 * The stored map, else derived from `rowChunks` when given, else privacy-row-map-missing (the client
 * resends). A map stored before every dimension's codes were kept counts as missing: it is derived again.
 */
export async function rowMapOf(manifest: BundleManifest, rowChunks: string[] | undefined, d: RowMapDeps): Promise<RowMap> {
  const cached = new RowMapStore(d.ledger.database).get(manifest.commitment, manifest.rowCount);
  if (cached?.dimensions) return cached;
  if (!rowChunks) {
    throw new DomainError('privacy-row-map-missing', "this release needs the dataset's sealed row chunks once per dataset version (row map); resend with rowChunks", {
      datasetCommitment: manifest.commitment,
    });
  }
  return deriveRowMap(manifest, rowChunks, d);
}
