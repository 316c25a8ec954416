import { DomainError } from '../../contracts/errors.js';
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { SealedRowChunk } from '../format/row-chunk.js';
import { applyOutputGate, type GateBudget, type GroupResult, type OutputPolicy, type OutputSpec, type PrivacyApplied } from '../privacy/gate.js';
import type { DifferencingGuard } from '../privacy/differencing.js';
import { runSqlInSandbox, type SandboxLimits, type SandboxStats } from './sandbox.js';
import { validateSql } from './validate.js';

/**
 * A SQL computation end to end inside the enclave: check the query → run it in the sandbox → output gate
 * (k-suppression, DP and ε charge, differencing defence for exact releases) → the result a receipt names.
 */

export interface SqlRunRequest {
  query: string;
  schema: DatasetSchema;
  chunks: { sealed: SealedRowChunk; aad: Uint8Array }[];
  unwrapPrivateKey: Uint8Array;
  policy: OutputPolicy;
  /** the SM3 hash of the normalised query the reviewer approved; the run is refused if it differs */
  approvedHash?: string;
  budget?: GateBudget;
  /** record exact releases per buyer × dataset and refuse differencing (required in production for exact releases) */
  differencing?: { guard: DifferencingGuard; buyerOrgId: string; datasetId: string; rowCount: number };
  limits?: Partial<SandboxLimits>;
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
  groups: SqlReleasedGroup[];
  suppressed: string[][];
  privacy: PrivacyApplied;
  stats: SandboxStats & { wallMs: number };
}

export async function runSqlComputation(req: SqlRunRequest): Promise<SqlRunResult> {
  const v = validateSql(req.query, req.schema);
  if (!v.ok) {
    throw new DomainError('sql-refused', v.errors.map((e) => `${e.clause}: ${e.rule}: ${e.message}`).join('; '), { errors: v.errors });
  }
  if (req.approvedHash !== undefined && req.approvedHash !== v.hash) {
    throw new DomainError('computation-hash-mismatch', 'the query is not the one that was approved', { approved: req.approvedHash, actual: v.hash });
  }
  const exact = req.policy.mode === 'exact-for-tests';
  const dp = !!req.policy.dp && !exact;
  if (dp) {
    const bad = v.outputs.filter((o) => o.kind === 'derived' || (o.kind === 'aggregate' && !o.bounds));
    if (bad.length > 0) {
      throw new DomainError('privacy-unsupported-output', `a differentially private release needs each output to be one aggregate of bounded values; not: ${bad.map((o) => o.name).join(', ')}`, {
        outputs: bad.map((o) => o.name),
      });
    }
  } else if (!exact) {
    const order = v.outputs.filter((o) => o.aggregate === 'min' || o.aggregate === 'max');
    if (order.length > 0) {
      throw new DomainError('privacy-order-statistic-needs-dp', `MIN/MAX release one person's exact value; they are released only with differential privacy (${order.map((o) => o.name).join(', ')})`);
    }
  }
  const guardOn = !!req.differencing && !dp && !exact;

  const out = await runSqlInSandbox({
    schema: req.schema,
    chunks: req.chunks,
    unwrapPrivateKey: req.unwrapPrivateKey,
    plan: v.plan,
    // load only what the query reads, plus the identifier when k is counted on people
    columns: [...v.columnsUsed, ...req.schema.columns.filter((c) => c.role === 'identifier').map((c) => c.name)],
    membership: guardOn,
    minGroupSize: req.policy.minGroupSize,
    ...(req.limits ? { limits: req.limits } : {}),
  });

  const idx = (name: string): number => out.columns.indexOf(name);
  const gCols = v.plan.groupBy.map((_, i) => idx(`__g${i}`));
  const rowsCol = idx('__rows');
  const subjCol = idx('__subjects');
  const valueOutputs = v.outputs.filter((o) => o.kind !== 'dimension');
  const nulls = new Map<number, Set<string>>();
  const groups: (GroupResult & { index: number })[] = out.rows.map((r, i) => {
    const values: Record<string, number> = {};
    for (const o of valueOutputs) {
      const x = r[idx(o.name)];
      if (typeof x === 'number') values[o.name] = x;
      else {
        if (!nulls.has(i)) nulls.set(i, new Set());
        nulls.get(i)!.add(o.name);
      }
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
    if (o.aggregate) specs[o.name] = { kind: o.aggregate === 'mean' ? 'mean' : o.aggregate, scale: o.scale };
  }
  const keyOf = (k: string[]): string => JSON.stringify(k);
  const indexByKey = new Map(groups.map((g) => [keyOf(g.key), g.index]));

  const gated = applyOutputGate(
    groups.map(({ index: _i, ...g }) => g),
    req.policy,
    {
      bounds,
      outputs: specs,
      ...(req.budget ? { budget: req.budget } : {}),
      ...(guardOn && req.differencing && out.membership
        ? {
            beforeRelease: (released: GroupResult[]) => {
              const d = req.differencing!;
              d.guard.checkAndRecord({
                buyerOrgId: d.buyerOrgId,
                datasetId: d.datasetId,
                rowCount: d.rowCount,
                k: req.policy.minGroupSize,
                ...(out.membership!.subjects ? { subjects: out.membership!.subjects } : {}),
                membership: out.membership!,
                releasedGroups: new Set(released.map((g) => indexByKey.get(keyOf(g.key)) as number)),
              });
            },
          }
        : {}),
    },
  );

  const released: SqlReleasedGroup[] = gated.groups.map((g) => {
    const i = indexByKey.get(keyOf(g.key)) as number;
    const values: Record<string, number | string | null> = {};
    for (const o of v.outputs) {
      if (o.kind === 'dimension') values[o.name] = g.key[v.plan.groupBy.indexOf(o.column as string)] ?? null;
      else values[o.name] = nulls.get(i)?.has(o.name) ? null : (g.values[o.name] as number);
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
    suppressed: gated.suppressed,
    privacy: gated.privacy,
    stats: { ...out.stats, wallMs: out.stats.wallMs },
  };
}
