/**
 * The web console end to end in real headless Chromium (Debian's chromium, driven by playwright-core):
 * a real server with its enclave (startServer), seeded through the SDK, the console built by
 * scripts/build-console.ts. A reviewer rejects one trade with a reason and approves another with an
 * approval signed IN THE PAGE; the buyer sees the delivered result as a table and a bar chart and the
 * receipt verified in the page; catalogue, wallet and operator pages are visited too. Every page is
 * screenshotted to test-artifacts/console/. Asserted throughout: no console error, no page error, no
 * failed or refused request, no request leaving the server's origin, and the reviewer's private key in
 * no request.
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.js';
import { BuyerClient } from '../../client-sdk/sdk/buyer.js';
import { canonicalJson, sm2PrivateKeyFromPem, toHex } from '../../crypto/index.js';
import { seed, type Seeded } from './seed.js';
import { ARTIFACTS, launch, requireChromium, watched, type Watched } from './browser.js';

describe('console: the web console in headless Chromium', function () {
  this.timeout(240_000);
  let s: Seeded;
  let browser: Browser;
  let b: Watched;

  before(async function () {
    requireChromium(this);
    rmSync(ARTIFACTS, { recursive: true, force: true }); // this run's screenshots only
    mkdirSync(ARTIFACTS, { recursive: true });
    const built = await buildConsole();
    expect(built.ms, 'console build time').to.be.below(5000);
    [s, browser] = await Promise.all([seed(), launch()]);
    b = watched(browser, s.url);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close();
    const fives = s?.logs.filter((l) => /"status":5\d\d/.test(l)) ?? [];
    await s?.close();
    expect(fives, 'server answered 5xx').to.deep.equal([]);
  });

  afterEach(function () {
    const found = b?.problems.splice(0) ?? [];
    if (this.currentTest?.state === 'passed') expect(found, 'console errors / failed requests').to.deep.equal([]);
  });

  const tab = (label: string, viewport?: { width: number; height: number }) => b.tab(label, viewport);
  const ready = (page: Page) => b.ready(page);
  const go = (page: Page, hash: string) => b.go(page, hash);
  /** A link's page, waited for: the current render is marked stale before the click (never read the old page). */
  const clickAndWait = (page: Page, click: () => Promise<void>, hash: RegExp) => b.clickAndWait(page, click, hash);
  const shot = (page: Page, name: string, fullPage?: boolean) => b.shot(page, name, fullPage);
  const signIn = (page: Page, token: string) => b.signIn(page, token);

  const mainText = (page: Page) => page.locator('main').innerText();

  let reviewerPage: Page;
  let buyerPage: Page;

  it('a reviewer signs in, opens the queue, rejects one trade with a reason and approves another signed in the page', async () => {
    const page = (reviewerPage = await tab('reviewer'));
    await page.goto(`${s.url}/`);
    await ready(page);
    await shot(page, 'signin');
    await signIn(page, s.reviewer.token);
    expect(await page.locator('h1').innerText()).to.equal('合规审查队列');
    const rows = page.locator('main tbody tr');
    expect(await rows.count()).to.equal(2);
    await shot(page, 'review-queue');

    // reject the health trade: the reason is mandatory
    const rejectId = s.trades['rejected-by-reviewer'].id;
    await clickAndWait(page, () => page.locator(`a[href="#/review/${rejectId}"]`).click(), /^#\/review\/./);
    const text = await mainText(page);
    for (const expected of ['market-research', 'NL-04', '计算涉及敏感个人信息或健康信息', '¥300.00', 'ε 1', 'fee_yuan']) expect(text).to.include(expected);
    await page.getByRole('button', { name: '驳回' }).click();
    expect(await page.locator('.decision-status').innerText()).to.include('至少 4 个字符');
    expect(await page.getByLabel('审查理由').getAttribute('aria-invalid')).to.equal('true');
    await shot(page, 'review-case-health');
    const reason = '健康数据用于针对医院的销售定位，不符合该数据的用途；驳回。';
    await page.getByLabel('审查理由').fill(reason);
    await page.getByRole('button', { name: '驳回' }).click();
    await page.locator('.decision-status .notice.ok').waitFor();
    await page.waitForFunction(() => location.hash === '#/review');
    await ready(page);
    expect(await rows.count()).to.equal(1);

    // approve the tourism trade: load the private key from a file, sign in the page
    const approveId = s.trades.delivered.id;
    await clickAndWait(page, () => page.locator(`a[href="#/review/${approveId}"]`).click(), /^#\/review\/./);
    await page.getByRole('button', { name: '签名并批准' }).click();
    await page.getByLabel('审查理由').fill('按州市聚合，分组不低于最小规模，用途与要约一致。');
    await page.getByRole('button', { name: '签名并批准' }).click();
    expect(await page.locator('.decision-status').innerText()).to.include('请先载入您的私钥');
    await page
      .getByLabel('从文件载入私钥')
      .setInputFiles({ name: 'reviewer.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(s.reviewer.privateKeyPem) });
    await page.getByText('私钥已载入').waitFor();
    await shot(page, 'review-case-tourism-key-loaded');
    await page.getByRole('button', { name: '签名并批准' }).click();
    await page.locator('.decision-status .notice.ok').waitFor();
    await shot(page, 'review-approved');

    // what the server recorded: the rejection with its reason, the approval signed by the certified key
    const api = new BuyerClient({ url: s.url, token: s.buyer.token });
    const rejected = await api.trade(rejectId);
    expect(rejected.state).to.equal('rejected');
    expect(rejected.transitions.at(-1)?.reason).to.include('驳回');
    const approved = await api.trade(approveId);
    expect(['approved', 'executing', 'delivered', 'settled']).to.include(approved.state);
    expect(approved.reviewerId).to.equal(s.reviewer.user.id);
    // the private key never left the page: not in any request body, as PEM or as hex
    const keyHex = toHex(sm2PrivateKeyFromPem(s.reviewer.privateKeyPem));
    for (const body of b.bodies) {
      expect(body).to.not.include('PRIVATE KEY');
      expect(body.toLowerCase()).to.not.include(keyHex);
    }
  });

  it('the buyer sees the delivered result as a table and a bar chart, and the receipt verified in the page', async () => {
    const api = new BuyerClient({ url: s.url, token: s.buyer.token });
    const done = await api.waitForTrade(s.trades.delivered.id, { timeoutMs: 90_000, pollMs: 250 });
    expect(done.state, done.failureReason ?? '').to.be.oneOf(['delivered', 'settled']);
    const served = await api.rawResult(done.id);

    const page = (buyerPage = await tab('buyer'));
    await signIn(page, s.buyer.token);
    expect(await page.locator('h1').innerText()).to.equal('我的交易');
    // the delivered and the rejected trade; the denied one belongs to the entity-listed buyer
    expect(await page.locator('main tbody tr').count()).to.equal(2);
    const listText = await mainText(page);
    for (const st of ['已结算', '已驳回']) expect(listText).to.include(st);
    await shot(page, 'buyer-trades');

    await clickAndWait(page, () => page.locator(`a[href="#/trades/${done.id}"]`).click(), /^#\/trades\/./);
    await page.locator('.verdict[data-verified]').waitFor({ timeout: 20_000 });
    expect(await page.locator('.verdict').getAttribute('data-verified')).to.equal('true');
    expect(await page.locator('.verdict').innerText()).to.include('回执有效');
    // the result table holds exactly the released groups, and the chart one bar per numeric row
    const groups = (served.result as { groups: { key: string[]; values: Record<string, number | null> }[] }).groups;
    expect(groups.length).to.be.greaterThan(1);
    expect(await page.locator('table.result-table tbody tr').count()).to.equal(groups.length);
    const firstMetric = Object.keys(groups[0]!.values)[0]!;
    const withValue = groups.filter((g) => typeof g.values[firstMetric] === 'number').length;
    expect(await page.locator('svg.chart rect.bar').count()).to.equal(withValue);
    expect(await page.locator('svg.chart').getAttribute('role')).to.equal('img');
    const tl = await page.locator('ol.timeline').innerText();
    for (const st of ['已提交', '已筛查', '审查中', '已批准', '执行中', '已交付']) expect(tl).to.include(st);
    await shot(page, 'buyer-trade-delivered');

    // the downloaded receipt is the server's, byte for byte, and verifies against the pinned key
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: '下载回执（JSON）' }).click()]);
    const file = await download.path();
    const receipt = JSON.parse(readFileSync(file, 'utf8'));
    expect(receipt).to.deep.equal(served.receipt);
    await api.pinEnclave();
    expect(api.verifyReceipt(receipt).valid).to.equal(true);
    const pin = await page.evaluate(() => localStorage.getItem('shuyu.enclavePin'));
    expect(JSON.parse(pin!).fingerprint).to.equal(api.pinnedEnclave!.fingerprint);

    // the in-page verification can fail: a receipt whose released count was raised by one (re-serialised
    // canonically, so only the signature gives it away) is reported invalid
    await page.route('**/v1/trades/*/result', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { receipt: { payload: string } };
      const payload = JSON.parse(body.receipt.payload) as { result: { groups: { values: Record<string, number> }[] } };
      payload.result.groups[0]!.values[firstMetric]! += 1;
      body.receipt.payload = canonicalJson(payload);
      await route.fulfill({ response: res, json: body });
    });
    await go(page, '#/trades');
    await go(page, `#/trades/${done.id}`);
    await page.locator('.verdict[data-verified]').waitFor();
    expect(await page.locator('.verdict').getAttribute('data-verified')).to.equal('false');
    expect(await page.locator('.verdict').innerText()).to.include('回执无效');
    expect(await mainText(page)).to.include('回执未通过验证，因此不显示其中的结果');
    expect(await page.locator('table.result-table').count()).to.equal(0);
    await shot(page, 'buyer-receipt-tampered');
    await page.unroute('**/v1/trades/*/result');

    // the rejected trade shows the reviewer's reason; the denied one every negative-list finding
    await go(page, `#/trades/${s.trades['rejected-by-reviewer'].id}`);
    expect(await page.locator('ol.timeline').innerText()).to.include('驳回');
    await shot(page, 'buyer-trade-rejected');
    // the denied trade, as its buyer (an organisation on the entity list) sees it
    const listed = await tab('listed-buyer');
    await signIn(listed, s.listedBuyer.token);
    await go(listed, `#/trades/${s.trades['denied-by-negative-list'].id}`);
    const denied = await mainText(listed);
    expect(denied).to.include('NL-06');
    expect(denied).to.include('禁止');
    await shot(listed, 'buyer-trade-denied');
    await listed.close();

    // a phone-sized screen: the same page, laid out in one column
    await page.setViewportSize({ width: 390, height: 844 });
    await go(page, `#/trades/${done.id}`);
    await page.locator('.verdict[data-verified="true"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, 'horizontal overflow on a phone').to.be.at.most(0);
    await shot(page, 'buyer-trade-delivered-phone');
    await shot(page, 'buyer-trade-delivered-phone-top', false);
    await page.locator('svg.chart').scrollIntoViewIfNeeded();
    await shot(page, 'buyer-trade-delivered-phone-chart', false);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('catalogue (sectors, search, dataset page with schema, levels, tags, offers, generated sample), English switch, wallet', async () => {
    const page = buyerPage;
    await go(page, '#/catalog');
    expect(await page.locator('li.dataset-card').count()).to.equal(3);
    await shot(page, 'catalog');
    await page.getByLabel('行业领域', { exact: true }).selectOption('health');
    await page.getByRole('button', { name: '搜索' }).click();
    await page.waitForFunction(() => location.hash === '#/catalog?sector=health');
    await ready(page);
    expect(await page.locator('li.dataset-card').count()).to.equal(1);
    await page.getByLabel('关键词', { exact: true }).fill('tourism');
    await page.getByLabel('行业领域', { exact: true }).selectOption('');
    await page.getByRole('button', { name: '搜索' }).click();
    await page.waitForFunction(() => location.hash === '#/catalog?q=tourism');
    await ready(page);
    expect(await page.locator('li.dataset-card').count()).to.equal(1);
    await clickAndWait(page, () => page.locator('li.dataset-card h2 a').click(), /^#\/datasets\/./);
    const text = await mainText(page);
    for (const expected of [
      '字段结构',
      'spend_yuan',
      '度量',
      '维度',
      '标识符',
      'L2 内部',
      '要约',
      '各州市游客消费统计',
      '每千行',
      '生成的样例',
      '不含任何真实数据',
    ])
      expect(text).to.include(expected);
    expect(await page.locator('table').nth(1).locator('tbody tr').count(), 'sample rows').to.equal(8);
    await shot(page, 'dataset');

    // keyboard: after navigation focus is on the page's heading; the skip link is the first stop of the
    // tab order, and Enter on it moves focus to the main region
    expect(await page.evaluate(() => document.activeElement?.tagName)).to.equal('H1');
    expect(await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')?.className)).to.equal(
      'skip',
    );
    await page.focus('a.skip');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal('main');

    await page.getByRole('button', { name: 'Switch to English' }).click();
    await ready(page);
    expect(await page.locator('h2').first().innerText()).to.equal('Overview');
    expect(await page.evaluate(() => document.documentElement.lang)).to.equal('en');
    await shot(page, 'dataset-english');
    await page.getByRole('button', { name: '切换到中文' }).click();
    await ready(page);

    await go(page, '#/wallet');
    const wallet = await mainText(page);
    // the buyer's own accounts: the top-up, a hold per trade, the releases of the refused ones
    for (const expected of ['可用余额', '托管中', '充值', '冻结', '解冻退回', '¥49,950.00']) expect(wallet).to.include(expected);
    await shot(page, 'buyer-wallet');

    const owner = await tab('owner');
    await signIn(owner, s.owner.token);
    await go(owner, '#/wallet');
    // the owner's revenue: its share of the delivered trade (¥50.00 less the 10% platform fee), captured
    expect(await owner.locator('.tile.revenue .tile-value').innerText()).to.equal('¥45.00');
    expect(await mainText(owner)).to.include('结算');
    await shot(owner, 'owner-wallet');
    await owner.context().close();
  });

  it('operator pages: organisations, users, certificates, negative list, audit verified with the latest checkpoint', async () => {
    const page = await tab('operator');
    await signIn(page, s.operator.token);
    expect(await page.locator('h1').innerText()).to.equal('机构');
    expect(await page.locator('main tbody tr').count()).to.be.at.least(6);
    await shot(page, 'operator-orgs');
    await go(page, '#/operator/users');
    expect(await mainText(page)).to.include('陈审查');
    await shot(page, 'operator-users');
    await go(page, '#/operator/certificates');
    const certs = await mainText(page);
    expect(certs).to.include('陈审查');
    expect(certs).to.include('尚无运营方签发的证书');
    expect(await page.locator('main .badge.ok').count()).to.equal(1);
    // certify the second reviewer's key with the operator key, signed in the page
    const certify = page.getByRole('button', { name: '签发证书: 刘审查' });
    expect(await certify.isDisabled()).to.equal(true);
    await page
      .getByLabel('从文件载入私钥')
      .setInputFiles({ name: 'operator.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(s.operator.privateKeyPem) });
    await page.getByText('私钥已载入').waitFor();
    await shot(page, 'operator-certificates');
    await certify.click();
    await page.getByText('已为 刘审查 签发证书').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('main .badge.ok').length === 2);
    await ready(page);
    await shot(page, 'operator-certificates-certified');
    for (const body of b.bodies) expect(body).to.not.include('PRIVATE KEY');
    await go(page, '#/operator/policy');
    const policy = await mainText(page);
    for (const expected of ['NL-04', 'NL-05', '当前生效', '禁止']) expect(policy).to.include(expected);
    await shot(page, 'operator-policy');
    await go(page, '#/operator/audit');
    // the page reloads once the checkpoint is signed: wait for that load from before the click (it can fire
    // before a wait attached after the click resolves)
    await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: '立即签署检查点' }).click()]);
    await ready(page);
    await page.locator('.verdict[data-verified]').waitFor({ timeout: 20_000 });
    expect(await page.locator('.verdict[data-verified]').getAttribute('data-verified')).to.equal('true');
    const audit = await mainText(page);
    expect(audit).to.include('审计链完整');
    expect(audit).to.not.include('尚无检查点');
    await shot(page, 'operator-audit');

    // the in-page check is independent of the server's: a chain served with one event altered fails
    // here, while the server (verifying its own database) still says intact
    await page.route('**/v1/audit/events*', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { events: { action: string }[] };
      if (body.events[1]) body.events[1].action = 'offer.withdrawn';
      await route.fulfill({ response: res, json: body });
    });
    await page.getByRole('button', { name: '验证审计链' }).click();
    await page.waitForFunction(() => document.querySelector('.verdict[data-role="in-page"]')?.getAttribute('data-verified') === 'false');
    const tampered = await page.locator('.verdict[data-role="in-page"]').innerText();
    expect(tampered).to.include('审计链验证失败');
    expect(await mainText(page)).to.include('服务器验证：');
    await shot(page, 'operator-audit-tampered');
    await page.unroute('**/v1/audit/events*');
    await page.context().close();
    await reviewerPage.context().close();
    await buyerPage.context().close();
  });
});
