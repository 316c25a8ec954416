import { VerifyComputation } from '../../contracts/computation.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { checkVerifyShape } from '../../contracts/pricing/feasibility.js';
import { DATASET_TABLE } from '../../query/names.js';
import { runSqlInSandbox, type SandboxLimits, type SealedChunks } from '../sandbox/sandbox.js';
import { VerifyAnswer } from '../../formats/enclave-protocol.js';

/**
 * Query-verification (核验): "does the record with this identifier exist with these attribute values?"
 * answered inside the SQL sandbox. Every match names the identifier (a record the buyer already holds), so
 * the answer is about that one record: a yes/no and, when asked, one yes/no per attribute — never a count,
 * a value or anything else. It is outside k and the differencing guard by design (those protect groups). The lookup query is built here (not by the buyer) and the buyer's values are bound as
 * parameters, never spliced into SQL text. Values are compared as the text the owner sealed.
 */

/** The verify refusals: the quote's own check (one implementation), so a buyer sees one answer. */
export function checkVerifyComputation(c: VerifyComputation, schema: DatasetSchema): { identifier: string; others: string[] } {
  return checkVerifyShape(c, schema);
}

/** Build the lookup: bound parameters only; column names come from the schema (checked names). */
export function verifyQuery(c: VerifyComputation, schema: DatasetSchema): { sql: string; params: string[]; flags: string[]; identifier: string } {
  const { identifier, others } = checkVerifyComputation(c, schema);
  const params: string[] = [];
  const eq = (col: string): string => {
    params.push(c.match[col] as string);
    return `(CAST("${col}" AS TEXT) IS ?)`;
  };
  const all = [identifier, ...others];
  const parts = [`COALESCE(MAX(${all.map(eq).join(' AND ')}), 0) AS "match"`];
  const flags: string[] = [];
  if (c.perAttribute) {
    others.forEach((o, i) => {
      parts.push(`COALESCE(MAX(CASE WHEN ${eq(identifier)} THEN ${eq(o)} END), 0) AS "f${i}"`);
      flags.push(o);
    });
  }
  return { sql: `SELECT ${parts.join(', ')} FROM ${DATASET_TABLE}`, params, flags, identifier };
}

export async function answerVerify(input: {
  computation: VerifyComputation;
  schema: DatasetSchema;
  /** streamed (each chunk read as the sandbox goes) or in memory */
  chunks: SealedChunks;
  unwrapPrivateKey: Uint8Array;
  limits?: Partial<SandboxLimits>;
}): Promise<VerifyAnswer> {
  const c = VerifyComputation.parse(input.computation);
  const q = verifyQuery(c, input.schema);
  const out = await runSqlInSandbox({
    schema: input.schema,
    chunks: input.chunks,
    unwrapPrivateKey: input.unwrapPrivateKey,
    plan: { executed: q.sql, groupBy: [], aggregates: 0, hidden: [] },
    params: q.params,
    columns: Object.keys(c.match),
    // every term of the lookup names the identifier: no other row can change the answer, so none is loaded
    ...(typeof c.match[q.identifier] === 'string' ? { lookup: { column: q.identifier, text: c.match[q.identifier] as string } } : {}),
    ...(input.limits ? { limits: input.limits } : {}),
  });
  const row = out.rows[0] ?? [];
  const answer: VerifyAnswer = { kind: 'verify', match: row[0] === 1 };
  if (c.perAttribute) answer.perAttribute = Object.fromEntries(q.flags.map((name, i) => [name, row[1 + i] === 1]));
  return VerifyAnswer.parse(answer);
}
