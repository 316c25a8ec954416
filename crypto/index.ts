/** The one GM crypto implementation of Shuyu (SM2/SM3/SM4, sealing, canonical JSON). Import from here. */
export * from './errors.js';
export * from './encoding.js';
export * from './canonical.js';
export * from './sm3.js';
export * from './sm4.js';
export * from './box.js';
export {
  SM2_DEFAULT_ID,
  sm2KeyPair,
  sm2PublicFromPrivate,
  sm2AssertPublicKey,
  sm2Sign,
  sm2Verify,
  sm2Encrypt,
  sm2Decrypt,
  encodeSm2Signature,
  decodeSm2Signature,
  type Sm2KeyPair,
  type Sm2SignOptions,
} from './sm2.js';
export * from './pem.js';
