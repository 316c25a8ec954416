/**
 * `npm run demo [-- --out DIR] [-- --rows N]`: the whole product in one run, through the SDK a user
 * would use. Starts a server on a free port with a temporary data directory (or uses SHUYU_URL with
 * operator credentials), generates seed-001 data for three sectors, and walks three trades: one
 * approved and delivered, one rejected by the reviewer, one denied by the negative list. Every step
 * is printed in plain language; receipts are written to DIR and verified offline; the ledger and the
 * audit verification are printed at the end. Exit 0 only if all three trades ended as intended.
 */
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sm2KeyPair, sm2PrivateKeyFromPem, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '../crypto/index.js';
import { verifyReceipt } from '../formats/receipt.js';
import { yuan } from '../client-sdk/cli/output.js';
import { resultText } from '../client-sdk/cli/result-view.js';
import { DEMO_DATASETS, type DemoKey, demoDataset, writeDemoCsv } from './demo/data.js';
import { DEMO_TRADES, type DemoTrade } from './demo/scenario.js';
import { BuyerClient } from '../client-sdk/sdk/buyer.js';
import { isShuyuApiError } from '../client-sdk/sdk/errors.js';
import { OperatorClient, reviewerCertificateFor } from '../client-sdk/sdk/operator.js';
import { OwnerClient } from '../client-sdk/sdk/owner.js';
import { ReviewerClient } from '../client-sdk/sdk/reviewer.js';
import type { Dataset, Offer, Trade } from '../client-sdk/sdk/types.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'var/demo' },
    rows: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write('usage: npm run demo -- [--out DIR] [--rows N]   (env: SHUYU_DEMO_ROWS; SHUYU_URL + SHUYU_BOOTSTRAP to use a running server)\n');
  process.exit(0);
}
const ROWS = Number(args.rows ?? process.env.SHUYU_DEMO_ROWS ?? 20_000);
if (!Number.isSafeInteger(ROWS) || ROWS < 50) {
  process.stderr.write('demo: --rows must be an integer ≥ 50\n');
  process.exit(2);
}
const OUT = resolve(args.out!);

let step = 0;
const say = (text: string): void => {
  if (!args.quiet) process.stdout.write(`${text}\n`);
};
const title = (text: string): void => say(`\n${++step}. ${text}`);
const detail = (text: string): void => say(`   ${text.replace(/\n/g, '\n   ')}`);

interface Cast {
  url: string;
  operator: OperatorClient;
  operatorKey: Uint8Array;
  stop: () => Promise<void>;
}

