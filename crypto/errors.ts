/**
 * The one error type of the GM crypto layer. `code` is a stable slug callers switch on
 * (e.g. 'authentication-failed', 'bad-key'); messages never include key material.
 */
export type CryptoErrorCode =
  | 'bad-key'
  | 'bad-box'
  | 'bad-ciphertext'
  | 'bad-encoding'
  | 'bad-pem'
  | 'bad-input'
  | 'authentication-failed'
  | 'not-canonical';

export class CryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CryptoError';
  }
}

export const isCryptoError = (e: unknown, code?: CryptoErrorCode): e is CryptoError =>
  e instanceof CryptoError && (code === undefined || e.code === code);
