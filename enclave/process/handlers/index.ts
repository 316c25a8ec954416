import { admitRows } from './admit-rows.js';
import { budgetSpent } from './budget-spent.js';
import { ping } from './ping.js';
import { publicInfo } from './public-info.js';
import { releaseAggregate } from './release-aggregate.js';
import { signStatement } from './sign-statement.js';
import { sql } from './sql.js';
import { verify } from './verify.js';
import type { EnclaveHandler } from './types.js';

/**
 * The enclave's message table: type → handler. Add a message type with one file in this folder and one
 * line here (e.g. `sql: sql,` after `import { sql } from './sql.js';`).
 */
export const handlers: Record<string, EnclaveHandler> = {
  admitRows,
  budgetSpent,
  ping,
  publicInfo,
  releaseAggregate,
  signStatement,
  sql, verify, // SQL sandbox and query-verification
};
