import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
const s = JSON.parse(readFileSync('/tmp/g-seed.json', 'utf8'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await ctx.newPage();
page.on('console', (m) => console.log('console', m.type(), m.text()));
page.on('pageerror', (e) => console.log('pageerror', e.message));
page.on('requestfailed', (r) => console.log('requestfailed', r.url(), r.failure()?.errorText));
page.on('response', (r) => { if (r.status() >= 400) console.log('HTTP', r.status(), r.url()); });
const out = '/work/main/test-artifacts/console/explore/';
const who = process.argv[2] ?? 'reviewer';
await page.goto(s.url + '/');
await page.waitForSelector('main[data-ready]');
await page.screenshot({ path: out + 'signin.png', fullPage: true });
await page.fill('input[name=token]', s[who].token);
await page.click('button[type=submit]');
await page.waitForTimeout(1500);
await page.screenshot({ path: out + who + '-home.png', fullPage: true });
for (const h of (process.argv[3] ?? '').split(',').filter(Boolean)) {
  await page.goto(s.url + '/console/' + h.replace('TRADE', s.trades.delivered.id).replace('REJ', s.trades['rejected-by-reviewer'].id));
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out + who + '-' + h.replace(/[^a-z]/gi, '_') + '.png', fullPage: true });
}
await browser.close();
