/**
 * SM2 key files exactly as OpenSSL 3 writes them:
 *  - public:  SubjectPublicKeyInfo (RFC 5280 §4.1.2.7 / RFC 5480) with id-ecPublicKey and the SM2
 *             curve OID 1.2.156.10197.1.301 as parameters, uncompressed point; PEM "PUBLIC KEY".
 *  - private: PKCS#8 PrivateKeyInfo (RFC 5208) wrapping an RFC 5915 ECPrivateKey (version 1, d as 32
 *             octets, [1] public key, parameters omitted since the AlgorithmIdentifier has them);
 *             PEM "PRIVATE KEY". Encrypted PKCS#8 is not accepted.
 */
import { bytesEqual, fromB64, toB64 } from './encoding.js';
import { DerReader, derBits, derOctets, derOid, derSequence, derTop, derUint, TAG, tlv } from './der.js';
import { CryptoError } from './errors.js';
import { sm2AssertPublicKey, sm2PublicFromPrivate } from './sm2.js';
import { sm3Hex } from './sm3.js';

const OID_EC_PUBLIC_KEY = derOid('1.2.840.10045.2.1');
const OID_SM2 = derOid('1.2.156.10197.1.301');
const ALGORITHM = derSequence(OID_EC_PUBLIC_KEY, OID_SM2);

function pemArmor(label: string, der: Uint8Array): string {
  const b64 = toB64(der);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function pemUnarmor(label: string, pem: string): Uint8Array {
  if (typeof pem !== 'string') throw new CryptoError('bad-pem', 'PEM must be a string');
  const m = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END ([A-Z0-9 ]+)-----\s*$/.exec(pem);
  if (!m) throw new CryptoError('bad-pem', `not a single PEM block`);
  if (m[1] !== label || m[3] !== label) throw new CryptoError('bad-pem', `expected PEM "${label}", got "${m[1]}"`);
  try {
    return fromB64(m[2]!.replace(/\r?\n/g, ''));
  } catch {
    throw new CryptoError('bad-pem', 'PEM body is not base64');
  }
}

function readAlgorithm(r: DerReader): void {
  const alg = r.readConstructed();
  const oid1 = alg.read(TAG.OID);
  const oid2 = alg.read(TAG.OID);
  alg.end_();
  if (!bytesEqual(tlv(TAG.OID, oid1), OID_EC_PUBLIC_KEY) || !bytesEqual(tlv(TAG.OID, oid2), OID_SM2)) {
    throw new CryptoError('bad-pem', 'not an SM2 key (expected id-ecPublicKey with curve 1.2.156.10197.1.301)');
  }
}

/** Wraps DER-level errors (bad-encoding) as bad-pem, keeping other CryptoErrors (bad-key) as they are. */
function asPemError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof CryptoError && e.code !== 'bad-encoding') throw e;
    throw new CryptoError('bad-pem', `malformed key structure: ${(e as Error).message}`);
  }
}

export function sm2PublicKeyToDer(publicKey: Uint8Array): Uint8Array {
  sm2AssertPublicKey(publicKey);
  return derSequence(ALGORITHM, derBits(publicKey));
}

export function sm2PublicKeyFromDer(der: Uint8Array): Uint8Array {
  return asPemError(() => {
    const spki = derTop(der);
    readAlgorithm(spki);
    const point = spki.readBits().slice();
    spki.end_();
    sm2AssertPublicKey(point); // on-curve check; throws bad-key
    return point;
  });
}

export const sm2PublicKeyToPem = (publicKey: Uint8Array): string => pemArmor('PUBLIC KEY', sm2PublicKeyToDer(publicKey));
export const sm2PublicKeyFromPem = (pem: string): Uint8Array => sm2PublicKeyFromDer(pemUnarmor('PUBLIC KEY', pem));

export function sm2PrivateKeyToDer(privateKey: Uint8Array): Uint8Array {
  const publicKey = sm2PublicFromPrivate(privateKey); // validates d
  const ecPrivateKey = derSequence(derUint(1n), derOctets(privateKey), tlv(0xa1, derBits(publicKey)));
  return derSequence(derUint(0n), ALGORITHM, derOctets(ecPrivateKey));
}

export function sm2PrivateKeyFromDer(der: Uint8Array): Uint8Array {
  return asPemError(() => {
    const info = derTop(der);
    if (info.readUint() !== 0n) throw new CryptoError('bad-pem', 'unsupported PKCS#8 version');
    readAlgorithm(info);
    const inner = info.readOctets();
    // optional [0] attributes are not written by OpenSSL for SM2 keys; refuse anything else
    info.end_();
    const ec = derTop(inner);
    if (ec.readUint() !== 1n) throw new CryptoError('bad-pem', 'unsupported ECPrivateKey version');
    const dRaw = ec.readOctets();
    if (dRaw.length === 0 || dRaw.length > 32) throw new CryptoError('bad-key', 'SM2 private key must be at most 32 bytes');
    const d = new Uint8Array(32);
    d.set(dRaw, 32 - dRaw.length);
    let embeddedPublic: Uint8Array | undefined;
    if (ec.peekTag() === 0xa0) {
      const params = ec.readConstructed(0xa0);
      if (!bytesEqual(tlv(TAG.OID, params.read(TAG.OID)), OID_SM2)) throw new CryptoError('bad-pem', 'ECPrivateKey parameters are not SM2');
      params.end_();
    }
    if (ec.peekTag() === 0xa1) {
      const pub = ec.readConstructed(0xa1);
      embeddedPublic = pub.readBits();
      pub.end_();
    }
    ec.end_();
    const derived = sm2PublicFromPrivate(d); // validates range
    if (embeddedPublic && !bytesEqual(embeddedPublic, derived)) throw new CryptoError('bad-key', 'embedded public key does not match the private key');
    return d;
  });
}

export const sm2PrivateKeyToPem = (privateKey: Uint8Array): string => pemArmor('PRIVATE KEY', sm2PrivateKeyToDer(privateKey));
export const sm2PrivateKeyFromPem = (pem: string): Uint8Array => sm2PrivateKeyFromDer(pemUnarmor('PRIVATE KEY', pem));

/** The "key fingerprint" used everywhere in Shuyu: SM3 hex of the SubjectPublicKeyInfo DER. */
export const sm2Fingerprint = (publicKey: Uint8Array): string => sm3Hex(sm2PublicKeyToDer(publicKey));

/** Fingerprint straight from a public-key PEM. */
export const sm2FingerprintFromPem = (pem: string): string => sm2Fingerprint(sm2PublicKeyFromPem(pem));
