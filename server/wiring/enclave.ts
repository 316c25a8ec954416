import type { Logger } from 'pino';

/** The running enclave as the server uses it: C's EnclaveClient plus liveness. */
export interface EnclaveHandle {
  client: EnclaveClientLike;
  isUp(): boolean;
  stop(): Promise<void>;
}

/** The subset of C's EnclaveClient (enclave/process/client.ts) the server calls. */
export interface EnclaveClientLike {
  publicInfo(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  [method: string]: unknown;
}

export async function startEnclave(opts: { dataDir: string; masterSecret: string; operatorPublicKeyPem: string; log: Logger }): Promise<EnclaveHandle> {
  const mod = (await import('../../enclave/process/client.js' as string)) as {
    EnclaveClient: { start(o: { dataDir: string; masterSecret: string; operatorPublicKeyPem: string }): Promise<EnclaveClientLike> };
  };
  const client = await mod.EnclaveClient.start({ dataDir: opts.dataDir, masterSecret: opts.masterSecret, operatorPublicKeyPem: opts.operatorPublicKeyPem });
  let up = true;
  return {
    client,
    isUp: () => up,
    async stop() {
      up = false;
      await client.stop();
    },
  };
}
