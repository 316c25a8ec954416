import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AggregateComputation, Computation } from '../../../contracts/computation.js';
import { isDomainError } from '../../../contracts/errors.js';
import { newId } from '../../../contracts/ids.js';
import type { ApprovedPrivacyTerms } from '../../../contracts/review/approval.js';
import { sealDataset, bundleBlobPath, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { galoisKeysPath } from '../../../enclave/keystore/keystore.js';
import { SqlReleaseResponse, VerifyReleaseResponse, type EnclavePublicInfo } from '../../../formats/enclave-protocol.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { openStore, type Store } from '../../../store/engine.js';
import { freshSchema, testDatabaseUrl, type Engine } from '../../store/engines.js';
import { EXACT_TERMS as TERMS, generateRows, makeParties, testSchema, writeCsv } from '../fixtures.js';

/**
 * The enclave's state does not grow with rows × buyers. Two bundles of one schema, N and 8N rows, are sealed to
 * a production enclave process (no test mode); two buyers each run the same releases on both (SQL exact and DP,
 * HE, 核验, a differencing refusal) and the bytes stored per table are measured after every step:
 *  - every table grows the same on N and 8N rows (up to the text width of released numbers), each release by at
 *    most PER_RELEASE_BYTES + PER_CELL_BYTES per released cell: state per buyer × dataset is proportional to what
 *    was released;
 *  - the row map grows with the rows, once per dataset version: no release and no second buyer adds to it.
 * docs/privacy.md "What the enclave keeps" states the same, per table.
 */

const N = 120;
/**
 * What one release may add to all tables together (stated in docs/privacy.md): a fixed part (charge key, trade,
 * buyer, dataset key, times, the refusal or 核验 record, the query's plan, the version's row-cap or budget pin
 * if it is the first) and a part per released cell (one output of one group: a DP output, a released set).
 */
const PER_RELEASE_BYTES = 512;
const PER_CELL_BYTES = 64;
/** numbers' text width: counts and sums over 8× the rows print up to two digits longer each, row ids one */
const widthSlack = (cells: number): number => 2 * cells + 4;

/** How each table grows: per release (by a buyer), per dataset version, or per enclave. */
const PER_RELEASE = ['privacy_charge', 'privacy_refusal', 'privacy_charge_key', 'privacy_release_sets', 'verify_call'] as const;
const PER_DATASET = ['privacy_row_map', 'privacy_exact_row_cap', 'privacy_dataset_limit'] as const;
const PER_ENCLAVE = ['enclave_keystore', 'enclave_migrations'] as const;
/** held only while a release runs (its refusal-allowance slot, a split run's shares): empty again once it ends */
const WHILE_RUNNING = ['privacy_refusal_reservation', 'sandbox_share'] as const;


/** `cells`: outputs × groups the step releases (a refusal releases none) */
type Step = { label: string; cells: number } & ({ kind: 'sql'; query: string; epsilon?: number } | { kind: 'he'; computation: AggregateComputation } | { kind: 'verify' });

/** Every buyer runs these, in this order, on each dataset. */
const STEPS: Step[] = [
  { label: 'exact total', cells: 1, kind: 'sql', query: 'SELECT COUNT(*) AS n FROM dataset' },
  { label: 'exact by channel', cells: 6, kind: 'sql', query: 'SELECT channel, COUNT(*) AS n, SUM(qty) AS q FROM dataset GROUP BY channel' },
  { label: 'differencing probe', cells: 0, kind: 'sql', query: "SELECT COUNT(*) AS n FROM dataset WHERE region <> 'rare'" },
  // DP releases every declared region, 'unused' included
  { label: 'DP by region', cells: 6, kind: 'sql', query: 'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region', epsilon: 1 },
  { label: 'HE exact by channel', cells: 3, kind: 'he', computation: { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['channel'], filters: [] } },
  { label: '核验', cells: 2, kind: 'verify' },
];

type Bytes = Record<string, number>;

/** The bytes stored per table: the sum of every column's stored length (numbers as their text), engine-independent. */
async function tableBytes(store: Store, engine: Engine): Promise<Bytes> {
  const columns =
    engine === 'sqlite'
      ? await store.all<{ t: string; c: string; ty: string }>(
          `SELECT m.name AS t, p.name AS c, p.type AS ty FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`,
        )
      : await store.all<{ t: string; c: string; ty: string }>(
          `SELECT table_name AS t, column_name AS c, data_type AS ty FROM information_schema.columns WHERE table_schema = current_schema()`,
        );
  const byTable = new Map<string, string[]>();
  for (const { t, c, ty } of columns) {
    // SQLite: a value cast to BLOB is its stored bytes (numbers as text); PostgreSQL: bytea as it is, the rest as text
    const len = engine === 'sqlite' ? `LENGTH(CAST("${c}" AS BLOB))` : ty === 'bytea' ? `OCTET_LENGTH("${c}")` : `OCTET_LENGTH("${c}"::text)`;
    byTable.set(t, [...(byTable.get(t) ?? []), `COALESCE(SUM(${len}), 0)`]);
  }
  const out: Bytes = {};
  for (const [t, sums] of byTable) {
    const r = await store.get<{ b: number | string }>(`SELECT ${sums.join(' + ')} AS b FROM "${t}"`);
    out[t] = Number(r!.b);
  }
  return out;
}

const minus = (a: Bytes, b: Bytes): Bytes => Object.fromEntries(Object.keys(a).map((t) => [t, a[t]! - (b[t] ?? 0)]));
const sumOf = (d: Bytes, tables: readonly string[] = Object.keys(d)): number => tables.reduce((s, t) => s + (d[t] ?? 0), 0);

for (const engine of ['sqlite', 'postgres'] as const) {
  describe(`enclave state grows with releases, not with rows × buyers [${engine}]`, function () {
    this.timeout(300_000);
    let dir: string;
    let enclave: EnclaveClient;
    let info: EnclavePublicInfo;
    let evaluator: HeEvaluator;
    let state: Store;
    const parties = makeParties();
    const sealed: Record<'small' | 'large', SealResult> = {} as never;
    /** admission's growth per dataset; each buyer's growth per step, per dataset */
    const admitted: Record<string, Bytes> = {};
    const grown: Record<string, { outcome: string; delta: Bytes }[]> = {};

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'shuyu-state-growth-'));
      const schema = freshSchema();
      enclave = await EnclaveClient.start({
        dataDir: join(dir, 'enclave'),
        masterSecret: 'test-master-secret-0123456789',
        operatorPublicKeyPem: parties.operatorPem,
        blobStore: { kind: 'directory', dir: join(dir, 'bundle', 'blobs'), layout: 'flat' },
        ...(engine === 'postgres' ? { env: { SHUYU_ENCLAVE_DATABASE_URL: testDatabaseUrl(), SHUYU_ENCLAVE_DATABASE_SCHEMA: schema } } : {}),
      });
      info = await enclave.publicInfo();
      evaluator = new HeEvaluator({ threads: 1 });
      state = openStore(engine === 'sqlite' ? { location: join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite') } : { location: testDatabaseUrl(), schema, poolSize: 1 }).store;

      for (const [name, rows] of [['small', N], ['large', 8 * N]] as const) {
        writeCsv(join(dir, `${name}.csv`), generateRows(rows));
        sealed[name] = await sealDataset({ input: join(dir, `${name}.csv`), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 200, evaluator });
      }
      // publication: the enclave reads the rows and keeps the version's row map
      for (const name of ['small', 'large'] as const) {
        const before = await tableBytes(state, engine);
        await enclave.admitRows(sealed[name].manifest);
        admitted[name] = minus(await tableBytes(state, engine), before);
      }
      for (const name of ['small', 'large'] as const) {
        for (const buyer of ['org-buyer-a', 'org-buyer-b']) {
          const steps: { outcome: string; delta: Bytes }[] = [];
          for (const step of STEPS) {
            const before = await tableBytes(state, engine);
            const outcome = await run(step, sealed[name], buyer);
            steps.push({ outcome, delta: minus(await tableBytes(state, engine), before) });
          }
          grown[`${name}/${buyer}`] = steps;
        }
      }
    });
    after(async () => {
      if (process.env.SHUYU_STATE_GROWTH_REPORT === '1') report();
      await state?.close();
      await enclave?.stop();
      await evaluator?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A request for a fresh trade approved under `terms` (null: 核验, whose approval states none). */
    function approved(computation: Computation, s: SealResult, buyerOrgId: string, terms: ApprovedPrivacyTerms | null) {
      const trade = { tradeId: newId(), datasetId: `listing-${s.manifest.commitment.slice(0, 8)}`, buyerOrgId, offerId: 'offer-1', offerVersion: 1 };
      const approval = parties.approve({ ...trade, datasetCommitment: s.manifest.commitment }, computation, parties.reviewer.privateKey, terms);
      return { trade: { ...trade, priceFen: 500 }, manifest: s.manifest, computation, approval, reviewerCertificate: parties.certificate };
    }

    /** A release request under a v2 approval of TERMS, ε as the step asks, with the policy and budget it states. */
    function request<C extends Computation>(computation: C, s: SealResult, buyerOrgId: string, epsilon = 0) {
      const terms = { ...TERMS, epsilon };
      const base = approved(computation, s, buyerOrgId, terms);
      return {
        ...base,
        computation,
        policy: { minGroupSize: terms.minGroupSize, mode: 'enforce' as const, maxRowsPerPerson: terms.maxRowsPerPerson, ...(epsilon > 0 ? { dp: { epsilon } } : {}) },
        budget: {
          limitEpsilon: terms.epsilonBudgetPerBuyer,
          chargeKey: `trade:${base.trade.tradeId}`,
          refusalAllowance: terms.refusalAllowance,
          datasetLimitEpsilon: terms.epsilonBudgetTotal,
          datasetLimitDelta: terms.deltaBudgetTotal,
        },
      };
    }

    /** Runs one step through the enclave process: 'released', or the refusal's type. */
    async function run(step: Step, s: SealResult, buyerOrgId: string): Promise<string> {
      try {
        if (step.kind === 'sql') {
          await enclave.call('sql', request({ kind: 'sql', query: step.query }, s, buyerOrgId, step.epsilon), SqlReleaseResponse);
        } else if (step.kind === 'verify') {
          const first = generateRows(1)[0]!;
          const computation: Computation = { kind: 'verify', match: { customer_id: first.customer_id, region: first.region }, perAttribute: true };
          await enclave.call('verify', approved(computation, s, buyerOrgId, null), VerifyReleaseResponse);
        } else {
          const encrypted = await evaluator.evaluateAggregate({
            manifest: s.manifest,
            computation: step.computation,
            galoisKeys: { fingerprint: info.he.galoisKeysFingerprint, path: galoisKeysPath(join(dir, 'enclave', 'keystore')) },
            blobPath: (h) => bundleBlobPath(join(dir, 'bundle'), h),
          });
          await enclave.releaseAggregate({ ...request(step.computation, s, buyerOrgId), encrypted });
        }
        return 'released';
      } catch (e) {
        if (isDomainError(e)) return e.type;
        throw e;
      }
    }

    function report(): void {
      const tables = [...PER_RELEASE, ...PER_DATASET];
      console.log(`\n[${engine}] bytes added per table (N = ${N} rows, 8N = ${8 * N})`);
      console.log(['step', ...tables].join('\t'));
      for (const name of ['small', 'large'] as const) {
        console.log([`admit ${name}`, ...tables.map((t) => admitted[name]![t] ?? 0)].join('\t'));
        for (const buyer of ['org-buyer-a', 'org-buyer-b']) {
          grown[`${name}/${buyer}`]!.forEach((g, i) => console.log([`${name} ${buyer.slice(-1)} ${STEPS[i]!.label} (${g.outcome})`, ...tables.map((t) => g.delta[t] ?? 0)].join('\t')));
        }
      }
    }

    it('every table is one the enclave keeps per release, per dataset version, per enclave or while a release runs', async () => {
      const known = new Set<string>([...PER_RELEASE, ...PER_DATASET, ...PER_ENCLAVE, ...WHILE_RUNNING]);
      expect(Object.keys(await tableBytes(state, engine)).filter((t) => !known.has(t))).to.deep.equal([]);
      for (const [k, steps] of Object.entries(grown)) steps.forEach((s, i) => expect(sumOf(s.delta, WHILE_RUNNING), `${k} ${STEPS[i]!.label}`).to.equal(0));
    });

    it('releases of every kind were made, and end alike on N and 8N rows', () => {
      const outcomes = (k: string) => grown[k]!.map((g) => g.outcome);
      expect(outcomes('small/org-buyer-a')).to.deep.equal(['released', 'released', 'privacy-differencing-refused', 'released', 'released', 'released']);
      for (const k of ['small/org-buyer-b', 'large/org-buyer-a', 'large/org-buyer-b']) expect(outcomes(k), k).to.deep.equal(outcomes('small/org-buyer-a'));
    });

    it('every table grows the same on N and 8N rows, release by release (up to numbers’ text width)', () => {
      for (const buyer of ['org-buyer-a', 'org-buyer-b']) {
        const small = grown[`small/${buyer}`]!;
        const large = grown[`large/${buyer}`]!;
        small.forEach((s, i) => {
          const step = STEPS[i]!;
          expect(Math.abs(sumOf(large[i]!.delta) - sumOf(s.delta)), `${buyer} ${step.label}`).to.be.at.most(widthSlack(step.cells));
          for (const t of Object.keys(s.delta)) expect(Math.abs(large[i]!.delta[t]! - s.delta[t]!), `${buyer} ${step.label}: ${t}`).to.be.at.most(widthSlack(step.cells));
        });
      }
    });

    it('each release keeps at most PER_RELEASE_BYTES + PER_CELL_BYTES per released cell in all tables, whatever the rows', () => {
      for (const [k, steps] of Object.entries(grown)) {
        let total = 0;
        let bound = 0;
        steps.forEach((s, i) => {
          const step = STEPS[i]!;
          const added = sumOf(s.delta);
          // every release keeps something of its own: its charge key at least
          expect(sumOf(s.delta, PER_RELEASE), `${k} ${step.label}`).to.be.greaterThan(0);
          expect(added, `${k} ${step.label}`).to.be.at.most(PER_RELEASE_BYTES + PER_CELL_BYTES * step.cells);
          total += added;
          bound += PER_RELEASE_BYTES + PER_CELL_BYTES * step.cells;
        });
        // state per buyer × dataset after k releases: linear in the releases and their cells, no term in rows
        expect(total, k).to.be.at.most(bound);
      }
    });

    it('the row map grows with the rows, once per dataset version: no release and no second buyer adds a byte to it', () => {
      const small = admitted.small!.privacy_row_map!;
      const large = admitted.large!.privacy_row_map!;
      expect(small).to.be.greaterThan(N * 4);
      expect(large / small, 'the 8N map is about eight times the N map').to.be.within(7, 9);
      for (const [k, steps] of Object.entries(grown)) steps.forEach((s, i) => expect(s.delta.privacy_row_map, `${k} ${STEPS[i]!.label}`).to.equal(0));
      // the other per-dataset tables: pinned by the first buyer's releases, never by the second's
      for (const name of ['small', 'large']) {
        for (const s of grown[`${name}/org-buyer-b`]!) expect(sumOf(s.delta, PER_DATASET), name).to.equal(0);
      }
      // admission keeps nothing per buyer
      for (const name of ['small', 'large']) expect(sumOf(admitted[name]!, PER_RELEASE), name).to.equal(0);
    });
  });
}
