import { PartialMerge } from './partition-merge.js';
import type { SandboxJob } from './protocol.js';
import { errorOf, SliceDb, type SqlWasm } from './slice-db.js';

/**
 * Every statement a job will run, compiled by SQLite against empty tables before any row is opened. A
 * statement SQLite will not compile (a function given the wrong number of arguments, an expression nested past
 * SQLite's depth limit, …) fails the same way on every dataset: refusing it here makes that failure a fact
 * about the query (`sql-refused`), never one about the rows — so it is not recorded or charged as a
 * data-dependent refusal, and no error raised once the rows are loaded can come from compiling.
 */
export const QUERY_DOES_NOT_COMPILE = {
  type: 'sql-refused',
  message: 'refused before any row was read: SQLite does not compile the query (e.g. a function with the wrong number of arguments, or an expression nested too deeply)',
} as const;

/** undefined when every statement compiles; else the refusal (SQLite's text is not passed on). */
export function compileCheck(sql: SqlWasm, job: SandboxJob): typeof QUERY_DOES_NOT_COMPILE | undefined {
  const statements = [job.executed, job.executedWithoutSubjects, job.partition?.partial, job.partition?.subjects].filter((s): s is string => typeof s === 'string');
  // the job's own table, empty: no cap, no bound, no row
  const slice = new SliceDb(sql, job, 0);
  try {
    for (const s of statements) slice.db.prepare(s).free();
  } catch (e) {
    return notCompiled(e);
  } finally {
    slice.close();
  }
  if (!job.partition) return undefined;
  // the merged outputs' query over the partials' table, run over no group at all
  const db = new sql.SQL.Database();
  try {
    new PartialMerge(job.partition).finish(db);
  } catch (e) {
    return notCompiled(e);
  } finally {
    db.close();
  }
  return undefined;
}

/** A compile error is the query's; the sandbox's memory limit keeps its own type (errorOf). */
function notCompiled(e: unknown): typeof QUERY_DOES_NOT_COMPILE {
  if (errorOf(e, false).type === 'sql-resource-limit') throw e;
  return QUERY_DOES_NOT_COMPILE;
}
