import { z } from 'zod';
import { VerifyComputation } from '../../contracts/computation.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import type { SealedRowChunk } from '../format/row-chunk.js';
import { DATASET_TABLE } from '../sql/names.js';
import { runSqlInSandbox, type SandboxLimits } from '../sql/sandbox.js';

/**
 * Query-verification (核验): "does a record with these identifier/attribute values exist, and do these
 * attributes match?" answered inside the SQL sandbox. The answer is a yes/no and, when asked and an
 * identifier is given, one yes/no per attribute for that identifier's record — never a count, a value or
 * anything else. The lookup query is built here (not by the buyer) and the buyer's values are bound as
 * parameters, never spliced into SQL text. Values are compared as the text the owner sealed.
 */

export const VerifyAnswer = z
  .object({ kind: z.literal('verify'), match: z.boolean(), perAttribute: z.record(z.string(), z.boolean()).optional() })
  .strict();
export type VerifyAnswer = z.infer<typeof VerifyAnswer>;

/** Which columns may be matched: never measures (an equality oracle on amounts invites guessing games). */
export function checkVerifyComputation(c: VerifyComputation, schema: DatasetSchema): { identifier?: string; others: string[] } {
  const names = Object.keys(c.match);
  if (names.length === 0) throw new DomainError('verify-refused', 'name at least one column to match');
  if (names.length > 16) throw new DomainError('verify-refused', 'at most 16 columns per verification');
  let identifier: string | undefined;
  const others: string[] = [];
  for (const n of names) {
    const col = schema.columns.find((x) => x.name === n);
    if (!col) throw new DomainError('verify-refused', `column "${n}" is not in the dataset's schema`, { column: n });
    if (col.role === 'measure') throw new DomainError('verify-refused', `measure "${n}" cannot be verified (identifier, attribute and dimension columns only)`, { column: n });
    if (col.role === 'identifier') identifier = n;
    else others.push(n);
  }
  if (c.perAttribute && !identifier) {
    throw new DomainError('verify-refused', 'per-attribute flags need the identifier (they describe that one record)');
  }
  if (c.perAttribute && others.length === 0) throw new DomainError('verify-refused', 'per-attribute flags need at least one attribute to compare');
  return { ...(identifier ? { identifier } : {}), others };
}

/** Build the lookup: bound parameters only; column names come from the schema (checked names). */
export function verifyQuery(c: VerifyComputation, schema: DatasetSchema): { sql: string; params: string[]; flags: string[] } {
  const { identifier, others } = checkVerifyComputation(c, schema);
  const params: string[] = [];
  const eq = (col: string): string => {
    params.push(c.match[col] as string);
    return `(CAST("${col}" AS TEXT) IS ?)`;
  };
  const all = [...(identifier ? [identifier] : []), ...others];
  const parts = [`COALESCE(MAX(${all.map(eq).join(' AND ')}), 0) AS "match"`];
  const flags: string[] = [];
  if (c.perAttribute && identifier) {
    others.forEach((o, i) => {
      parts.push(`COALESCE(MAX(CASE WHEN ${eq(identifier)} THEN ${eq(o)} END), 0) AS "f${i}"`);
      flags.push(o);
    });
  }
  return { sql: `SELECT ${parts.join(', ')} FROM ${DATASET_TABLE}`, params, flags };
}

export async function answerVerify(input: {
  computation: VerifyComputation;
  schema: DatasetSchema;
  chunks: { sealed: SealedRowChunk; aad: Uint8Array }[];
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
    ...(input.limits ? { limits: input.limits } : {}),
  });
  const row = out.rows[0] ?? [];
  const answer: VerifyAnswer = { kind: 'verify', match: row[0] === 1 };
  if (c.perAttribute) answer.perAttribute = Object.fromEntries(q.flags.map((name, i) => [name, row[1 + i] === 1]));
  return VerifyAnswer.parse(answer);
}
