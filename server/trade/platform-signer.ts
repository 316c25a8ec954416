import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { sm2KeyPair, sm2PrivateKeyFromPem, sm2PrivateKeyToPem, sm2PublicFromPrivate, sm2PublicKeyToPem, sm2Sign } from '../../enclave/crypto/index.js';
import type { Signer } from '../../contracts/signer.js';

/**
 * The platform key that signs price quotes and audit checkpoints (contracts' Signer). It is a
 * commercial key, not a data key: it never unwraps data and cannot sign receipts (those come only from
 * the enclave's key). It lives in DATA_DIR/platform-signing-key.pem (0600).
 *
 * Known gap: DESIGN wants checkpoints signed inside the enclave so a server-side attacker cannot re-sign
 * a rewritten chain. The enclave's signStatement accepts only checkpoint statements, while contracts/
 * signs quotes and checkpoints with ONE signer; moving this Signer into the enclave needs signStatement
 * to accept 'shuyu.quote.v1' as well — then only this file changes.
 */
export function loadPlatformSigner(file: string): Signer {
  if (!existsSync(file)) {
    const kp = sm2KeyPair();
    writeFileSync(file, sm2PrivateKeyToPem(kp.privateKey), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  const privateKey = sm2PrivateKeyFromPem(readFileSync(file, 'utf8'));
  const publicKeyPem = sm2PublicKeyToPem(sm2PublicFromPrivate(privateKey));
  return { publicKeyPem, sign: (message: Uint8Array) => sm2Sign(privateKey, message) };
}
