import type { Signer } from '../../contracts/signer.js';
import { DomainError } from '../../contracts/errors.js';
import { PlatformStatement } from '../../formats/enclave-protocol.js';
import { fromB64, fromUtf8 } from '../../crypto/index.js';
import type { EnclaveHandle } from '../enclave/handle.js';

/**
 * contracts' Signer for quotes and audit checkpoints, backed by the enclave's SM2 key: the server
 * asks, the enclave validates the statement's type and shape and signs, and the key stays in the
 * enclave (the server holds no secret keys). The public key is known once the enclave has
 * started; asking for it earlier is `enclave-unavailable`.
 */
export function enclaveSigner(enclave: () => EnclaveHandle | null): Signer {
  let pem: string | undefined;
  return {
    get publicKeyPem(): string {
      if (!pem) throw new DomainError('enclave-unavailable', 'the enclave is still starting; retry shortly');
      return pem;
    },
    /** Called once the enclave is up (and again after a restart: the key is the same sealed key). */
    set publicKeyPem(value: string) {
      pem = value;
    },
    async sign(message: Uint8Array): Promise<Uint8Array> {
      const handle = enclave();
      if (!handle) throw new DomainError('enclave-unavailable', 'the enclave is still starting; retry shortly');
      const text = fromUtf8(message);
      const statement = PlatformStatement.parse(JSON.parse(text));
      const signed = await (await handle.client()).signStatement(statement);
      // The enclave re-serialises the statement; what it signed must be exactly what contracts asked for.
      if (signed.payload !== text) throw new DomainError('enclave-bad-request', 'the enclave signed a different statement than requested');
      pem = signed.publicKeyPem;
      return fromB64(signed.signature);
    },
  };
}
