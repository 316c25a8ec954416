import { sm2KeyPair, sm2PublicKeyToPem, sm2Sign } from '../../crypto/index.js';
import type { Clock } from '../../contracts/ids.js';
import type { Signer } from '../../contracts/signer.js';
import type { Db } from '../../server/store/db.js';
import { contractsStore } from '../../server/store/tables/contracts-store.js';
import { openTestDb } from '../store/engines.js';

/** A real database of the suite's engine (test/store/engines.ts) with every migration applied, and the contracts store on it. */
export async function freshStore(): Promise<{ db: Db; store: ReturnType<typeof contractsStore> }> {
  const db = await openTestDb();
  return { db, store: contractsStore(db) };
}

/** What `fn` threw (sync or async), as a function that throws it again, for chai's `expect(…).to.throw()`. */
export async function thrown(fn: () => unknown): Promise<() => void> {
  try {
    await fn();
  } catch (e) {
    return () => {
      throw e;
    };
  }
  return () => {};
}

/** A clock tests can move. */
export function testClock(start = '2026-06-01T00:00:00.000Z'): Clock & { advance(ms: number): void; set(iso: string): void } {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms) => void (t += ms), set: (iso) => void (t = Date.parse(iso)) };
}

/** A real SM2 key standing in for the enclave's platform key. */
export function testSigner(): Signer & { privateKey: Uint8Array; publicKey: Uint8Array } {
  const { privateKey, publicKey } = sm2KeyPair();
  return { privateKey, publicKey, publicKeyPem: sm2PublicKeyToPem(publicKey), sign: (m) => sm2Sign(privateKey, m) };
}
