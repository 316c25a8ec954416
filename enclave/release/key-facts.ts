import { sm2Fingerprint, sm3Hex } from '../../crypto/index.js';
import type { Keystore } from '../keystore/keystore.js';

/** Fingerprints of the enclave's own public keys, computed once per keystore (not on every release). */
const memo = new WeakMap<Keystore, { he: string; unwrap: string }>();

export function keyFingerprints(ks: Keystore): { he: string; unwrap: string } {
  let f = memo.get(ks);
  if (!f) {
    f = { he: sm3Hex(ks.he.publicKey), unwrap: sm2Fingerprint(ks.unwrap.publicKey) };
    memo.set(ks, f);
  }
  return f;
}
