/** Shared helpers of the crypto tests: vector files and typed-error assertions. */
import { readFileSync } from 'node:fs';
import { CryptoError } from '../../crypto/index.js';

export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8')) as T;
}

/** The CryptoError code `f` throws, undefined if it returns; any other exception fails the test. */
export function errorCode(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof CryptoError) return e.code;
    throw e;
  }
  return undefined;
}
