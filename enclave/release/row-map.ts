import { DomainError } from '../../contracts/errors.js';
import { sm2Fingerprint } from '../../crypto/index.js';
import { manifestCommitment, type BundleManifest } from '../../formats/manifest.js';
import type { Keystore } from '../keystore/keystore.js';
import type { PrivacyBudgetLedger } from '../privacy/ledger.js';
import { maxRowsPerSubject, prepareRowMap, RowMapStore, type RowMap } from '../privacy/row-map.js';
import { mapRowsInSandbox, type SandboxLimits } from '../sandbox/sandbox.js';
import type { RowChunks } from './row-chunks.js';

/**
 * A dataset version's row map (partition, dimension codes, subject numbers), derived inside the enclave from the
 * sealed row chunks in a sandbox worker and kept in the enclave's privacy database (docs/privacy.md §4).
 *
 * It is built when an upload completes (`admitRows`): deriving it opens — and so authenticates — every row chunk,
 * which the server cannot do (it holds no key), so a bundle whose rows are tampered under a valid commitment is
 * refused before it becomes visible. Releases read the stored map (kept in memory too: a 1M-row map is ~10 MB of
 * SQLite blobs); a version admitted before maps were kept gets its map on its first release, from the chunks the
 * enclave reads itself.
 */

export interface RowMapDeps {
  ledger: PrivacyBudgetLedger;
  keystore: Keystore;
  limits?: Partial<SandboxLimits>;
}

/** Derive the map from every sealed row chunk (authenticating each), check it against the manifest, store it. */
export async function deriveRowMap(manifest: BundleManifest, chunks: RowChunks, d: RowMapDeps): Promise<RowMap> {
  if (manifestCommitment(manifest) !== manifest.commitment) throw new DomainError('row-chunk-invalid', 'the manifest does not match its commitment');
  if (manifest.rows.unwrapKeyFingerprint !== sm2Fingerprint(d.keystore.unwrap.publicKey)) {
    throw new DomainError('row-chunk-invalid', "the bundle's rows were not sealed to this enclave's unwrap key");
  }
  const map = await mapRowsInSandbox({
    schema: manifest.schema,
    layout: manifest.layout,
    chunks,
    // every chunk in the format the manifest (pinned by the commitment) names: no downgrade to another reader
    rowFormat: manifest.rows.chunkFormat ?? 1,
    unwrapPrivateKey: d.keystore.unwrap.privateKey,
    ...(d.limits ? { limits: d.limits } : {}),
  });
  if (map.partition.length !== manifest.rowCount) {
    throw new DomainError('privacy-row-map-mismatch', `the sealed rows hold ${map.partition.length} rows, the manifest ${manifest.rowCount}`);
  }
  map.maxRowsPerSubject = maxRowsPerSubject(map);
  await new RowMapStore(d.ledger.store).put(manifest.commitment, map);
  return map;
}

/** Maps kept in memory: releases on a few hot dataset versions skip re-reading and re-slicing the blobs. */
const KEPT = 4;

/**
 * The enclave's row maps: memory, then the enclave's state store, then derived from the chunks (once per dataset
 * version). A map stored before every dimension's codes were kept counts as missing: it is derived again.
 */
export class RowMaps {
  private readonly kept = new Map<string, RowMap>();
  private readonly store: RowMapStore;

  constructor(private readonly d: RowMapDeps) {
    this.store = new RowMapStore(d.ledger.store);
  }

  /** The stored map, or undefined (never derives). */
  async stored(manifest: BundleManifest): Promise<RowMap | undefined> {
    const hit = this.kept.get(manifest.commitment);
    if (hit) {
      // most recently used last
      this.kept.delete(manifest.commitment);
      this.kept.set(manifest.commitment, hit);
      return hit;
    }
    const map = await this.store.get(manifest.commitment, manifest.rowCount);
    if (map?.dimensions) this.keep(manifest, map);
    return map;
  }

  /** The stored map, else derived from `chunks()` (which reads the row chunks) and stored. */
  async of(manifest: BundleManifest, chunks: () => Promise<RowChunks>): Promise<RowMap> {
    const cached = await this.stored(manifest);
    if (cached?.dimensions) return cached;
    return this.derive(manifest, await chunks());
  }

  async derive(manifest: BundleManifest, chunks: RowChunks): Promise<RowMap> {
    const map = await deriveRowMap(manifest, chunks, this.d);
    this.keep(manifest, map);
    return map;
  }

  private keep(manifest: BundleManifest, map: RowMap): void {
    const commitment = manifest.commitment;
    prepareRowMap(map, manifest.layout.partitions.length);
    this.kept.delete(commitment);
    this.kept.set(commitment, map);
    while (this.kept.size > KEPT) this.kept.delete(this.kept.keys().next().value!);
  }
}
