/**
 * Mocha global fixture (.mocharc.json `require`): compiles dist/ once before any test file loads (skipped when
 * it is current), so the processes tests spawn — servers, enclave workers, the `shuyu` CLI — start as
 * production starts them, on plain node, instead of loading the TypeScript sources through tsx each time —
 * the enclave processes forked by servers that run inside the test process included.
 */
import { buildDist } from '../scripts/build.js';

export async function mochaGlobalSetup(): Promise<void> {
  await buildDist();
  // the enclave processes of in-process servers too (server/enclave/client.ts); workers inherit the variable
  process.env.SHUYU_ENCLAVE_FROM_DIST = '1';
}
