import type { z } from 'zod';
import type { HeContext, HeDecryptor } from '../../../he/seal.js';
import type { Keystore } from '../../keystore/keystore.js';
import type { PrivacyBudgetLedger } from '../../privacy/ledger.js';
import type { EnclavePublicInfo } from '../../../formats/enclave-protocol.js';
import type { BlobReader } from '../../release/blob-reader.js';
import type { ReleaseDeps } from '../../release/front.js';
import type { RowMaps } from '../../release/row-map.js';

/** What every handler may use inside the enclave process. */
export interface EnclaveContext {
  dataDir: string;
  keystore: Keystore;
  he: HeContext;
  decryptor: HeDecryptor;
  ledger: PrivacyBudgetLedger;
  publicInfo: EnclavePublicInfo;
  /** SHUYU_ENCLAVE_TEST_MODE=1 in the enclave's own environment: accepts policy mode 'exact-for-tests'. */
  testMode: boolean;
  /** the blob store the enclave reads sealed row chunks from (read-only) */
  blobs: BlobReader;
  rowMaps: RowMaps;
  /** what every release (aggregate, sql, verify) runs with: the release front's dependencies */
  release: ReleaseDeps;
}

/** One message type: its request and response schemas (validated by the dispatcher) and its handler. */
export interface EnclaveHandler<Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  request: Req;
  response: Res;
  handle(payload: z.output<Req>, ctx: EnclaveContext): Promise<z.input<Res>> | z.input<Res>;
}

export const defineHandler = <Req extends z.ZodType, Res extends z.ZodType>(h: EnclaveHandler<Req, Res>): EnclaveHandler<Req, Res> => h;
