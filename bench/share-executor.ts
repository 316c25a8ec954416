/**
 * A second enclave's share executor for the SQL bench, in a process of its own: it leases shares from the
 * state file given, reads the rows from the blob directory given and runs them, until its parent ends it.
 * Argument: a JSON object { state, blobDir, unwrapKeyHex }. Bench keys only (the bench's own test keypair).
 */
import { fromHex } from '../crypto/index.js';
import { DirectoryBlobReader } from '../enclave/release/blob-reader.js';
import { openEnclaveState } from '../enclave/state/state.js';
import { ShareQueue } from '../enclave/state/share-queue.js';
import { ShareExecutor, shareKeyOf } from '../enclave/sql/shares.js';

const arg = JSON.parse(process.argv[2] ?? '{}') as { state: string; blobDir: string; unwrapKeyHex: string };
const st = await openEnclaveState({ location: arg.state });
const unwrapPrivateKey = fromHex(arg.unwrapKeyHex);
const executor = new ShareExecutor({
  queue: new ShareQueue(st.store),
  key: shareKeyOf(unwrapPrivateKey),
  worker: `bench:${process.pid}`,
  blobs: new DirectoryBlobReader(arg.blobDir, 'flat'),
  unwrapPrivateKey,
  pollMs: 50,
  onError: (e) => console.error('bench share executor:', e instanceof Error ? e.message : e),
});
executor.start();
process.send?.('ready');
process.on('disconnect', () => void executor.stop().then(() => st.close().then(() => process.exit(0))));
