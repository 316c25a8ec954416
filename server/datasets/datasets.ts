import type { Db } from '../store/db.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { Readable } from 'node:stream';
import { DomainError } from '../../contracts/errors.js';
import { newId, isoNow, type Clock } from '../../contracts/ids.js';
import { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DEFAULT_DATASET_BUDGET } from '../../contracts/review/approval.js';
import { canonicalJson, sm3Hex } from '../../crypto/index.js';
import type { BundlePort } from './bundle-port.js';
import type { AuditSink } from '../identity/identity.js';

/** What an owner describes when uploading, kept on the upload and then on the dataset. */
interface Listing {
  id: string;
  orgId: string;
  userId: string;
  title: string;
  description: string;
  keywords: string[];
}

export interface UploadRow extends Listing {
  manifest: Record<string, unknown>;
  state: 'open' | 'completing' | 'completed' | 'aborted';
  totalBytes: number;
  createdAt: string;
  expiresAt: string;
  datasetId: string | null;
}

export interface DatasetRow extends Listing {
  sector: string;
  maxLevel: number;
  rowCount: number;
  schema: DatasetSchema;
  commitment: string;
  version: number;
  createdAt: string;
  /** dataset-wide privacy budget across all buyers (ε, δ), set by the owner */
  epsilonBudgetTotal: number;
  deltaBudgetTotal: number;
}

export interface DatasetLimits {
  maxBlobBytes: number;
  maxUploadBytes: number;
  uploadTtlMs: number;
}

// Not the manifest: it lists every blob (thousands for a large dataset) and only the job runner needs it
// (manifestOf); the catalogue and quotes read datasets on every request.
const DATASET_COLS = `id, org_id AS "orgId", user_id AS "userId", title, description, keywords_json, sector, max_level AS "maxLevel",
  row_count AS "rowCount", schema_json, commitment, version, created_at AS "createdAt",
  epsilon_budget_total AS "epsilonBudgetTotal", delta_budget_total AS "deltaBudgetTotal"`;

function toDataset(r: Record<string, unknown>): DatasetRow {
  const { keywords_json, schema_json, ...rest } = r as Record<string, string> & Record<string, unknown>;
  return {
    ...(rest as unknown as DatasetRow),
    keywords: JSON.parse(keywords_json as string),
    schema: JSON.parse(schema_json as string),
  };
}

/**
 * Resumable upload of a sealed bundle: create (manifest) → PUT each blob by SM3 hash (streamed,
 * size-limited, hash-checked, retryable) → complete (verifyBundle, then ONE transaction makes the
 * dataset visible). An aborted, failed or expired upload is deleted with every blob only it referenced,
 * so nothing partial is ever visible or left behind.
 *
 * Proof of possession: an upload completes only when it has itself delivered the bytes of every blob its
 * manifest names. The store is content-addressed and shared (identical bytes are kept once), but a
 * manifest alone — an organisation's leaked bundle listing — neither publishes a dataset nor reveals
 * which blobs exist. A blob file is deleted only when no dataset holds it and no open upload has delivered it.
 */
