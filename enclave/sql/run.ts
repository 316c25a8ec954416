import { DomainError, isDomainError } from '../../contracts/errors.js';
import { sqlRefusal } from '../../contracts/pricing/feasibility.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import { applyOutputGate, type GateBudget, type GroupResult, type OutputPolicy, type OutputSpec, type PrivacyApplied } from '../privacy/gate.js';
import type { DifferencingGuard } from '../privacy/differencing.js';
import type { DimPredicate } from '../../query/predicates.js';
import { declaredDimensions, guardRowsOf, type RowMap } from '../privacy/row-map.js';
import { plannedGroupKeys } from '../../query/planned-groups.js';
import { runSqlInSandbox, type SandboxInput, type SandboxLimits, type SandboxStats, type SealedChunks } from '../sandbox/sandbox.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { runSqlShared, type SharedRun } from './shares.js';
import { dpDomain, exactReleaseSets, validateSql, type SqlMode } from '../../query/validate.js';

/**
 * A SQL computation end to end inside the enclave: check the query in the offer's language (exact or DP,
 * validate.ts) → run it in the sandbox (at most maxRowsPerPerson rows per person; DP: arguments clamped) →
 * output gate (exact: k-suppression and the differencing defence; DP: the whole public domain noised, ε
 * charged) → the result a receipt names.
 */

export interface SqlRunRequest {
  query: string;
  schema: DatasetSchema;
  /** DP: the buyer's narrower clamp bounds per measure (part of the approved computation) */
  clamp?: Record<string, [number, number]>;
  /** in memory, or read from the blob store as the sandbox goes (row-chunks.ts streamRowChunks) */
  chunks: SealedChunks;
  unwrapPrivateKey: Uint8Array;
  policy: OutputPolicy;
  /** the SM3 hash of the normalised query the reviewer approved; the run is refused if it differs */
  approvedHash?: string;
  budget?: GateBudget;
  /**
   * record exact releases in the dataset version's history and refuse differencing (required in production
   * for exact releases); `rowMap`: the version's row map (dimension codes, subjects), or how to get it
   */
  differencing?: { guard: DifferencingGuard; buyerOrgId: string; datasetId: string; rowMap: RowMap | (() => Promise<RowMap>) };
  limits?: Partial<SandboxLimits>;
  /**
   * A cluster's enclaves sharing the run (shares.ts): split into `count` shares when it is large enough; the
   * manifest lets another enclave read the rows itself
   */
  shares?: Pick<SharedRun, 'queue' | 'key' | 'worker'> & { count: number; manifest: BundleManifest };
}

export interface SqlReleasedGroup {
  key: string[];
  values: Record<string, number | string | null>;
}

export interface SqlRunResult {
  kind: 'sql';
  normalizedQuery: string;
  queryHash: string;
  outputs: string[];
  groupBy: string[];
  /** exact: the released groups only (an absent key is empty or withheld); DP: every key of the public domain */
  groups: SqlReleasedGroup[];
  privacy: PrivacyApplied;
  stats: SandboxStats & { wallMs: number };
}

/** The language a policy admits: DP when the offer noises its releases, exact otherwise (and in exact-for-tests). */
export function sqlModeOf(policy: OutputPolicy): SqlMode {
  return policy.dp && policy.mode !== 'exact-for-tests' ? 'dp' : 'exact';
}

/**
 * An error once the rows are open is a yes/no answer about them (the executed form is built not to raise,
 * validate.ts): a privacy refusal, recorded and charged like any data-dependent one, and never SQLite's text.
 * Resource limits (memory, time) keep their own types.
 */
export function asPrivacyRefusal(e: unknown): unknown {
  if (!isDomainError(e) || e.type !== 'sql-execution-failed') return e;
  return new DomainError('privacy-execution-refused', 'refused: the query could not be evaluated over the rows; the refusal is recorded and charged');
}

