import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { sm2KeyPair, sm2PublicKeyToPem, sm2PrivateKeyToPem, sm2Fingerprint } from '../../crypto/index.js';
import type { IdentityService } from './identity.js';
import type { Db } from '../store/db.js';

export interface BootstrapResult {
  created: boolean;
  operatorPublicKeyPem: string;
  file: string;
}

export const PLATFORM_ORG = 'Shuyu Platform';

/**
 * First run: create the platform organisation, the operator user, the operator's SM2 key pair and a
 * token, and write them to DATA_DIR/bootstrap.json (0600). The server keeps only the operator's PUBLIC
 * key (it is pinned in the enclave at first start); the private key exists only in that file, for the
 * operator to move to a safe place. Later runs reuse the registered operator.
 */
export async function bootstrapOperator(db: Db, identity: IdentityService, file: string, url: () => string): Promise<BootstrapResult> {
  const existing = await identity.operator();
  if (existing?.publicKeyPem) return { created: false, operatorPublicKeyPem: existing.publicKeyPem, file };
  if (existing) throw new Error('the operator exists without a key: the database was changed by hand');
  // One transaction around the rows AND the file write: a failed write leaves no operator behind. Servers
  // of a cluster starting together queue on an advisory lock: the first creates the operator, the others
  // then find it (bootstrap runs once).
  return db.transaction(async () => {
    if (db.dialect === 'postgres') await db.get("SELECT pg_advisory_xact_lock(hashtext('shuyu:bootstrap')) AS locked");
    const again = await identity.operator();
    if (again?.publicKeyPem) return { created: false, operatorPublicKeyPem: again.publicKeyPem, file };
    return create(identity, file, url);
  });
}

async function create(identity: IdentityService, file: string, url: () => string): Promise<BootstrapResult> {
  const org = await identity.createOrg(PLATFORM_ORG, 'CN');
  const user = await identity.createUser(org.id, 'operator', 'operator');
  const keys = sm2KeyPair();
  const publicKeyPem = sm2PublicKeyToPem(keys.publicKey);
  const fingerprint = sm2Fingerprint(keys.publicKey);
  const token = await identity.issueToken(user.id, 365 * 86_400_000);
  const doc = {
    note: 'Operator credentials created on first start. Move the private key somewhere safe and delete this file.',
    url: url(),
    orgId: org.id,
    userId: user.id,
    token: token.token,
    tokenExpiresAt: token.expiresAt,
    publicKeyPem,
    privateKeyPem: sm2PrivateKeyToPem(keys.privateKey),
    keyFingerprint: fingerprint,
  };
  if (existsSync(file)) throw new Error(`${file} exists but the database has no operator: refusing to overwrite it`);
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  await identity.registerKey(user.id, publicKeyPem, fingerprint);
  return { created: true, operatorPublicKeyPem: publicKeyPem, file };
}
