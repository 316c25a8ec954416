import { expect } from 'chai';
import { Worker } from 'node:worker_threads';
import { DomainError } from '../../contracts/errors.js';
import { sm2Decrypt, sm2KeyPair } from '../../crypto/index.js';
import { newRowChunkKey } from '../../formats/row-chunk.js';
import { failKey, giveKey, newKeySlot, takeKey } from '../../client-sdk/dataset/key-slot.js';

const typeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof DomainError ? e.type : 'untyped';
  }
  return undefined;
};

describe('client-sdk/dataset: a row chunk key handed to a sealing worker after its task (key-slot)', () => {
  const kp = sm2KeyPair();

  it('the worker gets exactly the key and its wrapping; both sides zero their copies', () => {
    const slot = newKeySlot();
    const dk = newRowChunkKey(kp.publicKey);
    const key = dk.key.slice();
    giveKey(slot, dk);
    expect([...dk.key].every((b) => b === 0)).to.equal(true);
    const got = takeKey(slot);
    expect(Buffer.from(got.key).equals(Buffer.from(key))).to.equal(true);
    expect(Buffer.from(sm2Decrypt(kp.privateKey, got.wrappedKey)).equals(Buffer.from(key))).to.equal(true);
    expect(Buffer.from(slot).includes(Buffer.from(key))).to.equal(false);
  });

  it('a key given while the worker waits wakes it (real worker thread)', async () => {
    const slot = newKeySlot();
    const url = new URL('../../client-sdk/dataset/key-slot.ts', import.meta.url).href;
    const w = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.url); })
         .then((m) => { const k = m.takeKey(workerData.slot, 20000); parentPort.postMessage(Buffer.from(k.key).toString('hex')); });`,
      { eval: true, workerData: { slot, url } },
    );
    const answer = new Promise<string>((resolve, reject) => w.once('message', resolve).once('error', reject));
    await new Promise((r) => setTimeout(r, 300)); // the worker is waiting by now (or about to)
    const dk = newRowChunkKey(kp.publicKey);
    const key = Buffer.from(dk.key).toString('hex');
    giveKey(slot, dk);
    expect(await answer).to.equal(key);
    await w.terminate();
  });

  it('a key that could not be made, or never arrives, is a typed error — never a hang', () => {
    const slot = newKeySlot();
    failKey(slot);
    expect(typeOf(() => takeKey(slot))).to.equal('seal-failed');
    expect(typeOf(() => takeKey(newKeySlot(), 20))).to.equal('seal-failed');
    const big = { key: new Uint8Array(32), wrappedKey: new Uint8Array(300) };
    const s2 = newKeySlot();
    expect(typeOf(() => giveKey(s2, big))).to.equal('seal-failed');
    expect(typeOf(() => takeKey(s2))).to.equal('seal-failed');
  });
});