export async function runSqlComputation(req: SqlRunRequest): Promise<SqlRunResult> {
  const mode = sqlModeOf(req.policy);
  const v = validateSql(req.query, req.schema, { mode, ...(req.clamp ? { clamp: req.clamp } : {}) });
  if (!v.ok) {
    // the same problem the quote gives for this query (a privacy rule's own type where one fired)
    throw sqlRefusal(v.errors);
  }
  if (req.approvedHash !== undefined && req.approvedHash !== v.hash) {
    throw new DomainError('computation-hash-mismatch', 'the query is not the one that was approved', { approved: req.approvedHash, actual: v.hash });
  }
  const dp = mode === 'dp';
  const guardOn = !!req.differencing && !dp && req.policy.mode !== 'exact-for-tests';
  // the person is the unit on every path: each person's first m rows feed exact and DP releases alike
  // (a test enclave's 'exact-for-tests' reads every row)
  const maxRowsPerPerson = req.policy.mode === 'exact-for-tests' ? undefined : (req.policy.maxRowsPerPerson ?? 1);
  // the guard's rows (from the row map, before any row is read here): a missing map fails the release early
  const guardRows = guardOn
    ? guardRowsOf(typeof req.differencing!.rowMap === 'function' ? await req.differencing!.rowMap() : req.differencing!.rowMap, maxRowsPerPerson)
    : undefined;
  // the groups the query can hold, from the query alone: all are released or none (the gate's wholeRelease)
  const planned = guardOn ? plannedGroupKeys(v.plan.selection!.where, v.plan.groupBy, declaredDimensions(req.schema)) : undefined;

  const input: SandboxInput = {
    schema: req.schema,
    chunks: req.chunks,
    unwrapPrivateKey: req.unwrapPrivateKey,
    plan: v.plan,
    // load only what the query reads, plus the identifier (k counts people; rows are capped per person)
    columns: [...v.columnsUsed, ...req.schema.columns.filter((c) => c.role === 'identifier').map((c) => c.name)],
    ...(maxRowsPerPerson !== undefined ? { maxRowsPerPerson } : {}),
    ...(dp ? {} : { minGroupSize: req.policy.minGroupSize }),
    ...(req.limits ? { limits: req.limits } : {}),
  };
  const sh = req.shares;
  const running =
    sh && sh.count > 1
      ? runSqlShared(input, {
          queue: sh.queue,
          key: sh.key,
          worker: sh.worker,
          shares: sh.count,
          task: {
            query: req.query,
            mode,
            ...(req.clamp ? { clamp: req.clamp } : {}),
            queryHash: v.hash,
            schema: req.schema,
            manifest: sh.manifest,
            columns: input.columns!,
            ...(input.maxRowsPerPerson !== undefined ? { maxRowsPerPerson: input.maxRowsPerPerson } : {}),
            ...(input.minGroupSize !== undefined ? { minGroupSize: input.minGroupSize } : {}),
          },
        })
      : runSqlInSandbox(input);
  const out = await running.catch((e: unknown) => {
    throw asPrivacyRefusal(e);
  });

  if (guardRows && out.stats.rowsLoaded !== guardRows.rowCount) {
    throw new DomainError('privacy-row-map-mismatch', `the row map holds ${guardRows.rowCount} rows, the sealed chunks ${out.stats.rowsLoaded}`);
  }
  const { groups: answered, bounds, specs, valueOutputs } = gateInput(v, out);
  const groups = planned ? withPlannedGroups(answered, planned, [...valueOutputs.map((o) => o.name), ...v.plan.hidden], out.columns.includes('__subjects')) : answered;
  const keyOf = (k: string[]): string => JSON.stringify(k);
  const byKey = new Map(groups.map((g) => [keyOf(g.key), g]));

  const gated = await applyOutputGate(
    groups.map(({ index: _i, ...g }) => g) as GroupResult[],
    req.policy,
    {
      bounds,
      outputs: specs,
      ...(dp ? { domain: dpDomain(req.schema, v.plan.groupBy), hidden: v.plan.hidden } : {}),
      ...(req.budget ? { budget: req.budget } : {}),
      ...(planned ? { wholeRelease: true } : {}),
      ...(guardOn && guardRows
        ? {
            beforeRelease: (released: GroupResult[]) => {
              const d = req.differencing!;
              const sets: DimPredicate[] = released.flatMap((g) => exactReleaseSets(v.plan, g.key));
              return d.guard.checkAndRecord({
                buyerOrgId: d.buyerOrgId,
                datasetId: d.datasetId,
                k: req.policy.minGroupSize,
                dimensions: declaredDimensions(req.schema),
                rows: guardRows,
                sets,
                // every group of the query, released or not: the guard's complexity caps depend on the query alone
                planned: {
                  groupBy: v.plan.groupBy,
                  predicates: [v.plan.selection!.where, ...v.plan.selection!.conditions].filter((p): p is DimPredicate => p !== null),
                  setsPerGroup: Math.max(1, v.plan.selection!.conditions.length),
                },
              });
            },
          }
        : {}),
    },
  );

  const released: SqlReleasedGroup[] = gated.groups.map((g) => {
    const raw = dp ? undefined : byKey.get(keyOf(g.key));
    const values: Record<string, number | string | null> = {};
    for (const o of v.outputs) {
      if (o.kind === 'dimension') values[o.name] = g.key[v.plan.groupBy.indexOf(o.column as string)] ?? null;
      // exact: an aggregate of no rows stays NULL, as in SQLite (the hidden parts are never copied out)
      else values[o.name] = raw && raw.values[o.name] === null ? null : ((g.values[o.name] as number | null | undefined) ?? null);
    }
    return { key: g.key, values };
  });
  return {
    kind: 'sql',
    normalizedQuery: v.normalized,
    queryHash: v.hash,
    outputs: v.outputs.map((o) => o.name),
    groupBy: v.plan.groupBy,
    groups: released,
    privacy: gated.privacy,
    stats: { ...out.stats, wallMs: out.stats.wallMs },
  };
}

