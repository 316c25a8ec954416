/**
 * The owner's and the operator's management pages in headless Chromium against a real server with its
 * enclave. Every action is clicked in the page and its effect read back through the API: an owner's
 * datasets with revenue from a delivered trade, an upload left half-done with the command that resumes
 * it, an offer screened (denied, then allowed with a review finding), listed, revised and withdrawn; an
 * operator's top-up, organisation, user, token issued and revoked, and the difference between two
 * negative-list versions. Chinese by default, English on one page per role. Screenshots go to
 * test-artifacts/console/; with SHUYU_DOC_SCREENSHOTS=1 the role screenshots of docs/console/ are
 * written too.
 */
import { expect } from 'chai';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path, { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.js';
import type { RunningServer } from '../../server/start.js';
import { OperatorClient, reviewerCertificateFor } from '../../client-sdk/sdk/operator.js';
import { OwnerClient } from '../../client-sdk/sdk/owner.js';
import { BuyerClient } from '../../client-sdk/sdk/buyer.js';
import { ReviewerClient } from '../../client-sdk/sdk/reviewer.js';
import { bundleFromDir, sealTargetOf } from '../../client-sdk/sdk/local-data.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import type { Dataset, Offer, User } from '../../client-sdk/sdk/types.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { demoDataset, writeDemoCsv } from '../../cli/demo/data.js';
import { DEMO_TRADES } from '../../cli/demo/scenario.js';
import { sm2KeyPair, sm2PrivateKeyFromPem, sm2PublicKeyToPem } from '../../crypto/index.js';
import { ARTIFACTS, launch, requireChromium, watched, type Watched } from './browser.js';
import { consoleServer } from './deployment.js';

const DOCS = path.resolve('docs/console');
const DOC_SHOTS = process.env.SHUYU_DOC_SCREENSHOTS === '1';
const TOURISM = DEMO_TRADES[0]!;
/** Enough rows for the demo computation's groups to pass the enclave's minimum-size and differencing guards. */
const ROWS = 240;

interface World {
  srv: RunningServer;
  /** stops the server and removes its data dir */
  close(): Promise<void>;
  logs: string[];
  operatorToken: string;
  owner: { token: string; user: User };
  buyer: { token: string; user: User };
  reviewerToken: string;
  dataset: Dataset;
  offer: Offer;
  uploadId: string;
  missing: number;
  /** the owner's share of the trade, in fen, once it settled (it runs in the enclave meanwhile) */
  settled: Promise<number>;
}

/** One owner with a sealed dataset, its offer and a delivered trade on it; a second upload left open. */
async function setUp(): Promise<World> {
  const t0 = performance.now();
  const lap = (what: string) => process.env.SHUYU_CONSOLE_TIMING && console.log(`      set-up: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const { srv, dir, logs, boot, close } = await consoleServer('manage');
  try {
    const url = srv.url;
    const op = new OperatorClient({ url, token: boot.token });
    const person = async (orgName: string, name: string, role: User['role']) => {
      const org = await op.createOrg({ name: orgName, region: 'CN' });
      const r = await op.createUser({ orgId: org.id, name, role });
      return { user: r.user, token: r.token.token };
    };
    const [owner, buyer, reviewer] = await Promise.all([
      person(TOURISM.owner, '李文旅', 'owner'),
      person(TOURISM.buyer, '张规划', 'buyer'),
      person('数据交易合规审查中心 Data Trade Compliance Office', '陈审查', 'reviewer'),
    ]);
    const kp = sm2KeyPair();
    const rc = new ReviewerClient({ url, token: reviewer.token });
    await rc.registerKey(sm2PublicKeyToPem(kp.publicKey));
    await op.submitCertificate(reviewer.user.id, reviewerCertificateFor((await rc.me()).user, sm2PrivateKeyFromPem(boot.privateKeyPem)));

    const oc = new OwnerClient({ url, token: owner.token });
    const ds = demoDataset('tourism');
    const csv = join(dir, 'tourism.csv');
    await writeDemoCsv(csv, ds, ROWS);
    const evaluator = new HeEvaluator({ threads: 2 });
    try {
      await sealDataset({ input: csv, schema: ds.schema, enclave: sealTargetOf(await oc.enclave()), outDir: join(dir, 'bundle'), evaluator });
    } finally {
      await evaluator.close();
    }
    lap('sealed');
    const { dataset } = await oc.uploadDir(join(dir, 'bundle'), { title: ds.title, description: ds.description, keywords: ['tourism'] });
    const { offer } = await oc.createOffer(dataset.id, TOURISM.offer);

    // a second upload of the bundle, one blob sent: open, with the rest missing
    const bundle = await bundleFromDir(join(dir, 'bundle'));
    const auth = { authorization: `Bearer ${owner.token}` };
    const created = await fetch(`${url}/v1/uploads`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ title: '各州市游客消费（第二批）', manifest: bundle.manifest }),
    });
    expect(created.status, await created.clone().text()).to.equal(201);
    const upload = (await created.json()) as { id: string; missing: string[] };
    const first = upload.missing[0]!;
    const put = await fetch(`${url}/v1/uploads/${upload.id}/blobs/${first}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: Buffer.from(await bundle.readBlob(first)),
    });
    expect(put.status, await put.clone().text()).to.equal(200);

    lap('uploaded');
    // a delivered trade: the owner's revenue
    await op.topUp(buyer.user.orgId, 1_000_000, { memo: 'test' });
    const b = new BuyerClient({ url, token: buyer.token });
    // by origin: an exact release lists every group or none, and these few generated rows leave some prefectures
    // with fewer than k visitors from outside Yunnan
    const computation = { ...TOURISM.computation, groupBy: ['origin'] };
    const { trade } = await b.request(offer.id, { computation, purpose: TOURISM.purpose, destination: TOURISM.destination });
    await rc.approve(trade.id, kp.privateKey, TOURISM.reviewerReason);
    const settled = b.waitForTrade(trade.id, { timeoutMs: 60_000, pollMs: 200 }).then((done) => {
      lap('trade settled');
      expect(done.state, done.failureReason ?? '').to.equal('settled');
      return done.ownerShareFen;
    });
    settled.catch(() => undefined); // awaited by the owner's test; never an unhandled rejection meanwhile
    return {
      srv,
      close,
      logs,
      operatorToken: boot.token,
      owner,
      buyer,
      reviewerToken: reviewer.token,
      dataset,
      offer,
      uploadId: upload.id,
      missing: upload.missing.length - 1,
      settled,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

describe('console: owners and operators manage in the browser', function () {
  this.timeout(180_000);
  let w: World;
  let browser: Browser;
  let b: Watched;

  before(async function () {
    requireChromium(this);
    mkdirSync(ARTIFACTS, { recursive: true });
    for (const f of readdirSync(ARTIFACTS)) if (f.startsWith('manage-')) rmSync(path.join(ARTIFACTS, f)); // this run's screenshots only
    if (DOC_SHOTS) mkdirSync(DOCS, { recursive: true });
    [w, browser] = await Promise.all([setUp(), launch(), buildConsole()]);
    b = watched(browser, w.srv.url, 'manage-');
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
    if (this.currentTest?.state === 'passed') expect(found, 'console errors / failed requests').to.deep.equal([]);
  });

  const tab = (label: string) => b.tab(label);
  const ready = (page: Page) => b.ready(page);
  const go = (page: Page, hash: string) => b.go(page, hash);
  const clickAndWait = (page: Page, click: () => Promise<void>, hash: RegExp) => b.clickAndWait(page, click, hash);
  const signIn = (page: Page, token: string) => b.signIn(page, token);

  /** A screenshot in test-artifacts/console/ and, with SHUYU_DOC_SCREENSHOTS=1, the role's one in docs/console/. */
  async function shot(page: Page, name: string, doc?: string): Promise<void> {
    await b.shot(page, name);
    if (DOC_SHOTS && doc) await page.screenshot({ path: path.join(DOCS, `${doc}.png`), fullPage: false });
  }

  const mainText = (page: Page) => page.locator('main').innerText();
  const ownerApi = () => new OwnerClient({ url: w.srv.url, token: w.owner.token });
  const opApi = () => new OperatorClient({ url: w.srv.url, token: w.operatorToken });

  // first: it needs no finished trade, which runs in the enclave meanwhile
  it('operator: top-up, organisation, user, token issued and revoked', async () => {
    const page = await tab('operator');
    await signIn(page, w.operatorToken);
    const op = opApi();
    const before = (await op.wallet(w.buyer.user.orgId)).availableFen;

    await go(page, '#/operator/topups');
    await page.getByLabel('机构', { exact: true }).selectOption({ label: TOURISM.buyer });
    await page.getByLabel('金额（元）').fill('1234.56');
    await page.getByLabel('备注').fill('季度预付款');
    await page.getByRole('button', { name: '充值', exact: true }).click();
    await page.locator('.topup-status .notice.ok').waitFor();
    expect((await op.wallet(w.buyer.user.orgId)).availableFen - before).to.equal(123_456);
    const txns = (await op.statement(w.buyer.user.orgId, { limit: 200 })).transactions;
    expect(
      txns.filter((x) => x.memo.includes('季度预付款') && x.entries.some((e) => e.amount === 123_456)),
      'one top-up with its memo',
    ).to.have.length(1);
    // the page re-renders with the new balances
    await page.waitForFunction(() => !document.querySelector('.topup-status .notice'));
    await ready(page);
    await shot(page, 'operator-topups');

    // a new organisation and a user in it
    await go(page, '#/operator/orgs');
    await page.getByLabel('名称').fill('普洱茶产业研究所 Pu’er Tea Institute');
    await page.getByRole('button', { name: '新建机构' }).click();
    await page.getByText('已创建机构').waitFor();
    // the page shows the list with the new organisation
    await page.waitForFunction(() => !document.querySelector('main .notice.ok') && document.querySelector('main')?.innerText.includes('普洱茶'));
    await ready(page);
    const org = (await op.orgs({ limit: 100 })).items.find((o) => o.name.startsWith('普洱茶'));
    expect(org, 'organisation created').to.not.equal(undefined);
    await go(page, '#/operator/users');
    await page.getByLabel('姓名').fill('周普洱');
    await page.getByLabel('机构', { exact: true }).selectOption(org!.id);
    await page.getByLabel('角色').selectOption('buyer');
    await page.getByRole('button', { name: '新建用户' }).click();
    const firstToken = await page.locator('main .notice.ok code').innerText();
    const newUser = (await op.users({ orgId: org!.id })).items[0]!;
    expect(newUser).to.deep.include({ name: '周普洱', role: 'buyer' });
    expect((await new BuyerClient({ url: w.srv.url, token: firstToken }).me()).user.id).to.equal(newUser.id);

    // tokens: issue one (shown once, works), then revoke it (stops working)
    await go(page, '#/operator/tokens');
    await page.getByLabel('用户', { exact: true }).selectOption(newUser.id);
    await page.getByLabel('有效天数').fill('7');
    await page.getByRole('button', { name: '签发令牌' }).click();
    const issued = await page.locator('code.issued-token').innerText();
    const statusText = await page.locator('.token-status').innerText();
    const tokenId = /（编号 ([0-9a-f-]+)）/.exec(statusText)![1]!;
    const client = new BuyerClient({ url: w.srv.url, token: issued });
    expect((await client.me()).user.id).to.equal(newUser.id);
    await shot(page, 'operator-token-issued');
    // its row appears in the list, the token itself still on screen
    await page.locator(`[data-token="${tokenId}"]`).waitFor();
    expect(await page.locator('code.issued-token').innerText()).to.equal(issued);
    const rowOf = page.locator('table.tokens tbody tr', { has: page.locator(`[data-token="${tokenId}"]`) });
    expect(await rowOf.innerText()).to.include('有效');
    await rowOf.getByRole('button', { name: '吊销' }).click();
    await rowOf.getByRole('button', { name: '确认吊销' }).click();
    await page.locator('.token-status .notice.ok').waitFor();
    const after = await client.me().then(
      () => 200,
      (e: { status?: number }) => e.status,
    );
    expect(after, 'a revoked token no longer signs in').to.equal(401);
    expect((await new BuyerClient({ url: w.srv.url, token: firstToken }).me()).user.id, 'the other token still works').to.equal(newUser.id);
    await page.waitForFunction((id) => document.querySelector(`[data-token="${id}"]`)?.closest('tr')?.textContent?.includes('已吊销'), tokenId);
    await shot(page, 'operator-tokens');
    await page.context().close();
  });

  it('owner: my datasets with revenue and trades by buyer name, the open upload with its resume command, English', async () => {
    const revenueFen = await w.settled;
    const page = await tab('owner');
    await signIn(page, w.owner.token);
    // an owner lands on its own data
    expect(await page.evaluate(() => location.hash)).to.equal('#/owner/datasets');
    expect(await page.locator('h1').innerText()).to.equal('我的数据');
    expect(await page.locator('nav a[aria-current="page"]').innerText()).to.equal('我的数据');
    const row = page.locator('table.my-datasets tbody tr');
    expect(await row.count()).to.equal(1);
    const cells = await row.locator('td').allInnerTexts();
    const revenue = `¥${(revenueFen / 100).toFixed(2)}`;
    expect(cells[0]).to.equal(w.dataset.title);
    expect(cells[2]).to.equal(String(ROWS));
    expect(cells[3]).to.match(/^L\d/);
    expect(cells.slice(5)).to.deep.equal(['1', '1', revenue]);
    expect(revenueFen).to.be.greaterThan(0);
    // the open upload: what is missing and the command that resumes it, with its id
    const upload = page.locator(`li.upload[data-upload="${w.uploadId}"]`);
    const up = await upload.innerText();
    expect(up).to.include('上传中');
    expect(up).to.include(`${w.missing} 个，共 ${w.missing + 1} 个`);
    expect(await upload.locator('pre.command').innerText()).to.include(`--resume ${w.uploadId}`);
    await shot(page, 'owner-datasets', 'owner');

    await page.getByRole('button', { name: 'Switch to English' }).click();
    await ready(page);
    expect(await page.locator('h1').innerText()).to.equal('My data');
    expect(await mainText(page)).to.include('Uploads in progress');
    expect(await upload.innerText()).to.include(`${w.missing} of ${w.missing + 1}`);
    await shot(page, 'owner-datasets-english');
    await page.getByRole('button', { name: '切换到中文' }).click();
    await ready(page);

    // one dataset: the trade on it with the buyer's organisation by name, never its id
    await clickAndWait(page, () => page.getByRole('link', { name: w.dataset.title }).click(), /^#\/owner\/datasets\/[^/]+$/);
    const trades = await page.locator('table.owner-trades tbody tr').allInnerTexts();
    expect(trades).to.have.length(1);
    expect(trades[0]).to.include(TOURISM.buyer);
    expect(trades[0]).to.not.include(w.buyer.user.orgId);
    expect(await page.locator('.dataset-revenue').innerText()).to.equal(revenue);
    await shot(page, 'owner-dataset');
    // and on the trades page shared with buyers
    await go(page, '#/trades');
    const listed = await mainText(page);
    expect(listed).to.include(TOURISM.buyer.split(' ')[0]!);
    expect(listed).to.not.include(w.buyer.user.orgId);
    await page.context().close();
  });

  it('owner: an offer screened before listing (denied, then a review finding), listed, revised and withdrawn', async () => {
    const page = await tab('owner-offers');
    await signIn(page, w.owner.token);
    await go(page, `#/owner/datasets/${w.dataset.id}`);
    await clickAndWait(page, () => page.getByRole('link', { name: '新建要约' }).click(), /\/offers\/new$/);
    const list = page.getByRole('button', { name: '上架要约' });
    expect(await list.isDisabled(), 'listing before any preview').to.equal(true);

    await page.getByLabel('要约标题').fill('游客来源地统计 Visitor origins');
    await page.getByRole('checkbox', { name: '重新识别个人 (re-identification)' }).check();
    await page.getByLabel('金额（元）').fill('1.50');
    await page.getByRole('button', { name: '预览负面清单筛查' }).click();
    await page.locator('.screening[data-decision="deny"]').waitFor();
    expect(await page.locator('.screening').innerText()).to.include('NL-05');
    expect(await list.isDisabled(), 'a denied offer cannot be listed').to.equal(true);
    await shot(page, 'owner-offer-denied');

    await page.getByRole('checkbox', { name: '重新识别个人 (re-identification)' }).uncheck();
    expect(await page.locator('.screening-result').innerText()).to.include('请重新预览');
    for (const code of ['tourism-planning', 'statistics']) await page.getByRole('checkbox', { name: `(${code})` }).check();
    await page.getByLabel('允许目的地').fill('CN, HK');
    await page.getByRole('button', { name: '预览负面清单筛查' }).click();
    await page.locator('.screening[data-decision="review"]').waitFor();
    expect(await page.locator('.screening').innerText()).to.include('NL-07');
    // previews wrote nothing
    expect((await ownerApi().offers(w.dataset.id)).map((o) => o.id)).to.deep.equal([w.offer.id]);
    await shot(page, 'owner-offer-review');
    await clickAndWait(page, () => list.click(), /^#\/owner\/datasets\/[^/]+$/);
    const offers = await ownerApi().offers(w.dataset.id);
    const created = offers.find((o) => o.id !== w.offer.id)!;
    expect(created).to.deep.include({ title: '游客来源地统计 Visitor origins', version: 1, status: 'active' });
    expect(created.priceModel).to.deep.equal({ kind: 'per-row', fenPerThousandRows: 150, minimumFen: 0 });
    expect(created.terms.purposes).to.have.members(['tourism-planning', 'statistics']);
    expect(created.terms.destinations).to.deep.equal(['CN', 'HK']);
    expect(created.allowedColumns, 'the identifier column is left out by default').to.not.include('trip_id');

    // revise: a new version with the new price
    await clickAndWait(page, () => page.getByRole('link', { name: `修订: ${created.title}` }).click(), /\/revise$/);
    expect(await page.getByLabel('要约标题').inputValue()).to.equal(created.title);
    await page.getByLabel('金额（元）').fill('3');
    await page.getByRole('button', { name: '预览负面清单筛查' }).click();
    await page.locator('.screening[data-decision]').waitFor();
    await clickAndWait(page, () => page.getByRole('button', { name: '发布新版本' }).click(), /^#\/owner\/datasets\/[^/]+$/);
    const revised = await ownerApi().offer(created.id);
    expect(revised.version).to.equal(2);
    expect(revised.priceModel).to.deep.include({ kind: 'per-row', fenPerThousandRows: 300 });
    expect(await page.locator(`article[data-offer="${created.id}"] h3`).innerText()).to.include('版本 2');

    // withdraw: a second, explicit step
    await page.getByRole('button', { name: `撤回: ${created.title}` }).click();
    await shot(page, 'owner-offer-withdraw-confirm');
    await page.getByRole('button', { name: `确认撤回: ${created.title}` }).click();
    await page.locator('.offer-status .notice.ok').waitFor();
    expect((await ownerApi().offer(created.id)).status).to.equal('withdrawn');
    expect((await ownerApi().offers(w.dataset.id)).map((o) => o.id)).to.deep.equal([w.offer.id]);
    await page.waitForFunction((id) => !document.querySelector(`article[data-offer="${id}"]`), created.id);
    await page.context().close();
  });

  it('operator: the difference between two negative-list versions, in English too', async () => {
    const op = opApi();
    const v1 = await op.policy();
    // the next version: NL-07 now denies, NL-06 gone, a rule added
    const rules = v1.rules.filter((r) => r.id !== 'NL-06').map((r) => (r.id === 'NL-07' ? { ...r, effect: 'deny' as const } : r));
    const added = {
      ...v1.rules.find((r) => r.id === 'NL-05')!,
      id: 'NL-90',
      reason: { zh: '测试新增的禁止用途', en: 'A prohibited purpose added by the test' },
    };
    await op.publishPolicy({ ...v1, version: v1.version + 1, rules: [...rules, added] } as Parameters<OperatorClient['publishPolicy']>[0]);

    const page = await tab('operator-policy');
    await signIn(page, w.operatorToken);
    await go(page, '#/operator/policy');
    const diff = page.locator('.policy-diff');
    expect(await diff.getAttribute('data-from')).to.equal(`${v1.policyId}/${v1.version}`);
    expect(await diff.getAttribute('data-to')).to.equal(`${v1.policyId}/${v1.version + 1}`);
    const tables = diff.locator('table');
    expect(await tables.count()).to.equal(3);
    expect(await tables.nth(0).locator('tbody tr').allInnerTexts()).to.satisfy((r: string[]) => r.length === 1 && r[0]!.includes('NL-90'));
    expect(await tables.nth(1).locator('tbody tr').allInnerTexts()).to.satisfy((r: string[]) => r.length === 1 && r[0]!.includes('NL-06'));
    const changed = await tables.nth(2).locator('tbody tr').allInnerTexts();
    expect(changed).to.have.length(1);
    expect(changed[0]).to.match(/NL-07\s+effect\s+review\s+deny/);
    await shot(page, 'operator-policy-diff');

    // the same versions in the other order, chosen in the page
    await page.getByLabel('旧版本').selectOption(`${v1.policyId}/${v1.version + 1}`);
    await page.getByLabel('新版本').selectOption(`${v1.policyId}/${v1.version}`);
    await clickAndWait(page, () => page.getByRole('button', { name: '比较', exact: true }).click(), /from=/);
    expect(await page.locator('.policy-diff h4').allInnerTexts()).to.deep.equal(['新增规则', '删除规则', '修改的规则']);
    expect(await page.locator('.policy-diff table').nth(0).innerText()).to.include('NL-06');

    await page.getByRole('button', { name: 'Switch to English' }).click();
    await ready(page);
    expect(await page.locator('.policy-diff h4').allInnerTexts()).to.deep.equal(['Rules added', 'Rules removed', 'Rules changed']);
    await shot(page, 'operator-policy-diff-english');
    await page.context().close();
  });

  it('role screenshots for the docs: operator (once the trade settled), reviewer and buyer', async function () {
    if (!DOC_SHOTS) this.skip();
    const operator = await tab('operator-doc');
    await signIn(operator, w.operatorToken);
    await go(operator, '#/operator/topups');
    await shot(operator, 'operator-balances', 'operator');
    await operator.context().close();
    const buyer = await tab('buyer');
    await signIn(buyer, w.buyer.token);
    await shot(buyer, 'buyer-trades', 'buyer');
    await buyer.context().close();
    // one trade waiting for review, so the reviewer's queue is not empty
    await new BuyerClient({ url: w.srv.url, token: w.buyer.token }).request(w.offer.id, {
      computation: TOURISM.computation,
      purpose: TOURISM.purpose,
      destination: TOURISM.destination,
    });
    const reviewer = await tab('reviewer');
    await signIn(reviewer, w.reviewerToken);
    await shot(reviewer, 'reviewer-queue', 'reviewer');
    await reviewer.context().close();
  });
});
