import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { fromB64, sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem, toB64 } from '../../crypto/index.js';
import { signReceipt } from '../../formats/receipt.js';
import { saveProfile } from '../../client-sdk/cli/profiles.js';
import { sampleReceiptPayload } from '../sdk/receipt-fixture.js';
import { CliUser } from './harness.js';

/** `shuyu verify RECEIPT.json [--pub PEM]`: exit 0 valid, 1 invalid (tampered or foreign key), 2 no trust anchor. */
describe('shuyu verify (CLI, offline; spawned and in-process)', function () {
  this.timeout(120_000);
  const user = new CliUser('verifier');
  const enclave = sm2KeyPair();
  const receipt = signReceipt(sampleReceiptPayload(), enclave);
  const dir = user.configHome;
  const file = (name: string, value: unknown): string => {
    const p = join(dir, name);
    writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    return p;
  };
  const pub = file('enclave.pem', sm2PublicKeyToPem(enclave.publicKey));
  after(() => user.cleanup());

  it('a genuine receipt is valid against --pub (exit 0) and the JSON names the payload', async () => {
    const r = await user.spawned(['verify', file('ok.json', receipt), '--pub', pub, '--json']);
    expect(r.code).to.equal(0);
    expect(r.json.valid).to.equal(true);
    expect(r.json.payload.tradeId).to.equal('01932c6e-7d2a-7cc1-8f00-000000000002');
    const human = await user.spawned(['verify', join(dir, 'ok.json'), '--pub', pub]);
    expect(human.code).to.equal(0);
    expect(human.stdout).to.match(/^VALID receipt/);
  });

  it('one changed byte in the payload, the signature or the key → exit 1 with a reason', async () => {
    const der = fromB64(receipt.signature);
    der[der.length - 1]! ^= 0x01;
    const pemLines = receipt.publicKeyPem.split('\n');
    pemLines[1] = (pemLines[1]![5] === 'A' ? 'B' : 'A') + pemLines[1]!.slice(1);
    const cases = {
      payload: { ...receipt, payload: receipt.payload.replace('"priceFen":12000', '"priceFen":12001') },
      signature: { ...receipt, signature: toB64(der) },
      key: { ...receipt, publicKeyPem: pemLines.join('\n') },
    };
    for (const [what, bad] of Object.entries(cases)) {
      const r = what === 'payload' ? await user.spawned(['verify', file(`bad-${what}.json`, bad), '--pub', pub, '--json']) : await user.run(['verify', file(`bad-${what}.json`, bad), '--pub', pub, '--json']);
      expect(r.code, what).to.equal(1);
      expect(r.json.valid, what).to.equal(false);
      expect(r.json.reason, what).to.be.a('string').and.not.equal('');
    }
  });

  it('a receipt signed by another key is invalid against the pinned key (profile) and against --pub', async () => {
    saveProfile('default', {
      url: 'http://127.0.0.1:9',
      token: 'unused',
      enclave: { publicKeyPem: sm2PublicKeyToPem(enclave.publicKey), fingerprint: sm2Fingerprint(enclave.publicKey), pinnedAt: new Date().toISOString() },
    }, { XDG_CONFIG_HOME: user.configHome });
    const forged = file('forged.json', signReceipt(sampleReceiptPayload(), sm2KeyPair()));
    const viaPin = await user.run(['verify', forged, '--json']);
    expect(viaPin.code).to.equal(1);
    expect(viaPin.json.reason).to.match(/pinned/);
    const viaPub = await user.run(['verify', forged, '--pub', pub, '--json']);
    expect(viaPub.code).to.equal(1);
    const genuineViaPin = await user.run(['verify', join(dir, 'ok.json'), '--json']);
    expect(genuineViaPin.code).to.equal(0);
  });

  it('no trust anchor, or an unreadable file → exit 2', async () => {
    const stranger = new CliUser('stranger');
    try {
      const r = await stranger.spawned(['verify', join(dir, 'ok.json'), '--json']);
      expect(r.code).to.equal(2);
      expect(r.json.error.type).to.equal('usage');
      const missing = await stranger.run(['verify', join(dir, 'nope.json'), '--pub', pub]);
      expect(missing.code).to.equal(2);
    } finally {
      stranger.cleanup();
    }
  });
});