/**
 * What the gate is given for a checked query's sandbox answer: one group per answered key (values by output and
 * hidden part; a non-number is NULL), and per output its per-row bounds and aggregate (a mean names its parts).
 */
export function gateInput(
  v: Extract<ReturnType<typeof validateSql>, { ok: true }>,
  out: { columns: string[]; rows: unknown[][] },
): { groups: (GroupResult & { index: number })[]; bounds: Record<string, [number, number]>; specs: Record<string, OutputSpec>; valueOutputs: typeof v.outputs } {
  const idx = (name: string): number => out.columns.indexOf(name);
  const gCols = v.plan.groupBy.map((_, i) => idx(`__g${i}`));
  const rowsCol = idx('__rows');
  const subjCol = idx('__subjects');
  const valueOutputs = v.outputs.filter((o) => o.kind !== 'dimension');
  const valueNames = [...valueOutputs.map((o) => o.name), ...v.plan.hidden];
  const groups: (GroupResult & { index: number })[] = out.rows.map((r, i) => {
    const values: Record<string, number | null> = {};
    for (const name of valueNames) {
      const x = r[idx(name)];
      values[name] = typeof x === 'number' ? x : null;
    }
    return {
      index: i,
      key: gCols.map((c) => String(r[c])),
      rows: Number(r[rowsCol]),
      ...(subjCol >= 0 ? { subjects: Number(r[subjCol]) } : {}),
      values,
    };
  });

  const bounds: Record<string, [number, number]> = {};
  const specs: Record<string, OutputSpec> = {};
  for (const o of valueOutputs) {
    if (o.bounds) bounds[o.name] = o.bounds;
    if (o.aggregate) specs[o.name] = { kind: o.aggregate, scale: o.scale, ...(o.parts ? { parts: o.parts } : {}) };
    if (o.parts && o.bounds) {
      // a mean's parts: the clamped sum over its rows (per-row bounds of the mean) and the count of them
      bounds[o.parts.sum] = o.bounds;
      bounds[o.parts.count] = [0, 1];
    }
  }
  return { groups, bounds, specs, valueOutputs };
}

/**
 * The SQL output's groups in planned terms: a planned group with no row (SQLite lists none) joins as an empty
 * group, so the gate treats it like one below k; an ungrouped query's row whose selection no declared value
 * satisfies is not a group the query can hold (its emptiness follows from the query) and is dropped.
 */
function withPlannedGroups(rows: (GroupResult & { index: number })[], planned: string[][], valueNames: string[], bySubjects: boolean): (GroupResult & { index: number })[] {
  const keyOf = (k: string[]): string => JSON.stringify(k);
  const wanted = new Set(planned.map(keyOf));
  const kept = rows.filter((g) => wanted.has(keyOf(g.key)));
  const have = new Set(kept.map((g) => keyOf(g.key)));
  const empty = planned
    .filter((k) => !have.has(keyOf(k)))
    .map((key, j) => ({ index: rows.length + j, key, rows: 0, ...(bySubjects ? { subjects: 0 } : {}), values: Object.fromEntries(valueNames.map((n) => [n, null])) }));
  return [...kept, ...empty];
}
