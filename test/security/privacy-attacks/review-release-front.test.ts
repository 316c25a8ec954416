import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDomainError } from '../../../contracts/errors.js';
import { newId } from '../../../contracts/ids.js';
import { approvalStatementFor, signApproval, type ApprovedPrivacyTerms } from '../../../contracts/review/approval.js';
import { computationHash, type Computation } from '../../../contracts/computation.js';
import { sealDataset, type SealResult } from '../../../client-sdk/dataset/seal.js';
import { sm2Fingerprint } from '../../../crypto/index.js';
import { EnclaveClient } from '../../../server/enclave/client.js';
import { SqlReleaseResponse, VerifyReleaseResponse } from '../../../formats/enclave-protocol.js';
import { generateRows, makeParties, testSchema, writeCsv, startTestEnclave, approvedRequest } from '../../enclave/fixtures.js';

/**
 * The enclave does not trust the server that composes release requests (README, threat model: every release is
 * bound to an approved trade, whose approval states k, ε, budgets and the refusal allowance). The budget's
 * `chargeKey` is the server's word, though, and it decides two things the approval is meant to fix: which stored
 * DP output a release replays, and which refusal is "this release's own" (not counted against the allowance).
 * A server that reuses one charge key across different approved trades must not get another trade's output
 * signed as this trade's result, nor an unlimited refusal oracle.
 */
