import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  kdfSm3, openBox, sealBox, sm2KeyPair, sm2PrivateKeyFromDer, sm2PrivateKeyToDer, sm2PublicFromPrivate, sm2PublicKeyToPem, sm2Sign, utf8,
} from '../../crypto/index.js';
import type { Signer } from '../../contracts/signer.js';

/**
 * The platform key that signs price quotes and audit checkpoints (contracts' Signer). It is a
 * commercial key, not a data key: it never unwraps data and cannot sign receipts (those come only from
 * the enclave's key). At rest it is sealed (SM4-CTR + HMAC-SM3 box, sealBox) under a key derived
 * from the master secret, in DATA_DIR/platform-signing-key.sealed (0600): a copy of the data directory
 * without the master secret cannot forge quotes or checkpoints.
 *
 * Only for in-process apps without an enclave (tests, tools): startServer signs with the enclave's key
 * through server/trade/enclave-signer.ts, so a running deployment holds no signing key outside the enclave.
 */
const LABEL = 'shuyu.platform-signing-key.v1';

export function loadPlatformSigner(file: string, masterSecret: string): Signer {
  const key = kdfSm3(utf8(`${LABEL}\u0000${masterSecret}`), 32);
  const aad = utf8(LABEL);
  if (!existsSync(file)) {
    const kp = sm2KeyPair();
    writeFileSync(file, sealBox(key, sm2PrivateKeyToDer(kp.privateKey), aad), { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  let privateKey: Uint8Array;
  try {
    privateKey = sm2PrivateKeyFromDer(openBox(key, new Uint8Array(readFileSync(file)), aad));
  } catch {
    throw new Error(`${file} cannot be opened with this master secret: start with the master secret the data directory was created with`);
  }
  const publicKeyPem = sm2PublicKeyToPem(sm2PublicFromPrivate(privateKey));
  return { publicKeyPem, sign: (message: Uint8Array) => sm2Sign(privateKey, message) };
}
