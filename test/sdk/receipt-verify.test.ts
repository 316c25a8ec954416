import { expect } from 'chai';
import fc from 'fast-check';
import { fromB64, sm2KeyPair, sm2PublicKeyToPem, toB64 } from '../../crypto/index.js';
import { signReceipt } from '../../formats/receipt.js';
import { BuyerClient } from '../../client-sdk/sdk/buyer.js';
import { sampleReceiptPayload } from './receipt-fixture.js';

/**
 * The buyer's offline receipt check (BuyerClient.verifyReceipt, the same call `shuyu verify` makes):
 * every changed character of the payload, the signature or the key, every flipped bit of the DER
 * signature, and a receipt made by any key other than the pinned enclave key are all invalid.
 */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** One different character at position i: another base64 letter inside base64, 'A'/'B' elsewhere. */
function changeAt(s: string, i: number): string {
  const c = s[i]!;
  const alt = BASE64.includes(c) ? BASE64[(BASE64.indexOf(c) + 1 + (i % 63)) % 64]! : c === 'A' ? 'B' : 'A';
  return s.slice(0, i) + alt + s.slice(i + 1);
}

describe('receipt verification in the SDK (offline, pinned enclave key)', () => {
  const enclave = sm2KeyPair();
  const receipt = signReceipt(sampleReceiptPayload(), enclave);
  const buyer = new BuyerClient({
    url: 'http://127.0.0.1:9',
    pinned: { publicKeyPem: sm2PublicKeyToPem(enclave.publicKey), fingerprint: 'x'.repeat(64), pinnedAt: '2026-11-23T00:00:00.000Z' },
  });

  it('accepts the untouched receipt and returns its payload', () => {
    const r = buyer.verifyReceipt(receipt);
    expect(r.valid).to.equal(true);
    if (r.valid) expect(r.payload.tradeId).to.equal('01932c6e-7d2a-7cc1-8f00-000000000002');
  });

  for (const field of ['payload', 'signature', 'publicKeyPem', 'signerId', 'algorithm'] as const) {
    it(`rejects every single changed character of ${field}`, () => {
      const text = receipt[field];
      const accepted: number[] = [];
      for (let i = 0; i < text.length; i++) {
        if (buyer.verifyReceipt({ ...receipt, [field]: changeAt(text, i) }).valid) accepted.push(i);
      }
      expect(accepted, `positions accepted after a change: ${accepted.join(',')}`).to.deep.equal([]);
    });
  }

  it('rejects every flipped bit of the DER signature', () => {
    const der = fromB64(receipt.signature);
    for (let bit = 0; bit < der.length * 8; bit++) {
      const bad = Uint8Array.from(der);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(buyer.verifyReceipt({ ...receipt, signature: toB64(bad) }).valid, `bit ${bit}`).to.equal(false);
    }
  });

  it('rejects a well-formed receipt signed by any key other than the pinned one (fast-check)', () => {
    fc.assert(
      fc.property(fc.constant(null), () => {
        const other = sm2KeyPair();
        const forged = signReceipt(sampleReceiptPayload(), other);
        const r = buyer.verifyReceipt(forged);
        return !r.valid && /pinned/.test(r.reason);
      }),
      { numRuns: 20 },
    );
  });

  it('rejects truncated, extended and non-object input, and refuses without a pinned key', () => {
    expect(buyer.verifyReceipt({ ...receipt, payload: receipt.payload.slice(0, -1) }).valid).to.equal(false);
    expect(buyer.verifyReceipt({ ...receipt, payload: receipt.payload + ' ' }).valid).to.equal(false);
    expect(buyer.verifyReceipt({ ...receipt, extra: 1 }).valid).to.equal(false);
    expect(buyer.verifyReceipt('not a receipt').valid).to.equal(false);
    expect(buyer.verifyReceipt(null).valid).to.equal(false);
    const unpinned = new BuyerClient({ url: 'http://127.0.0.1:9' });
    expect(unpinned.verifyReceipt(receipt)).to.deep.equal({ valid: false, reason: 'no enclave key pinned: call pinEnclave() first' });
  });
});
