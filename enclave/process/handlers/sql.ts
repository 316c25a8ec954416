import { SqlReleaseRequest, SqlReleaseResponse } from '../../../formats/enclave-protocol.js';
import { releaseSql } from '../../sql/release.js';
import { defineHandler } from './types.js';

/** `sql`: run an approved restricted-SQL computation over sealed rows in the sandbox and sign the receipt. */
export const sql = defineHandler({
  request: SqlReleaseRequest,
  response: SqlReleaseResponse,
  handle: (payload, ctx) => releaseSql(payload, ctx.release),
});
