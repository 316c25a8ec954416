import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/**
 * Layout of a data directory (README "Data directory"):
 *   shuyu.sqlite (+ -wal, -shm)   the store, WAL mode
 *   blobs/ab/cdef…               content-addressed blob store, file name = SM3 hex
 *   blobs/tmp/                   blobs being received (never addressed until hashed)
 *   enclave/                     the enclave's sealed keystore and its own budget ledger
 *   master.secret                embedded default ONLY: production supplies SHUYU_MASTER_SECRET(_FILE)
 *   bootstrap.json               the operator's first credentials (0600)
 *   platform-signing-key.sealed  the platform key for quotes and audit checkpoints, sealed under the master secret (0600)
 */
export interface DataDirLayout {
  root: string;
  dbFile: string;
  blobDir: string;
  enclaveDir: string;
  /** the enclave's sealed keystore (the enclave process opens DATA_DIR/enclave/keystore) */
  keystoreDir: string;
  masterSecretFile: string;
  bootstrapFile: string;
  platformKeyFile: string;
}

export function dataDirLayout(root: string): DataDirLayout {
  return {
    root,
    dbFile: join(root, 'shuyu.sqlite'),
    blobDir: join(root, 'blobs'),
    enclaveDir: join(root, 'enclave'),
    keystoreDir: join(root, 'enclave', 'keystore'),
    masterSecretFile: join(root, 'master.secret'),
    bootstrapFile: join(root, 'bootstrap.json'),
    platformKeyFile: join(root, 'platform-signing-key.sealed'),
  };
}

export function ensureDataDir(root: string): DataDirLayout {
  const l = dataDirLayout(root);
  for (const d of [l.root, l.blobDir, join(l.blobDir, 'tmp'), l.enclaveDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  return l;
}

export interface MasterSecret {
  secret: string;
  source: 'env' | 'env-file' | 'generated-default' | 'default-file';
}

/**
 * The enclave's master secret. Production passes it from outside the data directory
 * (SHUYU_MASTER_SECRET or SHUYU_MASTER_SECRET_FILE). The embedded default generates one into
 * DATA_DIR/master.secret (0600) — beside, not inside, the enclave's keystore dir — so a
 * newcomer's `npm start` works; anyone holding a copy of the whole data dir can then unseal it.
 */
export function resolveMasterSecret(l: DataDirLayout, env: NodeJS.ProcessEnv = process.env): MasterSecret {
  if (env.SHUYU_MASTER_SECRET) return { secret: env.SHUYU_MASTER_SECRET, source: 'env' };
  if (env.SHUYU_MASTER_SECRET_FILE) {
    return { secret: readFileSync(env.SHUYU_MASTER_SECRET_FILE, 'utf8').trim(), source: 'env-file' };
  }
  if (existsSync(l.masterSecretFile)) {
    return { secret: readFileSync(l.masterSecretFile, 'utf8').trim(), source: 'default-file' };
  }
  const secret = randomBytes(32).toString('hex');
  writeFileSync(l.masterSecretFile, secret + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(l.masterSecretFile, 0o600);
  return { secret, source: 'generated-default' };
}
