import type { z } from 'zod';
import { AggregateComputation, type AggregateComputation as AggregateComputationT } from '../../contracts/computation.js';
import { scaleOf } from '../../contracts/dataset/schema.js';
import { DomainError } from '../../contracts/errors.js';
import { computationHash } from '../../contracts/computation.js';
import type { BundleManifest } from '../../formats/manifest.js';
import { checkOverflow, measureSums, planAggregate, type AggregatePlan } from '../../he/layout.js';
import { applyOutputGate, releaseBudget, type GroupResult, type OutputSpec } from '../privacy/gate.js';
import { MAX_DP_DOMAIN } from '../../contracts/privacy/calibration.js';
import { metricName } from '../../contracts/pricing/feasibility.js';
import { DEFAULT_REFUSAL_ALLOWANCE } from '../privacy/approved-terms.js';
import { DifferencingGuard, differencingHistory } from '../privacy/differencing.js';
import { RECORDED_REFUSALS } from '../privacy/ledger.js';
import { pinExactRowCap } from '../privacy/row-cap.js';
import { declaredDimensions, heDifferencingCheck, heGroupSizes, maxRowsPerSubject } from '../privacy/row-map.js';
import { plannedGroupKeys } from '../../query/planned-groups.js';
import { andOf } from '../../query/predicates.js';
import type { AggregateReleaseResponse, AggregateResult } from '../../formats/enclave-protocol.js';
import { AggregateReleaseRequest } from '../../formats/enclave-protocol.js';
import { release, type ReleaseDeps, type ReleaseKind } from './front.js';
import { keyFingerprints } from './key-facts.js';
import { checkEncryptedShape, decryptGroupTotals } from './he-totals.js';

/**
 * Release of a homomorphic aggregate, the `aggregate` kind of the release front (front.ts does the approval,
 * commitment, computation hash, approved terms and unwrap key once for every kind, loads the row map and signs):
 *  1. check that the encrypted aggregate is for exactly this dataset and computation and has exactly the
 *     groups and columns the layout plans (no extra ciphertext gets decrypted);
 *  2. decrypt ONE value per group per column (the decryptor refuses per-slot vectors);
 *  3. compute the metrics exactly (BigInt fixed point), apply the output gate (k-suppression on the
 *     enclave's own counts — distinct identifiers from the row map where the schema has one, else the
 *     decrypted row counts; DP when the offer asks; for an exact release, the differencing guard on the
 *     buyer's joint HE + SQL history, with the rows of each group taken from the row → partition map).
 */

type Req = z.infer<typeof AggregateReleaseRequest>;

const refuse = (type: string, message: string, detail: Record<string, unknown> = {}) => new DomainError(type, message, detail);

interface Prepared {
  computation: AggregateComputationT;
  plan: AggregatePlan;
  dpOn: boolean;
  guardOn: boolean;
  countsPeople: boolean;
  domain: string[][] | undefined;
  /** the version's pinned row cap of exact releases (row-cap.ts); undefined under DP */
  pinnedRowCap: number | undefined;
}

const modes = (req: Req) => {
  const dpOn = !!req.policy.dp && req.policy.mode !== 'exact-for-tests';
  // exact releases go through the differencing guard, which needs the rows of every planned group
  const guardOn = !req.policy.dp && req.policy.mode !== 'exact-for-tests';
  // where the schema has an identifier the minimum group size counts the people in each group, not its rows
  const countsPeople = req.manifest.schema.columns.some((c) => c.role === 'identifier');
  return { dpOn, guardOn, countsPeople };
};

const who = (req: Req, commitment: string) => ({
  chargeKey: req.budget?.chargeKey ?? `trade:${req.trade.tradeId}`,
  tradeId: req.trade.tradeId,
  buyerOrgId: req.trade.buyerOrgId,
  datasetKey: commitment,
});

