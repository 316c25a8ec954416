import { DomainError } from '../../contracts/errors.js';
import type { RowChunkKey } from '../../formats/row-chunk.js';

/**
 * A row chunk's data key (and its SM2 wrapping) handed to a sealing worker AFTER its task was posted. The worker
 * needs the key only when it seals the chunk, at the end of its segment; the sealer's thread makes and wraps it
 * (newRowChunkKey) right after posting. So a worker no longer waits for the first wrap, which costs ~0.45 s on a
 * fresh thread (SM2 base table, cold JIT) — it starts parsing as soon as it is up.
 *   Int32 state (0 empty, 1 key in, 2 failed) ‖ Int32 wrapped length ‖ 32-byte key ‖ wrapped key (≤ 256 bytes)
 * The taker copies the key out and zeroes the slot's copy; the giver zeroes its own.
 */
const KEY_AT = 8;
const KEY_BYTES = 32;
const WRAPPED_AT = KEY_AT + KEY_BYTES;
const MAX_WRAPPED = 256;

export type KeySlot = SharedArrayBuffer;

export const newKeySlot = (): KeySlot => new SharedArrayBuffer(WRAPPED_AT + MAX_WRAPPED);

/** Put the chunk's key into the slot and wake the worker; the caller's key is zeroed. */
export function giveKey(slot: KeySlot, dataKey: RowChunkKey): void {
  const head = new Int32Array(slot, 0, 2);
  try {
    if (dataKey.key.length !== KEY_BYTES || dataKey.wrappedKey.length > MAX_WRAPPED) throw new DomainError('seal-failed', 'row chunk key does not fit its slot');
    new Uint8Array(slot, KEY_AT, KEY_BYTES).set(dataKey.key);
    new Uint8Array(slot, WRAPPED_AT, dataKey.wrappedKey.length).set(dataKey.wrappedKey);
    head[1] = dataKey.wrappedKey.length;
    Atomics.store(head, 0, 1);
  } catch (e) {
    Atomics.store(head, 0, 2);
    throw e;
  } finally {
    dataKey.key.fill(0);
    Atomics.notify(head, 0);
  }
}

/** The key could not be made: the worker waiting for it fails at once instead of timing out. */
export function failKey(slot: KeySlot): void {
  const head = new Int32Array(slot, 0, 2);
  Atomics.store(head, 0, 2);
  Atomics.notify(head, 0);
}

/** On the worker: wait for the key (normally already there), copy it out, zero the slot. */
export function takeKey(slot: KeySlot, timeoutMs = 60_000): RowChunkKey {
  const head = new Int32Array(slot, 0, 2);
  if (Atomics.wait(head, 0, 0, timeoutMs) === 'timed-out') throw new DomainError('seal-failed', 'the row chunk key did not arrive');
  if (Atomics.load(head, 0) !== 1) throw new DomainError('seal-failed', 'the row chunk key could not be made');
  const keyBytes = new Uint8Array(slot, KEY_AT, KEY_BYTES);
  const key = keyBytes.slice();
  keyBytes.fill(0);
  return { key, wrappedKey: new Uint8Array(slot, WRAPPED_AT, head[1]!).slice() };
}
