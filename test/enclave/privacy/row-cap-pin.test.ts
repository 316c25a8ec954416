import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregateComputation, computationHash, type Computation } from '../../../contracts/computation.js';
import { isDomainError } from '../../../contracts/errors.js';
import { newId } from '../../../contracts/ids.js';
import { approvalStatementFor, signApproval, type ApprovedPrivacyTerms } from '../../../contracts/review/approval.js';
import { sealDataset, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { sm2Fingerprint } from '../../../crypto/index.js';
import { HeEvaluator } from '../../../he/evaluate.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { SqlReleaseResponse, type EnclavePublicInfo } from '../../../formats/enclave-protocol.js';
import { generateRows, heReleaser, makeParties, testSchema, writeCsv, type TestRow, startTestEnclave, approvedRequest } from '../fixtures.js';

/**
 * One per-person row cap for the exact releases of a dataset version, across both paths, in a real enclave.
 * 'SOUTH-0' has 8 rows, everyone else one: an exact total under m = 1 and one under m = 8 would differ by
 * exactly SOUTH-0's 7 extra rows. After an SQL release under m = 1 pins the version, SQL under m = 8 is refused
 * from the terms (free, unrecorded), and HE — which reads every row — is held to min(8, 1) rows per person, so
 * it is refused as over the cap (recorded) instead of answering the total over all 127 rows.
 */
const rows: TestRow[] = generateRows(120, 13).map((r, i) => (i < 8 ? { ...r, customer_id: 'SOUTH-0' } : r));
const MOST_ROWS = 8;
const TERMS: ApprovedPrivacyTerms = { minGroupSize: 5, epsilon: 0, delta: 0, maxRowsPerPerson: 1, epsilonBudgetPerBuyer: 0, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 };

describe('exact releases share one row cap per dataset version (SQL and HE)', function () {
  this.timeout(120_000);
  let dir: string;
  let enclave: EnclaveClient;
  let info: EnclavePublicInfo;
  let sealed: SealResult;
  let evaluator: HeEvaluator;
  const parties = makeParties();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-row-cap-'));
    writeCsv(join(dir, 'data.csv'), rows);
    enclave = await startTestEnclave(dir, parties);
    info = await enclave.publicInfo();
    evaluator = new HeEvaluator({ threads: 1 });
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: info, outDir: join(dir, 'bundle'), rowsPerChunk: 40, evaluator });
    await enclave.admitRows(sealed.manifest);
  });
  after(async () => {
    await enclave?.stop();
    await evaluator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A release request under a v2 approval of `m` for its own fresh trade. */
  const approved = (computation: Computation, m: number, buyerOrgId: string) => approvedRequest(parties, sealed.manifest, computation, TERMS, { buyerOrgId, terms: { maxRowsPerPerson: m } });
  const he = heReleaser(() => ({ dir, enclave, evaluator, info, sealed, parties }));
  const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'released', (e: unknown) => (isDomainError(e) ? e.type : String(e)));
  const sql = (m: number, buyer: string) => enclave.call('sql', approved({ kind: 'sql', query: 'SELECT COUNT(*) AS n FROM dataset' }, m, buyer), SqlReleaseResponse);
  const refusals = (buyer: string): number => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM privacy_refusal WHERE buyer_org_id = ?').get(buyer) as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it('pins the first cap; SQL under another is refused free, HE is held to the pinned cap', async () => {
    const first = await sql(1, 'org-a');
    expect(first.result.groups[0]!.values.n, 'one row per person under m = 1').to.equal(rows.length - (MOST_ROWS - 1));

    expect(await outcome(sql(MOST_ROWS, 'org-b'))).to.equal('privacy-row-cap-conflict');
    expect(refusals('org-b'), 'decided from the terms alone: not recorded').to.equal(0);

    const total = AggregateComputation.parse({ kind: 'aggregate', metrics: [{ op: 'count' }] });
    const { computation: _same, policy, ...heRequest } = approved(total, MOST_ROWS, 'org-c');
    const heUnderEight = he.releaseOf(total, policy, heRequest);
    // all 120 rows here would be the m = 1 total plus SOUTH-0's extra rows
    expect(await outcome(heUnderEight)).to.equal('privacy-contribution-unbounded');
    expect(refusals('org-c'), 'whether someone has more rows is a fact about the data: recorded').to.equal(1);

    expect(await outcome(sql(1, 'org-b')), 'the pinned cap still answers').to.equal('released');
  });
});