export const aggregateKind: ReleaseKind<Req, AggregateResult, Prepared> = {
  label: 'aggregate',
  request: AggregateReleaseRequest,

  async admit(req, s, deps) {
    const { manifest } = req;
    const computation = AggregateComputation.parse(req.computation);
    const ks = deps.keystore;
    // the ciphertexts are for this dataset, these keys and this computation, in exactly the planned shape
    const enc = req.encrypted;
    if (enc.datasetCommitment !== s.commitment) throw refuse('release-refused', 'the encrypted aggregate is for another dataset version');
    if (enc.computationHash !== computationHash(computation)) throw refuse('release-refused', 'the encrypted aggregate is for another computation');
    if (enc.paramsId !== ks.he.params.id || manifest.he.paramsId !== ks.he.params.id) throw refuse('release-refused', 'HE parameters differ from this enclave');
    if (manifest.he.publicKeyFingerprint !== keyFingerprints(ks).he) throw refuse('release-refused', "the bundle was not sealed to this enclave's HE key");
    const plan = planAggregate(manifest, computation);
    checkOverflow(manifest, computation, ks.he.params);
    checkEncryptedShape(manifest, plan, enc);

    const { dpOn, guardOn, countsPeople } = modes(req);
    if (dpOn && !req.budget) {
      // DP without a budget would let a buyer average noise away; refuse rather than release.
      throw refuse('release-refused', 'a DP release needs the offer’s ε budget terms');
    }
    // DP releases every key of the public domain — the grouped dimensions' declared values (narrowed by the
    // computation's own filters, which are public too) — so no group's presence depends on the data.
    let domain: string[][] | undefined;
    if (dpOn) {
      const lists = plan.groupBy.map((name) => {
        let vals = [...manifest.schema.columns.find((c) => c.name === name)!.values!];
        for (const f of computation.filters) if (f.column === name) vals = vals.filter((v) => f.in.includes(v));
        return vals;
      });
      const size = lists.reduce((a, l) => a * l.length, 1);
      if (size > MAX_DP_DOMAIN) {
        throw refuse(
          'dp-domain-too-large',
          `a DP release noises every combination of the grouped values; ${size} groups exceed ${MAX_DP_DOMAIN} (group by fewer or filter)`,
          { groups: size },
        );
      }
      domain = lists.reduce<string[][]>((acc, l) => acc.flatMap((k) => l.map((v) => [...k, v])), [[]]);
    }
    // Data-dependent refusals are recorded per buyer × dataset commitment; once the allowance is used (or held by
    // the buyer's releases still running), releases are refused here, from the counts alone, before anything is
    // decrypted — DP ones too, as SQL releases are: a DP release can still be refused on the data (a person over
    // the row cap, a dataset-wide budget others spent).
    if (req.policy.mode !== 'exact-for-tests') {
      const slot = await deps.ledger.reserveRefusalAllowance({ ...who(req, s.commitment), allowance: req.budget?.refusalAllowance ?? DEFAULT_REFUSAL_ALLOWANCE });
      s.onEnd(() => slot.release());
    }
    // one per-person row cap for every exact release of the version (from the terms alone, before any row); HE
    // reads every row, so it releases only when no person exceeds the smaller of that cap and the offer's
    const pinnedRowCap = guardOn
      ? await pinExactRowCap(deps.ledger.store, { commitment: s.commitment, schema: manifest.schema, maxRowsPerPerson: req.policy.maxRowsPerPerson, tradeId: req.trade.tradeId, readsAllRows: true })
      : undefined;
    return { computation, plan, dpOn, guardOn, countsPeople, domain, pinnedRowCap };
  },

  rowMap(req) {
    const { guardOn, countsPeople } = modes(req);
    if (guardOn || (countsPeople && req.policy.mode !== 'exact-for-tests')) return 'required';
    // a test enclave's 'exact-for-tests' release: people are counted when the map is at hand
    return countsPeople ? 'stored' : 'none';
  },

  async compute(req, s, deps, prepared) {
    const { manifest } = req;
    const { computation, plan, dpOn, guardOn, countsPeople, domain, pinnedRowCap } = prepared;
    const { commitment, rowMap } = s;
    const recordIfPrivacyRefusal = async (e: unknown): Promise<void> => {
      if (e instanceof DomainError && RECORDED_REFUSALS.has(e.type)) await deps.ledger.recordRefusal({ ...who(req, commitment), type: e.type });
    };
    const enc = req.encrypted;
    const decryptor = deps.decryptor;
    if (!decryptor) throw refuse('release-refused', 'this enclave has no HE decryptor');
    // Every release is per person: where the schema has an identifier, a person's rows must not exceed the
    // offer's cap m — DP noise is calibrated to it, and an exact aggregate must not be dominated by one
    // person's many rows. A homomorphic sum cannot drop a person's extra rows (the SQL path does), so the
    // release is refused unless m covers the most rows any one person has (kept with the row map).
    const rowCap = countsPeople ? Math.min(req.policy.maxRowsPerPerson ?? 1, pinnedRowCap ?? Infinity) : 1;
    if ((dpOn || guardOn) && countsPeople && maxRowsPerSubject(rowMap!) > rowCap) {
      const e = refuse(
        'privacy-contribution-unbounded',
        `some person has more than ${rowCap} row(s), the offer's per-person cap; a homomorphic aggregate cannot drop rows, so the owner must raise maxRowsPerPerson or the buyer use SQL, where rows beyond the cap are dropped`,
        { maxRowsPerPerson: rowCap },
      );
      // a fact about the data: recorded (and charged) like the gate's refusals below
      await recordIfPrivacyRefusal(e);
      throw e;
    }

    // 3. decrypt one value per group per column
    const dims = plan.groupBy.map((n) => manifest.schema.columns.find((c) => c.name === n)!);
    const totals = decryptGroupTotals(manifest, plan, enc, decryptor);
    s.clock.mark('decrypt');

    // 4. metrics, then the gate.
    // Exact: count, sum, mean, variance and stddev are computed from Σ1, Σx and Σx² — each a fixed per-row
    // function summed over a union of whole cells — so every released number is a symmetric function of the
    // rows of each differencing block, and the guard's argument holds (docs/privacy.md §4).
    // DP: the gate is given those sums per group (hidden parts for a mean, variance or stddev), noises each with
    // its per-person sensitivity and computes the released values from the noisy sums.
    const outputs = computation.metrics.map(metricName);
    const bounds: Record<string, [number, number]> = {};
    const specs: Record<string, OutputSpec> = {};
    const hidden = new Set<string>();
    const countPart = outputs.includes('count') ? 'count' : '_count';
    const partsOf = new Map<string, { sum: string; sumSquares?: string; scale: number }>();
    for (const m of computation.metrics) {
      const name = metricName(m);
      if (m.op === 'count') {
        bounds[name] = [0, 1];
        specs[name] = { kind: 'count', scale: 0 };
      } else {
        const col = manifest.schema.columns.find((c) => c.name === m.measure)!;
        const scale = scaleOf(col.type);
        bounds[name] = col.bounds as [number, number];
        specs[name] = { kind: m.op, scale: m.op === 'sum' ? scale : scale + 4 };
        if (dpOn && m.op !== 'sum') {
          const sum = outputs.includes(`sum(${m.measure})`) ? `sum(${m.measure})` : `_sum(${m.measure})`;
          const sumSquares = m.op === 'mean' ? undefined : `_sumsq(${m.measure})`;
          specs[name]!.parts = { sum, count: countPart, ...(sumSquares ? { sumSquares } : {}) };
          const squares = sumSquares ?? partsOf.get(m.measure!)?.sumSquares;
          partsOf.set(m.measure!, { sum, scale, ...(squares ? { sumSquares: squares } : {}) });
          for (const [part, spec] of [
            [sum, { kind: 'sum', scale }],
            [countPart, { kind: 'count', scale: 0 }],
            ...(sumSquares ? [[sumSquares, { kind: 'sum', scale: 2 * scale }]] : []),
          ] as [string, OutputSpec][]) {
            if (outputs.includes(part)) continue;
            hidden.add(part);
            specs[part] = spec;
            if (spec.kind !== 'count') bounds[part] = col.bounds as [number, number];
          }
        }
      }
    }
    const nulls = new Map<number, Set<string>>();
    const groups: GroupResult[] = totals.map((t, gi) => {
      const n = t._count ?? 0n;
      const values: Record<string, number> = {};
      const nullSet = new Set<string>();
      if (dpOn) {
        // the sums the noise goes on; a group with no rows is left empty (the gate noises its neutral value)
        if (specs[countPart]) values[countPart] = Number(n); // a row count only where an output or a part uses it
        if (n > 0n) {
          for (const m of computation.metrics) if (m.op === 'sum') values[metricName(m)] = metricValue(m, n, t, manifest)!;
          for (const [measure, p] of partsOf) {
            const unit = 10 ** p.scale;
            const { s1, s2 } = measureSums(manifest.layout, measure, n, t);
            values[p.sum] = Number(s1) / unit;
            if (p.sumSquares && s2 !== undefined) values[p.sumSquares] = Number(s2) / (unit * unit);
          }
        }
      } else {
        for (const m of computation.metrics) {
          const name = metricName(m);
          const v = metricValue(m, n, t, manifest);
          if (v === null) nullSet.add(name);
          else values[name] = v;
        }
      }
      nulls.set(gi, nullSet);
      const key = plan.groups[gi]!.key.map((code, j) => dims[j]!.values![code]!);
      return { key, rows: Number(n), values };
    });
    s.clock.mark('metrics');
    if (rowMap) {
      // the map must describe exactly these ciphertexts: same rows in every group as the decrypted _count
      const sizes = heGroupSizes(plan, rowMap, manifest.layout.partitions.length);
      groups.forEach((g, i) => {
        if (sizes.rows[i] !== g.rows) throw refuse('privacy-row-map-mismatch', `group ${i}: the sealed rows and the HE ciphertexts disagree on its size`);
        if (sizes.subjects) g.subjects = sizes.subjects[i]!;
      });
    }
    s.clock.mark('group sizes');
    // exact: every group the query can hold is released or none is (the gate's wholeRelease); a declared key the
    // layout has no partition for holds no row and joins as an empty group, like one below k
    const filtersSet = andOf(computation.filters.map((f) => ({ dim: f.column, in: [...f.in] })));
    const planned = guardOn ? plannedGroupKeys(filtersSet, plan.groupBy, declaredDimensions(manifest.schema)) : [];
    const present = new Set(groups.map((g) => JSON.stringify(g.key)));
    const emptyGroups: GroupResult[] = planned
      .filter((k) => !present.has(JSON.stringify(k)))
      .map((key) => ({ key, rows: 0, ...(countsPeople && rowMap ? { subjects: 0 } : {}), values: {} }));
    const keyIndex = new Map(groups.map((g, i) => [JSON.stringify(g.key), i]));
    let beforeRelease: ((released: GroupResult[]) => Promise<unknown>) | undefined;
    if (rowMap && guardOn) {
      const record = heDifferencingCheck({
        guard: new DifferencingGuard(deps.ledger.store),
        ...differencingHistory(commitment),
        k: req.policy.minGroupSize,
        schema: manifest.schema,
        plan,
        filters: computation.filters,
        map: rowMap,
      });
      beforeRelease = (released) => record(new Set(released.map((g) => keyIndex.get(JSON.stringify(g.key)) as number)));
    }
    let gate: Awaited<ReturnType<typeof applyOutputGate>>;
    try {
      gate = await applyOutputGate(
        [...groups, ...emptyGroups],
        { ...req.policy, maxRowsPerPerson: rowCap },
        {
          bounds,
          outputs: specs,
          ...(hidden.size > 0 ? { hidden: [...hidden] } : {}),
          ...(domain ? { domain } : {}),
          ...(beforeRelease ? { beforeRelease } : {}),
          ...(guardOn ? { wholeRelease: true } : {}),
          ...(req.budget ? { budget: releaseBudget(deps.ledger, req.trade, commitment, req.budget) } : {}),
        },
      );
    } catch (e) {
      // recorded after the gate's transaction rolled back, so the refusal counts even though nothing was released
      await recordIfPrivacyRefusal(e);
      throw e;
    }
    s.clock.mark('gate');
    const result: AggregateResult = {
      kind: 'aggregate',
      groupBy: plan.groupBy,
      outputs,
      groups: gate.groups.map((g) => {
        const nullSet = nulls.get(keyIndex.get(JSON.stringify(g.key))!) ?? new Set<string>();
        return { key: g.key, values: Object.fromEntries(outputs.map((o) => [o, nullSet.has(o) ? null : (g.values[o] ?? null)])) };
      }),
    };
    return { result, privacy: { ...gate.privacy } };
  },
};