/** A server of our own on a free port and a temporary data dir, or SHUYU_URL with SHUYU_BOOTSTRAP. */
async function connect(): Promise<Cast> {
  const external = process.env.SHUYU_URL;
  if (external) {
    const file = process.env.SHUYU_BOOTSTRAP;
    if (!file) throw new Error('with SHUYU_URL, set SHUYU_BOOTSTRAP to the server\'s DATA_DIR/bootstrap.json (operator token and key)');
    const b = JSON.parse(readFileSync(file, 'utf8')) as { token: string; privateKeyPem: string };
    say(`Using the running server at ${external} (operator credentials from ${file}).`);
    return {
      url: external,
      operator: new OperatorClient({ url: external, token: b.token }),
      operatorKey: sm2PrivateKeyFromPem(b.privateKeyPem),
      stop: async () => {},
    };
  }
  const { startServer } = await import('../server/start.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'shuyu-demo-'));
  const log = createWriteStream(join(OUT, 'server.log'));
  const srv = await startServer({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'info', logDestination: log as never, jobPollMs: 100 });
  const b = JSON.parse(readFileSync(srv.bootstrap.file, 'utf8')) as { token: string; privateKeyPem: string };
  say(`Started a Shuyu server at ${srv.url} with a fresh data directory ${dataDir} (its log: ${join(OUT, 'server.log')}).`);
  return {
    url: srv.url,
    operator: new OperatorClient({ url: srv.url, token: b.token }),
    operatorKey: sm2PrivateKeyFromPem(b.privateKeyPem),
    stop: async () => {
      await srv.close();
      log.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function newUser(op: OperatorClient, url: string, orgName: string, role: 'owner' | 'buyer' | 'reviewer', name: string) {
  const org = await op.createOrg({ name: orgName, region: 'CN-53' });
  const { user, token } = await op.createUser({ orgId: org.id, name, role });
  return { org, user, token: token.token, url };
}

const money = (fen: number): string => yuan(fen);

async function main(): Promise<number> {
  mkdirSync(join(OUT, 'receipts'), { recursive: true });
  mkdirSync(join(OUT, 'inputs'), { recursive: true });
  say(`Shuyu (数域) demo: three trades on generated seed-001 data (${ROWS.toLocaleString('en')} rows per dataset). Output in ${OUT}.`);
  const cast = await connect();
  try {
    return await walk(cast);
  } finally {
    await cast.stop();
  }
}

async function walk({ url, operator, operatorKey }: Cast): Promise<number> {
  const outcomes: { trade: DemoTrade; ok: boolean; state: string }[] = [];

  title('The operator sets up a compliance office with a reviewer, and certifies the reviewer\'s SM2 key.');
  const rev = await newUser(operator, url, '数据合规审查办公室 Data Compliance Office', 'reviewer', 'reviewer-li');
  const reviewer = new ReviewerClient({ url, token: rev.token });
  const reviewerKey = sm2KeyPair();
  writeFileSync(join(OUT, 'inputs', 'reviewer.pem'), sm2PrivateKeyToPem(reviewerKey.privateKey), { mode: 0o600 });
  const reg = await reviewer.registerKey(sm2PublicKeyToPem(reviewerKey.publicKey));
  await operator.submitCertificate(rev.user.id, reviewerCertificateFor({ ...rev.user, publicKeyPem: sm2PublicKeyToPem(reviewerKey.publicKey) }, operatorKey));
  detail(`reviewer ${rev.user.name}, key ${reg.keyFingerprint.slice(0, 16)}… certified by the operator key (signed locally, checked by the server and later by the enclave).`);

  const results: Record<DemoKey, { dataset: Dataset; offer: Offer; buyer: BuyerClient; buyerOrgId: string; ownerOrgId: string }> = {} as never;
  for (const t of DEMO_TRADES) {
    const ds = demoDataset(t.dataset);
    title(`Owner ${t.owner} prepares "${ds.title}" on its own machine.`);
    const owner = await newUser(operator, url, t.owner, 'owner', `owner-${t.dataset}`);
    const ownerClient = new OwnerClient({ url, token: owner.token });
    const csv = join(OUT, 'inputs', `${t.dataset}.csv`);
    await writeDemoCsv(csv, ds, ROWS);
    writeFileSync(join(OUT, 'inputs', `${t.dataset}.schema.json`), JSON.stringify(ds.schema, null, 2) + '\n');
    writeFileSync(join(OUT, 'inputs', `${t.dataset}.offer.json`), JSON.stringify(t.offer, null, 2) + '\n');
    writeFileSync(join(OUT, 'inputs', `${t.dataset}.computation.json`), JSON.stringify(t.computation, null, 2) + '\n');
    const check = await ownerClient.check(csv, ds.schema);
    detail(`checked ${check.validation.rows.toLocaleString('en')} rows against the schema: ${check.validation.ok ? 'no problems' : `${check.validation.errors.length} problems`}; ` +
      `PII scan: ${check.pii.flagged.length ? `personal information in ${check.pii.flagged.join(', ')}` : 'no ID, phone, card or e-mail numbers found'}.`);
    if (!check.ok) throw new Error(`the demo CSV for ${t.dataset} did not pass its own check`);
    const bundleDir = mkdtempSync(join(tmpdir(), `shuyu-demo-${t.dataset}-`));
    try {
      const sealed = await ownerClient.seal(csv, ds.schema, join(bundleDir, 'b'));
      detail(`sealed under the enclave's public keys: ${sealed.stats.ciphertexts} homomorphic ciphertexts + ${sealed.stats.rowChunks} sealed row chunks, ` +
        `${Math.round(sealed.stats.rowsPerSecond).toLocaleString('en')} rows/s; commitment ${sealed.manifest.commitment.slice(0, 16)}…`);
      const up = await ownerClient.uploadDir(join(bundleDir, 'b'), { title: ds.title, description: ds.description, keywords: [t.dataset] });
      detail(`uploaded ${(up.upload.totalBytes / 1e6).toFixed(1)} MB of ciphertext; the server verified the bundle and listed dataset ${up.dataset.id}. No plaintext row left the owner's machine.`);
      const { offer, screening } = await ownerClient.createOffer(up.dataset.id, t.offer);
      detail(`offer "${offer.title}": ${offer.allowedKinds.join('/')} computations on ${offer.allowedColumns.join(', ')}, purposes ${offer.terms.purposes.join(', ')}; negative list at listing: ${screening.decision}${screening.findings.length ? ` (${screening.findings.map((f) => f.ruleId).join(', ')})` : ''}.`);
      const buyerUser = await newUser(operator, url, t.buyer, 'buyer', `buyer-${t.dataset}`);
      await operator.topUp(buyerUser.org.id, 1_000_000, { memo: 'demo top-up' });
      results[t.dataset] = { dataset: up.dataset, offer, buyer: new BuyerClient({ url, token: buyerUser.token }), buyerOrgId: buyerUser.org.id, ownerOrgId: owner.org.id };
      detail(`buyer ${t.buyer} is registered and its wallet topped up with ${money(1_000_000)}.`);
    } finally {
      rmSync(bundleDir, { recursive: true, force: true });
    }
  }

  for (const t of DEMO_TRADES) {
    const { dataset, offer, buyer } = results[t.dataset];
    title(`Trade: ${t.story}. Expected: ${t.expected.replace(/-/g, ' ')}.`);
    const pin = await buyer.pinEnclave();
    const hits = await buyer.catalog({ q: t.dataset });
    detail(`the buyer finds the dataset in the catalogue (${hits.items.length} hit), reads a generated sample (never real rows), and pins the enclave signing key ${pin.fingerprint.slice(0, 16)}…`);
    await buyer.sample(dataset.id, 3);
    const req = { computation: t.computation, purpose: t.purpose, destination: t.destination };
    const quote = await buyer.quote(offer.id, req);
    detail(`quote: ${money(quote.statement.priceFen)} for "${describe(t)}" (valid until ${quote.statement.expiresAt}).`);
    let trade: Trade = await buyer.submit(quote, t.computation);
    detail(`submitted with purpose "${t.purpose.statement}" → ${trade.state}; ` +
      (trade.state === 'rejected' ? `the ${money(trade.priceFen)} hold was released at once.` : `${money(trade.priceFen)} held from the wallet.`));
    for (const f of trade.screening?.findings ?? []) detail(`  negative list ${f.ruleId} (${f.effect}): ${f.reason.en}`);
    if (trade.screening && trade.screening.findings.length === 0) detail('  negative list: no rule fired; every trade still goes to a reviewer under the default policy.');
    if (trade.state === 'under_review') {
      const queue = await reviewer.queue();
      const c = await reviewer.case(trade.id);
      if (t.expected === 'delivered') {
        trade = await reviewer.approve(trade.id, reviewerKey.privateKey, t.reviewerReason);
        detail(`the reviewer (queue of ${queue.items.length}) reads the case on "${c.dataset.title}" and approves, signing the approval with SM2: "${t.reviewerReason}"`);
      } else {
        trade = await reviewer.reject(trade.id, t.reviewerReason);
        detail(`the reviewer (queue of ${queue.items.length}) reads the case and rejects: "${t.reviewerReason}" — the hold is released.`);
      }
    }
    if (trade.state === 'approved' || trade.state === 'executing') {
      const final = await buyer.waitForTrade(trade.id, { timeoutMs: 300_000, pollMs: 250, onState: (s) => detail(`  … ${s.state}`) });
      trade = final;
      if (final.state === 'delivered' || final.state === 'settled') {
        const r = await buyer.result(trade.id);
        const file = join(OUT, 'receipts', `${trade.id}.json`);
        writeFileSync(file, JSON.stringify(r.receipt, null, 2) + '\n');
        const again = verifyReceipt(JSON.parse(readFileSync(file, 'utf8')), { pinnedPublicKeyPem: pin.publicKeyPem });
        detail(`price split on delivery: owner ${money(final.ownerShareFen)}, platform fee ${money(final.platformFeeFen)}.`);
        detail(`delivered. Receipt ${String(r.payload.receiptId ?? '')} written to ${file}; verified offline against the pinned key: ${again.valid ? 'VALID' : `INVALID (${again.reason})`}.`);
        detail(`result (after the enclave's output gate):\n${resultText(r.result, { schema: dataset.schema, privacy: r.payload.privacy as Record<string, unknown> | undefined, computation: t.computation, maxRows: 12 }).replace(/^/gm, '    ')}`);
        if (!again.valid) trade = { ...trade, state: 'failed' };
      } else detail(`the trade ended ${final.state}: ${final.failureReason ?? ''}`);
    }
    const ok =
      (t.expected === 'delivered' && (trade.state === 'delivered' || trade.state === 'settled')) ||
      (t.expected === 'rejected-by-reviewer' && trade.state === 'rejected' && trade.reviewerId !== null) ||
      (t.expected === 'denied-by-negative-list' && trade.state === 'rejected' && trade.screening?.decision === 'deny');
    detail(ok ? `outcome as intended: ${trade.state}.` : `UNEXPECTED outcome: ${trade.state}.`);
    outcomes.push({ trade: t, ok, state: trade.state });
  }

  title('The ledger: holds captured for the delivered trade (owner share + platform fee), released for the other two.');
  for (const t of DEMO_TRADES) {
    const r = results[t.dataset];
    const [bw, ow] = await Promise.all([operator.wallet(r.buyerOrgId), operator.wallet(r.ownerOrgId)]);
    detail(`${t.buyer}: available ${money(bw.availableFen)}, held ${money(bw.heldFen)}`);
    detail(`${t.owner}: revenue ${money(ow.revenueFen)}`);
  }

  title('The audit chain: every state change is SM3 hash-chained; the operator signs a checkpoint and verifies the whole chain.');
  await operator.checkpoint();
  const audit = await operator.verifyAudit();
  detail(`${audit.ok ? 'VERIFIED' : 'BROKEN'}: ${audit.events} events, ${audit.checkpoints} signed checkpoint(s).`);

  const allOk = outcomes.every((o) => o.ok) && audit.ok;
  writeFileSync(join(OUT, 'summary.json'), JSON.stringify({ rows: ROWS, outcomes: outcomes.map((o) => ({ dataset: o.trade.dataset, expected: o.trade.expected, state: o.state, ok: o.ok })), audit }, null, 2) + '\n');
  say(`\n${allOk ? 'Demo complete: all three trades ended as intended and the audit chain verifies.' : 'Demo FAILED: see above.'} Summary: ${join(OUT, 'summary.json')}`);
  return allOk ? 0 : 1;
}

function describe(t: DemoTrade): string {
  const c = t.computation;
  if (c.kind !== 'aggregate') return c.kind;
  const m = c.metrics.map((x) => (x.measure ? `${x.op}(${x.measure})` : x.op)).join(', ');
  return `${m}${c.groupBy.length ? ` by ${c.groupBy.join(' × ')}` : ''}${c.filters.length ? ` where ${c.filters.map((f) => `${f.column} ∈ {${f.in.join(', ')}}`).join(' and ')}` : ''}`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = isShuyuApiError(e) ? `${e.status} ${e.slug}: ${e.detail ?? e.title}` : e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`demo failed: ${msg}\n`);
    process.exitCode = 1;
  },
);