export class DatasetService {
  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly bundle: BundlePort,
    private readonly clock: Clock,
    private readonly limits: DatasetLimits,
    private readonly audit: AuditSink = () => {},
  ) {}

  async createUpload(input: { orgId: string; userId: string; title: string; description: string; keywords: string[]; manifest: Record<string, unknown> }): Promise<UploadRow> {
    const facts = this.bundle.parseManifest(input.manifest);
    const schema = DatasetSchema.safeParse(facts.schema);
    if (!schema.success) throw new DomainError('bundle-invalid', `the manifest's schema is invalid: ${schema.error.issues[0]?.message}`);
    const seen = new Set<string>();
    let total = 0;
    for (const b of facts.blobs) {
      if (b.size > this.limits.maxBlobBytes) {
        throw new DomainError('payload-too-large', `blob ${b.hash} declares ${b.size} bytes; the limit per blob is ${this.limits.maxBlobBytes}`);
      }
      if (!seen.has(b.hash)) total += b.size;
      seen.add(b.hash);
    }
    if (total > this.limits.maxUploadBytes) {
      throw new DomainError('payload-too-large', `the bundle declares ${total} bytes; the limit per dataset is ${this.limits.maxUploadBytes}`);
    }
    const now = this.clock.now();
    const row: UploadRow = {
      id: newId(),
      orgId: input.orgId,
      userId: input.userId,
      title: input.title,
      description: input.description,
      keywords: input.keywords,
      manifest: input.manifest,
      state: 'open',
      totalBytes: total,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.limits.uploadTtlMs).toISOString(),
      datasetId: null,
    };
    await this.db.transaction(async () => {
      await this.db.run(
        `INSERT INTO uploads (id, org_id, user_id, title, description, keywords_json, manifest_json, manifest_hash, state, total_bytes, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)`,
        row.id, row.orgId, row.userId, row.title, row.description, JSON.stringify(row.keywords), JSON.stringify(row.manifest), sm3Hex(canonicalJson(row.manifest)), total, row.createdAt, row.expiresAt,
      );
      await this.audit({ actor: row.userId, entityType: 'upload', entityId: row.id, action: 'upload.created', data: { orgId: row.orgId, commitment: facts.commitment, blobs: facts.blobs.length, bytes: total } });
      // Every blob starts missing, whatever the store holds: only bytes this upload delivers prove that its
      // owner has them, and the answer must not tell anyone which blobs other organisations stored.
      let seq = 0;
      for (const b of facts.blobs) {
        await this.db.run('INSERT INTO upload_blobs (upload_id, hash, size, kind, received_at, seq) VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (upload_id, hash) DO NOTHING', row.id, b.hash, b.size, b.kind, ++seq);
      }
    });
    return row;
  }

  async getUpload(id: string): Promise<UploadRow | null> {
    const r = await this.db.get<Record<string, unknown> & { keywords_json: string; manifest_json: string }>(
      `SELECT id, org_id AS "orgId", user_id AS "userId", title, description, keywords_json, manifest_json, state, total_bytes AS "totalBytes",
              created_at AS "createdAt", expires_at AS "expiresAt", dataset_id AS "datasetId" FROM uploads WHERE id = ?`,
      id,
    );
    if (!r) return null;
    const { keywords_json, manifest_json, ...rest } = r;
    return { ...(rest as unknown as UploadRow), keywords: JSON.parse(keywords_json), manifest: JSON.parse(manifest_json) };
  }

  /** The organisation's uploads not yet a dataset (open, or being verified), oldest first. */
  async openUploads(orgId: string): Promise<UploadRow[]> {
    const ids = await this.db.all<{ id: string }>("SELECT id FROM uploads WHERE org_id = ? AND state IN ('open', 'completing') ORDER BY created_at, id LIMIT 100", orgId);
    const out: UploadRow[] = [];
    for (const r of ids) {
      const u = await this.getUpload(r.id);
      if (u) out.push(u);
    }
    return out;
  }

  async uploadBlobs(uploadId: string): Promise<{ hash: string; size: number; kind: string; received: boolean }[]> {
    return (
      await this.db.all<{ hash: string; size: number; kind: string; received_at: string | null }>('SELECT hash, size, kind, received_at FROM upload_blobs WHERE upload_id = ? ORDER BY seq', uploadId)
    ).map((b) => ({ hash: b.hash, size: b.size, kind: b.kind, received: b.received_at !== null }));
  }

  async putBlob(upload: UploadRow, hash: string, source: Readable): Promise<{ hash: string; size: number; alreadyPresent: boolean; missing: number }> {
    if (upload.state !== 'open') throw new DomainError('upload-not-open', `upload ${upload.id} is ${upload.state}; start a new upload`);
    const entry = await this.db.get<{ size: number; received_at: string | null }>('SELECT size, received_at FROM upload_blobs WHERE upload_id = ? AND hash = ?', upload.id, hash);
    if (!entry) throw new DomainError('blob-not-in-manifest', `blob ${hash} is not listed in this upload's manifest`);
    let alreadyPresent = false;
    if (entry.received_at !== null && this.blobs.size(hash) === entry.size) {
      // THIS upload delivered these bytes before (a retry): nothing more to prove.
      alreadyPresent = true;
      source.resume(); // drain what the client sends
    } else {
      // The bytes are hashed as they arrive even when the store holds the blob already (another upload's):
      // receipt is recorded per upload, the store only saves the disk.
      await this.blobs.put(source, { maxBytes: this.limits.maxBlobBytes, expectedHash: hash, expectedSize: entry.size });
      const recorded = await this.db.run("UPDATE upload_blobs SET received_at = ? WHERE upload_id = ? AND hash = ? AND upload_id IN (SELECT id FROM uploads WHERE state = 'open')", isoNow(this.clock), upload.id, hash);
      if (!recorded) {
        // Aborted (or expired) while the bytes streamed in: drop them unless something else holds the blob.
        if (!(await this.isReferenced(hash))) this.blobs.delete(hash);
        throw new DomainError('upload-not-open', `upload ${upload.id} was closed while the blob was being received; start a new upload`);
      }
    }
    const missing = (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM upload_blobs WHERE upload_id = ? AND received_at IS NULL', upload.id))!.n;
    return { hash, size: entry.size, alreadyPresent, missing };
  }

  /** Verifies the whole bundle; on success the dataset appears in one transaction, on failure nothing remains. */
  async complete(upload: UploadRow): Promise<DatasetRow> {
    if (upload.state !== 'open') throw new DomainError('upload-not-open', `upload ${upload.id} is ${upload.state}`);
    const missing = (await this.uploadBlobs(upload.id)).filter((b) => !b.received || this.blobs.size(b.hash) !== b.size);
    if (missing.length) {
      throw new DomainError('upload-incomplete', `${missing.length} blob(s) are still missing; PUT them, then complete again`, {
        missing: missing.slice(0, 50).map((b) => b.hash),
      });
    }
    const moved = await this.db.run("UPDATE uploads SET state = 'completing' WHERE id = ? AND state = 'open'", upload.id);
    if (!moved) throw new DomainError('upload-not-open', `upload ${upload.id} is being completed already`);
    try {
      await this.bundle.verifyBundle(upload.manifest, (h) => this.blobs.get(h));
    } catch (e) {
      if (e instanceof DomainError && (e.type === 'enclave-unavailable' || e.type === 'enclave-timeout')) {
        // Not the bundle's fault: keep it (every blob stays) so completing again after the enclave is back works.
        await this.db.run("UPDATE uploads SET state = 'open' WHERE id = ? AND state = 'completing'", upload.id);
        throw e;
      }
      const why = e instanceof Error ? e.message : String(e);
      await this.abort(upload.id, 'failed verification');
      throw new DomainError('bundle-invalid', `the bundle failed verification and was discarded: ${why}`);
    }
    const facts = this.bundle.parseManifest(upload.manifest);
    const schema = DatasetSchema.parse(facts.schema);
    const row: DatasetRow = {
      id: newId(),
      orgId: upload.orgId,
      userId: upload.userId,
      title: upload.title,
      description: upload.description,
      keywords: upload.keywords,
      sector: schema.sector,
      maxLevel: Math.max(...schema.columns.map((c) => c.level)),
      rowCount: facts.rowCount,
      schema,
      commitment: facts.commitment,
      version: 1,
      createdAt: isoNow(this.clock),
      epsilonBudgetTotal: DEFAULT_DATASET_BUDGET.epsilon,
      deltaBudgetTotal: DEFAULT_DATASET_BUDGET.delta,
    };
    await this.db.transaction(async () => {
      await this.db.run(
        `INSERT INTO datasets (id, org_id, user_id, title, description, keywords_json, sector, max_level, row_count, schema_json, manifest_json, manifest_hash, commitment, version, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        row.id, row.orgId, row.userId, row.title, row.description, JSON.stringify(row.keywords), row.sector, row.maxLevel, row.rowCount,
        JSON.stringify(schema), JSON.stringify(upload.manifest), sm3Hex(canonicalJson(upload.manifest)), row.commitment, row.version, row.createdAt,
      );
      for (const b of facts.blobs) await this.db.run('INSERT INTO dataset_blobs (dataset_id, hash, size, kind) VALUES (?, ?, ?, ?) ON CONFLICT (dataset_id, hash) DO NOTHING', row.id, b.hash, b.size, b.kind);
      // Aborted while the enclave verified (its blobs may be gone): publish nothing.
      const closed = await this.db.run("UPDATE uploads SET state = 'completed', dataset_id = ? WHERE id = ? AND state = 'completing'", row.id, upload.id);
      if (!closed) throw new DomainError('upload-not-open', `upload ${upload.id} was aborted while it was being completed`);
      await this.audit({
        actor: upload.userId,
        entityType: 'dataset',
        entityId: row.id,
        action: 'dataset.published',
        data: { orgId: row.orgId, uploadId: upload.id, sector: row.sector, rowCount: row.rowCount, commitment: row.commitment },
      });
      await this.db.run('DELETE FROM upload_blobs WHERE upload_id = ?', upload.id);
    });
    return row;
  }

  /** Aborts an upload and deletes every blob no dataset holds and no other open upload has delivered. */
  async abort(uploadId: string, reason = 'aborted'): Promise<void> {
    const hashes = await this.db.transaction(async () => {
      const hs = (await this.db.all<{ hash: string }>('SELECT hash FROM upload_blobs WHERE upload_id = ?', uploadId)).map((r) => r.hash);
      const moved = await this.db.run("UPDATE uploads SET state = 'aborted' WHERE id = ? AND state IN ('open', 'completing')", uploadId);
      if (moved) await this.audit({ actor: 'system', entityType: 'upload', entityId: uploadId, action: 'upload.aborted', data: { reason } });
      await this.db.run('DELETE FROM upload_blobs WHERE upload_id = ?', uploadId);
      return hs;
    });
    for (const h of hashes) if (!(await this.isReferenced(h))) this.blobs.delete(h);
  }

  /**
   * A blob stays while a dataset holds it or an unfinished upload has delivered it. Naming it is not enough: an
   * upload that only lists another organisation's blob (its leaked manifest) must not keep it past its owner's
   * abort; that upload has to send the bytes anyway.
   */
  private async isReferenced(hash: string): Promise<boolean> {
    return !!(
      (await this.db.get('SELECT 1 AS one FROM dataset_blobs WHERE hash = ? LIMIT 1', hash)) ||
      (await this.db.get(
        "SELECT 1 AS one FROM upload_blobs ub JOIN uploads u ON u.id = ub.upload_id WHERE ub.hash = ? AND ub.received_at IS NOT NULL AND u.state IN ('open', 'completing') LIMIT 1",
        hash,
      ))
    );
  }

  /**
   * Start-up and periodic housekeeping: uploads interrupted while completing go back to open (their
   * blobs are intact and verification is repeatable); expired uploads are aborted; blob files nobody
   * references (e.g. written just before a crash) and temp files are deleted. A server of a cluster never
   * sweeps at start-up: the other servers' uploads and blob writes are in flight, not interrupted.
   */
  async sweep(opts: { startup: boolean }): Promise<{ expired: number; orphans: number; temp: number }> {
    if (opts.startup) await this.db.run("UPDATE uploads SET state = 'open' WHERE state = 'completing'");
    const expired = await this.db.all<{ id: string }>("SELECT id FROM uploads WHERE state = 'open' AND expires_at <= ?", isoNow(this.clock));
    for (const u of expired) await this.abort(u.id, 'expired');
    let orphans = 0;
    let temp = 0;
    if (opts.startup) {
      temp = this.blobs.clearTemp();
      for (const h of this.blobs.listHashes()) {
        if (!(await this.isReferenced(h))) {
          this.blobs.delete(h);
          orphans++;
        }
      }
    }
    return { expired: expired.length, orphans, temp };
  }

  /**
   * The owner sets the dataset-wide privacy budget (ε, δ across all buyers). Trades submitted afterwards run
   * under it (their approvals state it); the enclave charges every buyer's DP releases against it.
   */
  async setPrivacyBudget(id: string, budget: { epsilonBudgetTotal: number; deltaBudgetTotal: number }, actor: string): Promise<DatasetRow> {
    await this.db.transaction(async () => {
      const changed = await this.db.run('UPDATE datasets SET epsilon_budget_total = ?, delta_budget_total = ? WHERE id = ?', budget.epsilonBudgetTotal, budget.deltaBudgetTotal, id);
      if (!changed) throw new DomainError('not-found', 'no such dataset', { datasetId: id });
      await this.audit({ actor, entityType: 'dataset', entityId: id, action: 'dataset.privacy-budget-set', data: { ...budget } });
    });
    return (await this.getDataset(id))!;
  }

  async getDataset(id: string): Promise<DatasetRow | null> {
    const r = await this.db.get(`SELECT ${DATASET_COLS} FROM datasets WHERE id = ?`, id);
    return r ? toDataset(r) : null;
  }

  /** The bundle manifest a dataset was published with (every blob it consists of), or null. */
  async manifestOf(id: string): Promise<Record<string, unknown> | null> {
    const r = await this.db.get<{ manifest_json: string }>('SELECT manifest_json FROM datasets WHERE id = ?', id);
    return r ? JSON.parse(r.manifest_json) : null;
  }

  async listDatasets(filter: { orgId?: string; sector?: string; q?: string; maxLevel?: number }, after: string | undefined, limit: number): Promise<DatasetRow[]> {
    const where: string[] = ['id > ?'];
    const args: unknown[] = [after ?? ''];
    if (filter.orgId) (where.push('org_id = ?'), args.push(filter.orgId));
    if (filter.sector) (where.push('sector = ?'), args.push(filter.sector));
    if (filter.maxLevel !== undefined) (where.push('max_level <= ?'), args.push(filter.maxLevel));
    if (filter.q) {
      const like = `%${filter.q.toLowerCase().replace(/[\\%_]/g, (c) => '\\' + c)}%`;
      where.push(`(lower(title) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\' OR lower(keywords_json) LIKE ? ESCAPE '\\' OR lower(schema_json) LIKE ? ESCAPE '\\')`);
      args.push(like, like, like, like);
    }
    args.push(limit);
    return (await this.db.all(`SELECT ${DATASET_COLS} FROM datasets WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, ...args)).map(toDataset);
  }
}
