/**
 * The buyer's trading in the web console, end to end in real headless Chromium against a real server with
 * its enclave (test/console/browser.ts): on a dataset page the buyer builds computations limited to what an
 * offer sells (aggregate, SQL with the validator's refusal inline, 核验), sees the live quote (price, ε,
 * the noise of each output, the refusal charge, the wallet), submits with an Idempotency-Key and cancels
 * on the trade page; one trade is done entirely in browsers (buyer quotes and submits, the reviewer
 * approves signing in the page, the buyer reads and downloads the result and verifies the receipt, the
 * owner sees it delivered); a DP result shows ± intervals and a heat map, a privacy refusal says what it
 * cost. Every effect is checked on the server through the SDK. Both languages; screenshots to
 * test-artifacts/console/buyer-*.png, and with SHUYU_DOC_SCREENSHOTS=1 docs/console/buyer-quote.png.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.js';
import { BuyerClient } from '../../client-sdk/sdk/buyer.js';
import { OwnerClient } from '../../client-sdk/sdk/owner.js';
import { ReviewerClient } from '../../client-sdk/sdk/reviewer.js';
import type { Offer } from '../../client-sdk/sdk/types.js';
import type { OfferInput } from '../../contracts/offer/offer.js';
import type { Computation } from '../../contracts/computation.js';
import { sm2PrivateKeyFromPem } from '../../crypto/index.js';
import path from 'node:path';
import { ARTIFACTS, buyerWorld, launch, requireChromium, watched, type BuyerWorld, type Watched } from './browser.js';

const terms = (extra: Partial<OfferInput['terms']> = {}): OfferInput['terms'] => ({
  purposes: ['tourism-planning', 'statistics'],
  validFrom: '2026-01-01T00:00:00.000Z',
  validUntil: '2030-12-31T23:59:59.000Z',
  queryQuotaPerBuyer: 100,
  destinations: ['CN', 'CN-53'],
  minGroupSize: 5,
  epsilonPerQuery: 0,
  epsilonBudgetPerBuyer: 0,
  maxRowsPerPerson: 1,
  refusalAllowance: 3,
  refusalFeeBps: 2_000,
  ...extra,
});

const EXACT_OFFER: OfferInput = {
  title: '各州市游客消费统计',
  description: '按州市、客源地与月份的人次、消费与过夜数。',
  allowedKinds: ['aggregate'],
  allowedColumns: ['prefecture', 'origin', 'month', 'spend_yuan', 'nights'],
  priceModel: { kind: 'per-row', fenPerThousandRows: 200, minimumFen: 5_000 },
  platformFeeBps: 1_000,
  terms: terms(),
};

const DP_OFFER: OfferInput = {
  title: '游客统计（差分隐私）与行程核验',
  description: '差分隐私的聚合与受限 SQL；按行程号核验。',
  allowedKinds: ['aggregate', 'sql', 'verify'],
  allowedColumns: ['trip_id', 'prefecture', 'origin', 'month', 'spend_yuan', 'nights'],
  priceModel: { kind: 'epsilon', baseFen: 10_000, fenPerEpsilon: 20_000 },
  platformFeeBps: 1_000,
  terms: terms({ epsilonPerQuery: 1, epsilonBudgetPerBuyer: 5 }),
};

const STATEMENT = '规划 2027 年各州市的酒店接待能力，依据游客人次与平均消费。';
const yuanZh = (fen: number) => `¥${Math.floor(fen / 100).toLocaleString('zh-CN')}.${String(fen % 100).padStart(2, '0')}`;

describe('console: the buyer trades in the browser', function () {
  this.timeout(120_000);
  let w: BuyerWorld;
  let browser: Browser;
  let b: Watched;
  let api: BuyerClient;
  let exactOffer: Offer;
  let dpOffer: Offer;
  let buyerPage: Page;

  before(async function () {
    requireChromium(this);
    // this file's screenshots only (the other console tests write theirs beside them)
    for (const f of existsSync(ARTIFACTS) ? readdirSync(ARTIFACTS) : []) if (f.startsWith('buyer-')) rmSync(path.join(ARTIFACTS, f));
    await buildConsole();
    [w, browser] = await Promise.all([buyerWorld(), launch()]);
    b = watched(browser, w.url, 'buyer-');
    api = new BuyerClient({ url: w.url, token: w.buyer.token });
    const owner = new OwnerClient({ url: w.url, token: w.owner.token });
    // the DP offer needs a dataset-wide ε budget from its owner
    const put = await fetch(`${w.url}/v1/datasets/${w.dataset.id}/privacy-budget`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${w.owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ epsilonBudgetTotal: 50 }),
    });
    expect(put.status, await put.text()).to.equal(200);
    // the exact offer is listed by its owner in the browser (the complete trade, below)
    dpOffer = (await owner.createOffer(w.dataset.id, DP_OFFER)).offer;
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    const fives = w?.logs.filter((l) => /"status":5\d\d/.test(l)) ?? [];
    await w?.close();
    expect(fives, 'server answered 5xx').to.deep.equal([]);
  });

  afterEach(function () {
    const found = b?.problems.splice(0) ?? [];
    if (this.currentTest?.state === 'passed') expect(found, `console errors / failed requests: ${JSON.stringify(found.slice(0, 5))}`).to.deep.equal([]);
  });

  const mainText = (page: Page) => page.locator('main').innerText();
  /** A trade through the SDK: quoted, submitted, approved by the reviewer, waited for. */
  const run = async (offer: Offer, computation: Computation) => {
    const reviewer = new ReviewerClient({ url: w.url, token: w.reviewer.token });
    const { trade } = await api.request(offer.id, quoteReq(computation));
    await reviewer.approve(trade.id, sm2PrivateKeyFromPem(w.reviewer.privateKeyPem), '统计口径与用途一致，批准。');
    return api.waitForTrade(trade.id, { timeoutMs: 60_000, pollMs: 200 });
  };
  // trades the last test reads, started early so they run while the browser works
  let dpTrade: ReturnType<typeof run>;
  let refusedTrade: ReturnType<typeof run>;
  let cancelledId = '';
  const quoteReq = (computation: Computation, destination = 'CN-53') => ({
    computation,
    purpose: { code: 'tourism-planning', statement: STATEMENT },
    destination,
  });

  async function openDataset(page: Page, offer: Offer): Promise<void> {
    await b.go(page, `#/datasets/${w.dataset.id}`);
    await page.getByLabel('要约', { exact: true }).selectOption(offer.id);
  }

  /** A list field of the owner's offer form: ticked in its checkbox set when it has one, else typed. */
  async function tickOrType(page: Page, name: string, label: string, values: readonly string[]): Promise<void> {
    const set = page.locator(`fieldset[data-name="${name}"]`);
    if (!(await set.count())) return page.getByLabel(label).fill(values.join(', '));
    for (const box of await set.locator('input[type=checkbox]:checked').all()) await box.uncheck();
    for (const v of values) await set.locator(`input[value="${v}"]`).check();
  }

  async function askQuote(page: Page): Promise<void> {
    await page.getByLabel('用途', { exact: true }).selectOption('tourism-planning');
    await page.getByLabel('用途说明').fill(STATEMENT);
    await page.getByLabel('结果目的地').selectOption('CN-53');
    await page.getByRole('button', { name: '询价' }).click();
  }

  it('builds an aggregate, an SQL query (refused inline, then quoted) and a verification; submits with an Idempotency-Key and cancels', async () => {
    const page = (buyerPage = await b.tab('buyer'));
    await b.signIn(page, w.buyer.token);
    await openDataset(page, dpOffer);

    // aggregate: count and mean(spend_yuan) by origin — only the offer's measures and dimensions are offered
    await page.getByLabel('计算类型').selectOption('aggregate');
    expect(await page.locator('.metric-measure').first().locator('option').allInnerTexts()).to.deep.equal(['spend_yuan', 'nights']);
    await page.getByRole('button', { name: '添加指标' }).click();
    await page.getByLabel('指标 2 运算').selectOption('mean');
    await page.getByLabel('指标 2 度量').selectOption('spend_yuan');
    await page.locator('input.group-by[value="origin"]').check();
    await askQuote(page);
    await page.locator('.quote').waitFor();
    const agg: Computation = { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'mean', measure: 'spend_yuan' }], groupBy: ['origin'], filters: [] };
    const expected = (await api.quote(dpOffer.id, quoteReq(agg))).statement;
    expect(await page.locator('.quote-price').innerText()).to.equal(yuanZh(expected.priceFen));
    expect(await page.locator('.quote-epsilon').innerText()).to.equal('ε 1');
    expect(await page.locator('.quote-refusal').innerText()).to.include(yuanZh(expected.refusalChargeFen));
    expect(await page.locator('table.accuracy tbody tr').count()).to.equal(expected.accuracy!.outputs.length);
    const accText = await page.locator('table.accuracy').innerText();
    expect(accText).to.include('离散拉普拉斯');
    expect(accText).to.match(/± \d/); // the count's 95 % interval
    expect(await page.locator('.wallet-line').innerText()).to.include('¥50,000.00');
    await b.shot(page, 'quote-aggregate-dp');
    if (process.env.SHUYU_DOC_SCREENSHOTS === '1')
      await page.locator('section:has(form.buy-form)').screenshot({ path: path.resolve('docs/console/buyer-quote.png') });

    // SQL: a query outside the restricted language is refused with the validator's own message, inline
    await page.getByLabel('计算类型').selectOption('sql');
    await page.getByLabel('SQL 查询').fill('SELECT trip_id, spend_yuan FROM dataset');
    await askQuote(page);
    await page.locator('.sql-errors .notice.error').waitFor();
    const refused = await page.locator('.sql-errors').innerText();
    expect(refused).to.include('校验器拒绝了此查询');
    expect(refused).to.include('trip_id'); // the validator's own message names the column
    expect(await page.getByLabel('SQL 查询').getAttribute('aria-invalid')).to.equal('true');
    await b.shot(page, 'quote-sql-refused');
    const sql = 'SELECT origin, COUNT(*) AS n FROM dataset GROUP BY origin';
    await page.getByLabel('SQL 查询').fill(sql);
    await askQuote(page);
    await page.locator('.quote').waitFor();
    expect(await page.locator('.sql-errors').innerText()).to.equal('');
    expect(await page.locator('.quote-price').innerText()).to.equal(
      yuanZh((await api.quote(dpOffer.id, quoteReq({ kind: 'sql', query: sql }))).statement.priceFen),
    );
    const failed = b.problems.splice(0);
    expect(failed.length, 'the refused quote').to.be.at.least(1);
    for (const p of failed) expect(p, 'only the refused quote may fail').to.match(/HTTP 422: POST .*\/quotes$|status of 422/);

    // 核验: identifier and an attribute; no noise and no ε
    await page.getByLabel('计算类型').selectOption('verify');
    await page.getByLabel('trip_id', { exact: true }).fill('T-000001');
    await page.getByLabel('origin', { exact: true }).selectOption('省外');
    await askQuote(page);
    await page.locator('.quote').waitFor();
    expect(await page.locator('.quote-epsilon').innerText()).to.include('ε 0');
    expect(await page.locator('.quote-accuracy').innerText()).to.include('不加噪声');
    const held = await page.locator('.quote-price').innerText();
    await b.shot(page, 'quote-verify');

    // submit: the trade exists on the server with the money held, and the POST carried an Idempotency-Key
    const before = await api.wallet();
    await page.getByRole('button', { name: '提交交易' }).click();
    await page.waitForFunction(() => /^#\/trades\/[0-9a-f-]{36}$/.test(location.hash));
    await b.ready(page);
    const tradeId = page.url().split('/').pop()!;
    const trade = await api.trade(tradeId);
    expect(trade.computation).to.deep.equal({ kind: 'verify', match: { trip_id: 'T-000001', origin: '省外' }, perAttribute: false });
    expect(yuanZh(trade.priceFen)).to.equal(held);
    expect((await api.wallet()).heldFen).to.equal(before.heldFen + trade.priceFen);
    const post = b.requests.filter((r) => r.method === 'POST' && r.path === '/v1/trades');
    expect(post).to.have.length(1);
    expect(post[0]!.headers['idempotency-key']).to.match(/^[0-9a-f-]{36}$/);
    expect(await page.locator('.outcome').innerText()).to.include('已从您的钱包冻结');
    await b.shot(page, 'trade-submitted');

    // cancel: the reason is required; the state moves and the hold is released
    await page.getByRole('button', { name: '撤销交易' }).click();
    expect(await page.locator('.cancel-status').innerText()).to.include('请填写撤销理由');
    await page.getByLabel('撤销理由').fill('改为按州市购买聚合统计。');
    await page.getByRole('button', { name: '撤销交易' }).click();
    await page.locator('.outcome[data-outcome="cancelled"]').waitFor();
    await b.ready(page);
    expect((await api.trade(tradeId)).state).to.equal('cancelled');
    expect((await api.wallet()).heldFen).to.equal(before.heldFen);
    expect(await page.locator('.outcome').innerText()).to.include('已全额退回');
    expect(await page.locator('.money-state').innerText()).to.include('未支付');
    expect(await page.getByRole('button', { name: '撤销交易' }).count()).to.equal(0);
    await b.shot(page, 'trade-cancelled');
    cancelledId = tradeId;
    dpTrade = run(dpOffer, { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'sum', measure: 'nights' }], groupBy: ['origin', 'prefecture'], filters: [] });
    dpTrade.catch(() => undefined); // awaited (and reported) by the last test
  });

  it('in English: the builder, the quote and the cancelled trade', async () => {
    const page = buyerPage;
    await openDataset(page, dpOffer);
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await b.ready(page);
    await page.getByLabel('Offer', { exact: true }).selectOption(dpOffer.id);
    await page.getByLabel('Kind of computation').selectOption('aggregate');
    await page.locator('input.group-by[value="prefecture"]').check();
    await page.getByLabel('Purpose statement').fill(STATEMENT);
    await page.getByRole('button', { name: 'Get a quote' }).click();
    await page.locator('.quote').waitFor();
    const text = await mainText(page);
    for (const s of ['Privacy cost', 'Refusal charge', 'Expected accuracy (per output)', 'discrete Laplace', 'Available balance']) expect(text).to.include(s);
    await b.shot(page, 'quote-english');
    await b.go(page, '#/trades');
    await b.clickAndWait(page, () => page.locator(`a[href="#/trades/${cancelledId}"]`).click(), /^#\/trades\/./);
    expect(await page.locator('.outcome').innerText()).to.include('You cancelled the trade');
    await page.getByRole('button', { name: '切换到中文' }).click();
    await b.ready(page);
  });

  it('one trade only in browsers: the owner lists an offer, the buyer quotes and submits, the reviewer approves signing in the page, the buyer reads, downloads and verifies, the owner sees it delivered', async () => {
    // the owner lists the exact offer on its own pages, after previewing its screening
    const owner = await b.tab('owner');
    await b.signIn(owner, w.owner.token);
    await b.go(owner, `#/owner/datasets/${w.dataset.id}/offers/new`);
    await owner.getByLabel('要约标题').fill(EXACT_OFFER.title);
    await tickOrType(owner, 'purposes', '允许用途', EXACT_OFFER.terms.purposes);
    await tickOrType(owner, 'destinations', '允许目的地', EXACT_OFFER.terms.destinations);
    await owner.getByLabel('金额（元）').fill('2.00');
    await owner.getByLabel('最低价格（元）').fill('50.00');
    await owner.getByLabel('最小分组规模').fill('5');
    await owner.getByLabel('隐私拒绝收费比例（%）').fill('20');
    await owner.getByRole('button', { name: '预览负面清单筛查' }).click();
    await owner.locator('.screening[data-decision]').waitFor();
    await owner.evaluate(() => document.querySelector('main')?.removeAttribute('data-ready'));
    await owner.getByRole('button', { name: '上架要约' }).click();
    await owner.waitForFunction(() => /^#\/owner\/datasets\/[^/]+$/.test(location.hash));
    await b.ready(owner);
    await b.shot(owner, 'owner-offer-listed');
    exactOffer = (await api.offers(w.dataset.id)).find((o) => o.title === EXACT_OFFER.title)!;
    expect(exactOffer, 'the offer listed in the browser').to.not.equal(undefined);
    expect(exactOffer).to.deep.include({
      allowedKinds: ['aggregate'],
      allowedColumns: EXACT_OFFER.allowedColumns,
      priceModel: EXACT_OFFER.priceModel,
      platformFeeBps: 1_000,
    });
    expect(exactOffer.terms).to.deep.include({ minGroupSize: 5, epsilonPerQuery: 0, refusalFeeBps: 2_000 });
    expect(exactOffer.terms.purposes).to.have.members(EXACT_OFFER.terms.purposes);

    const page = buyerPage;
    await openDataset(page, exactOffer);
    await page.getByRole('button', { name: '添加指标' }).click();
    await page.getByLabel('指标 2 度量').selectOption('spend_yuan');
    // by origin: an exact release lists every group or none, and every origin holds at least k trips
    await page.locator('input.group-by[value="origin"]').check();
    await askQuote(page);
    await page.locator('.quote').waitFor();
    expect(await page.locator('.quote-epsilon').innerText()).to.include('ε 0');
    await page.getByRole('button', { name: '提交交易' }).click();
    await page.waitForFunction(() => /^#\/trades\/[0-9a-f-]{36}$/.test(location.hash));
    await b.ready(page);
    const tradeId = page.url().split('/').pop()!;

    // the reviewer approves, signing with the key loaded into the page
    const rev = await b.tab('reviewer');
    await b.signIn(rev, w.reviewer.token);
    await b.clickAndWait(rev, () => rev.locator(`a[href="#/review/${tradeId}"]`).click(), /^#\/review\/./);
    await rev.getByLabel('审查理由').fill('按客源地聚合，分组不低于最小规模，用途与要约一致。');
    await rev
      .getByLabel('从文件载入私钥')
      .setInputFiles({ name: 'reviewer.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(w.reviewer.privateKeyPem) });
    await rev.getByText('私钥已载入').waitFor();
    await rev.getByRole('button', { name: '签名并批准' }).click();
    await rev.locator('.decision-status .notice.ok').waitFor();
    for (const body of b.bodies) expect(body).to.not.include('PRIVATE KEY');
    await rev.context().close();

    const done = await api.waitForTrade(tradeId, { timeoutMs: 60_000, pollMs: 200 });
    expect(done.state, done.failureReason ?? '').to.be.oneOf(['delivered', 'settled']);
    // the counts by prefecture without the visitors from abroad: some prefectures hold fewer than k trips (or
    // none), so the release is refused whole
    refusedTrade = run(exactOffer, {
      kind: 'aggregate',
      metrics: [{ op: 'count' }],
      groupBy: ['prefecture'],
      filters: [{ column: 'origin', in: ['省内', '省外'] }],
    });
    refusedTrade.catch(() => undefined);
    const served = await api.result(tradeId);
    const result = served.result as { groups: { key: string[]; values: Record<string, number | null> }[] };

    await b.go(page, '#/trades');
    await b.go(page, `#/trades/${tradeId}`);
    await page.locator('.verdict[data-verified]').waitFor({ timeout: 20_000 });
    expect(await page.locator('.verdict').getAttribute('data-verified')).to.equal('true');
    expect(await page.locator('.outcome').innerText()).to.match(/结果已交付给您/);
    expect(await page.locator('.money-state').innerText()).to.include('已支付');
    const facts = await page.locator('dl.facts').last().innerText();
    expect(facts).to.include('云南文旅数据有限公司'); // the owner organisation by name
    expect(facts).to.include('旅游规划与服务'); // the purpose by its catalogue name
    // one row per released group; numbers at the schema's scale with separators, the unit in the head
    expect(await page.locator('table.result-table tbody tr').count()).to.equal(result.groups.length);
    expect(await page.locator('table.result-table thead').innerText()).to.include('mean(spend_yuan)（元）');
    const means = await page.locator('table.result-table tbody tr td:nth-child(3)').allInnerTexts();
    for (const m of means) expect(m).to.match(/^(\d{1,3}(,\d{3})*\.\d{2}|—)$/);
    const counts = await page.locator('table.result-table tbody tr td:nth-child(2)').allInnerTexts();
    expect(counts).to.deep.equal(result.groups.map((g) => String(g.values.count)));
    // every origin is released (a release is whole); keys not released would be named once, as empty or withheld
    const absent = 3 - result.groups.length;
    if (absent > 0) expect(await page.locator('.absent-note').innerText()).to.include(`共 ${absent} 个分组未出现在结果中：无数据或已按隐私规则隐去`);
    // the chart: one bar per released count, no label cut short, every label inside the picture
    expect(await page.locator('svg.chart rect.bar').count()).to.equal(result.groups.length);
    const labels = await page.locator('svg.chart .bar-label').allTextContents();
    expect(labels.join('')).to.not.include('…');
    const inside = await page.evaluate(() =>
      Array.from(document.querySelectorAll('svg.chart .bar-label')).every((el) => (el as SVGGraphicsElement).getBBox().x >= 0),
    );
    expect(inside, 'bar labels inside the chart').to.equal(true);
    await b.shot(page, 'trade-delivered');

    // the CSV holds exactly the released numbers
    const [csvDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '下载结果（CSV）' }).click()]);
    const csv = readFileSync((await csvDl.path())!, 'utf8')
      .replace(/^\ufeff/, '')
      .trim()
      .split('\r\n');
    expect(csv[0]).to.equal('origin,count,mean(spend_yuan)');
    expect(csv.slice(1)).to.deep.equal(result.groups.map((g) => [g.key[0], g.values.count, g.values['mean(spend_yuan)'] ?? ''].join(',')));
    // the receipt downloaded from the page verifies against the pinned enclave key
    const [rDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '下载回执（JSON）' }).click()]);
    const receipt = JSON.parse(readFileSync((await rDl.path())!, 'utf8'));
    expect(api.verifyReceipt(receipt).valid).to.equal(true);

    // the owner: delivered to the buyer (by name), its revenue, never "not delivered yet"
    await b.go(owner, `#/trades/${tradeId}`);
    const ownerText = await mainText(owner);
    expect(ownerText).to.include('结果已交付给需求方');
    expect(ownerText).to.not.include('结果尚未交付');
    expect(await owner.locator('.money-state').innerText()).to.include(yuanZh(done.ownerShareFen));
    expect(ownerText).to.include(w.buyer.orgName);
    await b.shot(owner, 'owner-trade-delivered');
    await owner.context().close();
  });

  it('a DP result with ± intervals and a heat map; a privacy refusal says what it cost and is not paid', async () => {
    const [dp, refused] = await Promise.all([dpTrade, refusedTrade]);
    expect(dp.state, dp.failureReason ?? '').to.be.oneOf(['delivered', 'settled']);
    const page = buyerPage;
    await b.go(page, `#/trades/${dp.id}`);
    await page.locator('.verdict[data-verified="true"]').waitFor({ timeout: 20_000 });
    expect(await mainText(page)).to.include('差分隐私发布');
    expect(await page.locator('table.result-table .pm').count()).to.be.greaterThan(0);
    expect(await page.locator('svg.heatmap rect.cell').count()).to.equal(3 * 16);
    const cols = await page.locator('svg.heatmap .col-label').allTextContents();
    expect(cols.join('')).to.not.include('…');
    const [csvDl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '下载结果（CSV）' }).click()]);
    const header = readFileSync((await csvDl.path())!, 'utf8')
      .replace(/^\ufeff/, '')
      .split('\r\n')[0];
    expect(header).to.equal('origin,prefecture,count,count ±95%,sum(nights),sum(nights) ±95%');
    await b.shot(page, 'trade-dp-heatmap');
    await page.locator('svg.heatmap').screenshot({ path: path.join(ARTIFACTS, 'buyer-heatmap.png') });

    expect(refused.state).to.equal('failed');
    expect(refused.failure?.code).to.equal('privacy-refused');
    await b.go(page, `#/trades/${refused.id}`);
    const outcome = await page.locator('.outcome').innerText();
    expect(outcome).to.include('被隐私防护拒绝');
    expect(outcome).to.include(yuanZh(refused.failure!.chargedFen));
    expect(await page.locator('.money-state').innerText()).to.not.include('已支付');
    const refusedText = await mainText(page);
    expect(refusedText).to.include('隐私防护拒绝发布结果，因此没有回执');
    expect(refusedText).to.not.include('提供方所得');
    await b.shot(page, 'trade-privacy-refused');

    // a phone: the builder and the heat map fit the screen (the heat map scrolls inside its own box)
    await page.setViewportSize({ width: 390, height: 844 });
    for (const hash of [`#/trades/${dp.id}`, `#/datasets/${w.dataset.id}`]) {
      await b.go(page, '#/trades');
      await b.go(page, hash);
      if (hash.startsWith('#/trades/')) await page.locator('svg.heatmap').waitFor({ timeout: 20_000 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `horizontal overflow on a phone at ${hash}`).to.be.at.most(0);
    }
    await b.shot(page, 'dataset-phone');
    await page.context().close();
  });
});
