/**
 * A signing key held elsewhere. The platform key that signs quotes and audit checkpoints lives in
 * the enclave process; the server passes a Signer that asks it, so contracts/ never sees a secret.
 * `sign` returns a DER SM2 signature (GB/T 32918.2, SM3(ZA ‖ M), ID 1234567812345678) over `message`.
 */
export interface Signer {
  publicKeyPem: string;
  sign(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}