/** Release an HE aggregate through the release front. */
export function releaseAggregate(input: unknown, deps: ReleaseDeps): Promise<AggregateReleaseResponse> {
  return release(aggregateKind, input, deps) as Promise<AggregateReleaseResponse>;
}

/**
 * A ciphertext's bytes from its base64, or undefined when the text is not whole base64 (its decoded length
 * gives that away). SEAL's checked load then judges the bytes, so the stricter canonical-form check (a regex
 * and a re-encoding, ~0.5 ms per 100 KB ciphertext, 40 of them in a 20-group release) would add nothing.
 */
function ciphertextBytes(b64: string): Uint8Array | undefined {
  if (b64.length === 0 || b64.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(b64, 'base64');
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  if (bytes.length !== (b64.length / 4) * 3 - pad) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function metricValue(m: { op: string; measure?: string }, n: bigint, t: Record<string, bigint>, manifest: BundleManifest): number | null {
  if (m.op === 'count') return Number(n);
  const col = manifest.schema.columns.find((c) => c.name === m.measure)!;
  const unit = 10 ** scaleOf(col.type);
  if (n === 0n) return null; // SQL: SUM/AVG/VAR of no rows is NULL
  const { s1: s, s2 } = measureSums(manifest.layout, m.measure!, n, t);
  switch (m.op) {
    case 'sum':
      return Number(s) / unit;
    case 'mean':
      return Number(s) / Number(n) / unit;
    case 'variance':
    case 'stddev': {
      if (n < 2n) return null; // sample variance needs two rows
      const q = s2 ?? 0n;
      const v = Number(n * q - s * s) / Number(n * (n - 1n)) / (unit * unit);
      return m.op === 'variance' ? v : Math.sqrt(v);
    }
    default:
      throw refuse('computation-invalid', `unsupported op ${m.op}`);
  }
}