describe('review: the release front binds the charge key to the approved trade', function () {
  this.timeout(180_000);
  let dir: string;
  let enclave: EnclaveClient;
  let sealed: SealResult;
  const parties = makeParties();
  const TERMS: ApprovedPrivacyTerms = { minGroupSize: 5, epsilon: 0, delta: 0, maxRowsPerPerson: 1, epsilonBudgetPerBuyer: 5, refusalAllowance: 3, epsilonBudgetTotal: 10, deltaBudgetTotal: 1e-6 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shuyu-review-front-'));
    writeCsv(join(dir, 'data.csv'), generateRows(240, 5));
    enclave = await startTestEnclave(dir, parties);
    sealed = await sealDataset({ input: join(dir, 'data.csv'), schema: testSchema, enclave: await enclave.publicInfo(), outDir: join(dir, 'bundle'), rowsPerChunk: 80 });
  });
  after(async () => {
    await enclave?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A correctly approved release request for its own fresh trade; `chargeKey` as the server chooses it. */
  const request = (computation: Computation, buyerOrgId: string, terms: Partial<ApprovedPrivacyTerms>, chargeKey?: string) =>
    approvedRequest(parties, sealed.manifest, computation, TERMS, { buyerOrgId, terms, ...(chargeKey ? { chargeKey } : {}) });
  const sql = (query: string): Computation => ({ kind: 'sql', query });
  const run = (req: unknown) => enclave.call('sql', req, SqlReleaseResponse);
  const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'released', (e: unknown) => (isDomainError(e) ? (process.env.REVIEW_DEBUG ? `${e.type}: ${e.message}` : e.type) : String(e)));
  // the refusal allowance is joint across the bundle's buyers: each test starts with none used on it
  afterEach(() => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { fileMustExist: true });
    try {
      db.prepare('DELETE FROM privacy_refusal').run();
    } finally {
      db.close();
    }
  });
  const refusalRows = (buyerOrgId: string): number => {
    const db = new Database(join(dir, 'enclave', 'keystore', 'privacy-budget.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM privacy_refusal WHERE buyer_org_id = ?').get(buyerOrgId) as { n: number }).n;
    } finally {
      db.close();
    }
  };

  it("a DP release under trade B with trade A's charge key is refused, not answered with A's stored output", async () => {
    const key = `trade:${newId()}`;
    const a = await run(request(sql("SELECT COUNT(*) AS n FROM dataset WHERE region = 'north'"), 'org-replay', { epsilon: 1 }, key));
    const reqB = request(sql("SELECT COUNT(*) AS n FROM dataset WHERE region = 'south'"), 'org-replay', { epsilon: 1 }, key);
    let b: Awaited<ReturnType<typeof run>> | undefined;
    const got = await outcome(run(reqB).then((r) => (b = r)));
    if (b) {
      const payload = JSON.parse(b.receipt.payload) as Record<string, unknown>;
      console.log(`      trade B (south) released n = ${JSON.stringify(b.result.groups)}; trade A (north) had ${JSON.stringify(a.result.groups)}; B's receipt names B's trade: ${JSON.stringify(payload).includes(reqB.trade.tradeId)}`);
    }
    // a charge key belongs to one approved trade: reusing it for another computation must not replay
    expect(got, "trade B got trade A's DP output, signed as B's result").to.not.equal('released');
  });

  it('reusing one charge key across refused exact trades does not reset the refusal allowance (3)', async () => {
    const buyer = 'org-oracle';
    const key = `trade:${newId()}`;
    // each query has a group with fewer than k people ('rare' holds one, 'unused' none): refused on the data
    const queries = [
      'SELECT region, COUNT(*) AS n FROM dataset GROUP BY region',
      'SELECT region, SUM(qty) AS s FROM dataset GROUP BY region',
      'SELECT region, COUNT(qty) AS c FROM dataset GROUP BY region',
      'SELECT region, TOTAL(qty) AS t FROM dataset GROUP BY region',
      'SELECT region, AVG(qty) AS m FROM dataset GROUP BY region',
      'SELECT region, SUM(amount) AS s FROM dataset GROUP BY region',
    ];
    const outcomes: string[] = [];
    for (const q of queries) outcomes.push(await outcome(run(request(sql(q), buyer, {}, key))));
    console.log(`      outcomes with one reused charge key: ${outcomes.join(', ')}; refusals recorded: ${refusalRows(buyer)}`);
    expect(outcomes[0]).to.equal('privacy-min-group-refused');
    // with per-trade keys the 4th trade is refused from the count alone; one reused key must not change that
    expect(outcomes.slice(3), 'data-dependent refusals beyond the allowance').to.not.include('privacy-min-group-refused');
  });

  it('a verify release takes no rate limit from the server: the approval states none, so the request cannot raise it', async () => {
    const row = generateRows(240, 5)[0]!;
    const verify: Computation = { kind: 'verify', match: { customer_id: row.customer_id, region: row.region }, perAttribute: false };
    const { policy: _p, budget: _b, ...req } = request(verify, 'org-verify', {});
    const call = (rateLimit: { maxCalls: number; windowMs: number }) => outcome(enclave.call('verify', { ...req, rateLimit }, VerifyReleaseResponse));
    const tight = { maxCalls: 1, windowMs: 3600_000 };
    const first = await call(tight);
    const second = await call(tight);
    // 1,000 calls a second instead of the enclave's 60 an hour: a bulk lookup, if the enclave takes the server's word
    const loosened = await call({ maxCalls: 1000, windowMs: 1000 });
    console.log(`      verify under the server's limits: 1/h ${first}, 1/h again ${second}, then 1000/s ${loosened}`);
    expect(second).to.equal('verify-rate-limited');
    expect(loosened, 'the server raised the verify rate limit after it was reached').to.not.equal('released');
  });

  it('control: with per-trade charge keys the allowance holds (3 refusals, then refused from the count)', async () => {
    const buyer = 'org-control';
    const outcomes: string[] = [];
    for (const col of ['COUNT(*)', 'SUM(qty)', 'COUNT(qty)', 'TOTAL(qty)']) outcomes.push(await outcome(run(request(sql(`SELECT region, ${col} AS v FROM dataset GROUP BY region`), buyer, {}))));
    expect(outcomes).to.deep.equal(['privacy-min-group-refused', 'privacy-min-group-refused', 'privacy-min-group-refused', 'privacy-refusal-allowance-exhausted']);
  });
});
