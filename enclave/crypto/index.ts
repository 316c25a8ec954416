/** The one GM crypto implementation of Shuyu (SM2/SM3/SM4, sealing, canonical JSON). Import from here. */
export * from './errors.js';
export * from './encoding.js';
export * from './canonical.js';
export * from './sm3.js';
export * from './sm4.js';
export * from './box.js';
