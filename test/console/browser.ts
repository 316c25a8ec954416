/**
 * Shared pieces of the console's browser tests: Debian's chromium launched through playwright-core, tabs
 * watched for every kind of problem (console errors, page errors, failed or refused requests, requests
 * leaving the server's origin), waiting for a page's render, screenshots, signing in; and a lean
 * deployment for the buyer tests (one sealed dataset, its owner, a funded buyer, a certified reviewer).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import path from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { RunningServer } from '../../server/start.js';
import { OperatorClient, reviewerCertificateFor } from '../../client-sdk/sdk/operator.js';
import { OwnerClient } from '../../client-sdk/sdk/owner.js';
import { ReviewerClient } from '../../client-sdk/sdk/reviewer.js';
import type { Dataset, User } from '../../client-sdk/sdk/types.js';
import { sealTargetOf } from '../../client-sdk/sdk/local-data.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { demoDataset, writeDemoCsv } from '../../cli/demo/data.js';
import { sm2KeyPair, sm2PrivateKeyFromPem, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '../../crypto/index.js';
import { consoleServer } from './deployment.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const ARTIFACTS = path.resolve('test-artifacts/console');

export const launch = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });

/** In a `before`: without Debian's chromium the suite is skipped, and in CI it fails instead. */
export function requireChromium(ctx: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
  console.log(`      (skipped: ${CHROMIUM} is not installed; apt-get install chromium — in CI this fails instead)`);
  ctx.skip();
}

export interface Watched {
  /** problems seen since the last `problems.splice(0)` */
  problems: string[];
  /** every request body sent (to check that no private key left a page) */
  bodies: string[];
  /** requests sent, as `METHOD path` with their headers */
  requests: { method: string; path: string; headers: Record<string, string> }[];
  tab(label: string, viewport?: { width: number; height: number }): Promise<Page>;
  ready(page: Page): Promise<void>;
  go(page: Page, hash: string): Promise<void>;
  clickAndWait(page: Page, click: () => Promise<void>, hash: RegExp): Promise<void>;
  shot(page: Page, name: string, fullPage?: boolean): Promise<void>;
  signIn(page: Page, token: string): Promise<void>;
}

/** Tabs of `browser` on the console at `url`, screenshots named `<prefix>NN-name.png`. */
export function watched(browser: Browser, url: string, prefix = ''): Watched {
  const problems: string[] = [];
  const bodies: string[] = [];
  const requests: Watched['requests'] = [];
  let shots = 0;
  const origin = new URL(url).origin;

  async function tab(label: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
    const ctx = await browser.newContext({ viewport, acceptDownloads: true, locale: 'zh-CN' });
    const page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${label} console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`${label} request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (!['data:', 'blob:'].includes(u.protocol) && u.origin !== origin) problems.push(`${label} external request: ${r.url()}`);
      const body = r.postData();
      if (body) bodies.push(body);
      requests.push({ method: r.method(), path: u.pathname, headers: r.headers() });
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${label} HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
    return page;
  }

  async function ready(page: Page): Promise<void> {
    try {
      await page.waitForSelector('main[data-ready="true"]', { timeout: 30_000 });
    } catch (e) {
      throw new Error(`${(e as Error).message.split('\n')[0]} at ${page.url()}; page problems: ${JSON.stringify(problems)}`, { cause: e });
    }
  }

  const markStale = (page: Page) => page.evaluate(() => document.querySelector('main')?.removeAttribute('data-ready'));

  /** Navigates and waits for the new page's render (not the one still on screen). */
  async function go(page: Page, hash: string): Promise<void> {
    if (await page.evaluate((h) => location.hash !== h, hash)) await markStale(page);
    await page.evaluate((h) => (location.hash = h), hash);
    await ready(page);
  }

  /** Waits for the page a click navigates to (the current render is marked stale first). */
  async function clickAndWait(page: Page, click: () => Promise<void>, hash: RegExp): Promise<void> {
    await markStale(page);
    await click();
    await page.waitForFunction((src) => new RegExp(src).test(location.hash), hash.source);
    await ready(page);
  }

  async function shot(page: Page, name: string, fullPage = true): Promise<void> {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `${prefix}${String(++shots).padStart(2, '0')}-${name}.png`), fullPage });
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${url}/`);
    await ready(page);
    expect(page.url()).to.match(/\/console\/#\/signin$/);
    await page.getByLabel('访问令牌').fill(token);
    await page.getByRole('button', { name: '登录' }).click();
    await page.waitForFunction(() => !location.hash.startsWith('#/signin'));
    await ready(page);
  }

  return { problems, bodies, requests, tab, ready, go, clickAndWait, shot, signIn };
}

export interface Person {
  user: User;
  token: string;
}

export interface BuyerWorld {
  srv: RunningServer;
  url: string;
  logs: string[];
  operatorToken: string;
  owner: Person;
  buyer: Person & { orgName: string };
  reviewer: Person & { privateKeyPem: string };
  /** the sealed tourism dataset (trip_id, prefecture, origin, month, spend_yuan, nights) */
  dataset: Dataset;
  close(): Promise<void>;
}

/**
 * A real server with its enclave, seeded through the SDK with only what the buyer's pages need: one sealed
 * tourism dataset of `rows` rows (sealing is the slow part), its owner, a buyer with ¥50,000 and a reviewer
 * whose key the operator certified.
 */
export async function buyerWorld(rows = 120): Promise<BuyerWorld> {
  const { srv, dir, logs, boot, close } = await consoleServer('buyer');
  try {
    const url = srv.url;
    const op = new OperatorClient({ url, token: boot.token });
    const person = async (orgName: string, name: string, role: User['role']): Promise<Person> => {
      const org = await op.createOrg({ name: orgName, region: 'CN' });
      const r = await op.createUser({ orgId: org.id, name, role });
      return { user: r.user, token: r.token.token };
    };
    const buyerOrg = '滇中旅游规划研究院';
    const [owner, buyer, reviewer] = await Promise.all([
      person('云南文旅数据有限公司', '李文旅', 'owner'),
      person(buyerOrg, '张规划', 'buyer'),
      person('数据交易合规审查中心', '陈审查', 'reviewer'),
    ]);
    const kp = sm2KeyPair();
    const rc = new ReviewerClient({ url, token: reviewer.token });
    await rc.registerKey(sm2PublicKeyToPem(kp.publicKey));
    const reviewerUser = (await rc.me()).user;
    await op.submitCertificate(reviewerUser.id, reviewerCertificateFor(reviewerUser, sm2PrivateKeyFromPem(boot.privateKeyPem)));

    const oc = new OwnerClient({ url, token: owner.token });
    const ds = demoDataset('tourism');
    const csv = join(dir, 'tourism.csv');
    await writeDemoCsv(csv, ds, rows);
    const evaluator = new HeEvaluator({ threads: 2 });
    try {
      await sealDataset({ input: csv, schema: ds.schema, enclave: sealTargetOf(await oc.enclave()), outDir: join(dir, 'bundle'), evaluator });
    } finally {
      await evaluator.close();
    }
    const { dataset } = await oc.uploadDir(join(dir, 'bundle'), { title: ds.title, description: ds.description, keywords: ['tourism'] });
    await op.topUp(buyer.user.orgId, 5_000_000, { memo: '测试充值 test top-up' });
    return {
      srv,
      url,
      logs,
      operatorToken: boot.token,
      owner,
      buyer: { ...buyer, orgName: buyerOrg },
      reviewer: { ...reviewer, user: reviewerUser, privateKeyPem: sm2PrivateKeyToPem(kp.privateKey) },
      dataset,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
