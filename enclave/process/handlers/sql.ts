import { SqlReleaseRequest, SqlReleaseResponse } from '../../../formats/enclave-protocol.js';
import { releaseParsed } from '../../release/front.js';
import { sqlKind } from '../../sql/release.js';
import { defineHandler } from './types.js';

/** `sql`: an approved restricted-SQL computation over sealed rows, through the release front. */
export const sql = defineHandler({
  request: SqlReleaseRequest,
  response: SqlReleaseResponse,
  handle: (payload, ctx) => releaseParsed(sqlKind, payload, ctx.release) as Promise<SqlReleaseResponse>,
});
