/**
 * My trades, and one trade: status timeline (audit events), the signed receipt (download, verified in
 * the page against the pinned enclave key with the SDK's BuyerClient — the same verifyReceipt as the
 * CLI), and the released result as a table and a bar chart.
 */
import { barChart } from '../chart.js';
import { hasResult, isFinal } from '../../contracts/trade/states.js';
import { field, h, replace, table } from '../dom.js';
import { dateTime, num, t, yuan } from '../i18n.js';
import { describeComputation } from '../computation.js';
import { buyerClient, savePin, type Offer, type TradeDetail } from '../endpoints.js';
import { get } from '../api.js';
import { currentUser } from '../session.js';
import { bars, resultTable } from '../result.js';
import type { RouteMatch } from '../router.js';
import { dl, errorBox, errorText, mono, notice, pageHeader, section, shortHash, stateBadge } from '../ui.js';
import { computationBlock, findingsBlock, tradeFacts } from './trade-parts.js';

export async function tradesPage(): Promise<Node> {
  const { items } = await buyerClient().trades({ limit: 100 });
  return h(
    'div',
    null,
    pageHeader(t('trades.title')),
    items.length
      ? table(
          t('trades.title'),
          [t('trade.submitted'), t('trade.purpose'), t('trade.computation'), t('trade.price'), t('trade.state'), ''],
          items.map((tr) => [
            dateTime(tr.createdAt),
            tr.purpose.statement,
            describeComputation(tr.computation),
            yuan(tr.priceFen),
            stateBadge(tr.state),
            h('a', { href: `#/trades/${tr.id}`, 'aria-label': `${t('common.more')}: ${tr.purpose.statement}` }, t('common.more')),
          ]),
          { numeric: [3] },
        )
      : notice('info', t('trades.empty')),
  );
}

// ── timeline ─────────────────────────────────────────────────────────────────
/** The recorded transitions of the trade (each one is also an event of the audit chain). */
function timeline(tr: TradeDetail): HTMLElement {
  const steps = [
    { at: tr.createdAt, to: 'submitted', actor: tr.buyerUserId, reason: '' },
    ...[...tr.transitions].sort((a, b) => a.at.localeCompare(b.at)).map((x) => ({ at: x.at, to: x.to as string, actor: x.actor, reason: x.reason })),
  ];
  return h(
    'ol',
    { class: 'timeline' },
    steps.map((s, i) =>
      h(
        'li',
        { 'aria-current': i === steps.length - 1 ? 'step' : null },
        h('time', { datetime: s.at }, dateTime(s.at)),
        ' ',
        stateBadge(s.to),
        s.reason ? h('p', { class: 'reason' }, s.reason) : null,
      ),
    ),
  );
}

// ── receipt: pin, verify, download ───────────────────────────────────────────
async function verifyInPage(receipt: unknown): Promise<{ valid: true; fingerprint: string } | { valid: false; reason: string }> {
  const client = buyerClient();
  try {
    const pin = await client.pinEnclave();
    savePin(pin);
    const check = client.verifyReceipt(receipt);
    return check.valid ? { valid: true, fingerprint: pin.fingerprint } : check;
  } catch (e) {
    return { valid: false, reason: errorText(e) };
  }
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function privacyFacts(p: Record<string, unknown> | undefined): HTMLElement | null {
  if (!p) return null;
  const eps = typeof p.epsilonSpent === 'number' ? p.epsilonSpent : null;
  const left = typeof p.epsilonRemaining === 'number' ? p.epsilonRemaining : null;
  return dl([
    [t('trade.mechanism'), String(p.mechanism ?? '—')],
    [t('offer.minGroup'), String(p.minGroupSize ?? '—')],
    [t('trade.absentGroups'), p.absentGroups === 'none' ? t('trade.absentNone') : p.absentGroups === 'empty-or-withheld' ? t('trade.absentWithheld') : '—'],
    [t('trade.privacy'), eps === null ? '—' : `ε ${num(eps, 3)}`],
    [t('trade.budget'), left === null ? '—' : `ε ${num(left, 3)}`],
  ]);
}

function resultSection(title: string, result: unknown): HTMLElement {
  const tbl = resultTable(result);
  if (!tbl) return section(title, h('pre', null, JSON.stringify(result, null, 2)));
  const chartBox = h('figure', { class: 'chart-box' });
  let column = tbl.numericColumns[0] ?? 0;
  let drawnWidth = 0;
  const drawChart = (col: number): void => {
    column = col;
    drawnWidth = Math.round(chartBox.clientWidth) || 560;
    replace(chartBox, barChart(tbl.columns[col]!, bars(tbl, col), Math.max(280, drawnWidth)), h('figcaption', null, `${t('trade.chart')}: ${tbl.columns[col]}`));
  };
  // Redrawn at the width it is shown at (after it is attached, and when the layout changes width).
  new ResizeObserver(() => {
    if (Math.round(chartBox.clientWidth) !== drawnWidth) requestAnimationFrame(() => drawChart(column));
  }).observe(chartBox);
  let picker: HTMLElement | null = null;
  if (tbl.numericColumns.length > 1) {
    const sel = h('select', null, tbl.numericColumns.map((c) => h('option', { value: String(c) }, tbl.columns[c]!)));
    sel.addEventListener('change', () => drawChart(Number(sel.value)));
    picker = field(t('trade.chart'), sel);
  }
  if (tbl.numericColumns.length) drawChart(tbl.numericColumns[0]!);
  return section(
    title,
    h(
      'div',
      { class: 'result' },
      table(title, tbl.columns, tbl.rows.map((r) => r.map((c) => (c === null ? '∅' : typeof c === 'number' ? num(c, 4) : String(c)))), { numeric: tbl.numericColumns, className: 'result-table' }),
      tbl.numericColumns.length ? h('div', null, picker, chartBox) : null,
    ),
  );
}

export async function tradePage(m: RouteMatch): Promise<Node> {
  const id = m.params[0]!;
  const client = buyerClient();
  const tr = await client.trade(id);
  const me = currentUser();
  const [offer, entry] = await Promise.all([
    get<Offer>(`/offers/${tr.offerId}`).catch(() => null),
    get<{ title: string }>(`/catalog/${tr.datasetId}`).catch(() => null),
  ]);
  // Receipts go to the buyer only (GET /v1/trades/:id/result is the buyer's).
  const delivered = hasResult(tr.state) && me?.user.role === 'buyer';

  const ended = isFinal(tr.state) && !hasResult(tr.state);
  let receiptPart: Node = notice('info', t(ended ? 'trade.noReceipt' : 'trade.noResult'));
  let resultPart: Node | null = null;
  if (delivered) {
    try {
      const { receipt } = await client.rawResult(id);
      const text = JSON.stringify(receipt, null, 2);
      const payload = JSON.parse(receipt.payload) as Record<string, unknown>;
      const verdict = h('div', { 'aria-live': 'polite', class: 'verdict' }, notice('info', t('common.loading')));
      // The released numbers are shown only once their receipt verified in this page.
      const holder = h('div', { class: 'result-holder' }, section(t('trade.result'), notice('info', t('common.loading'))));
      resultPart = holder;
      const runVerify = async (): Promise<void> => {
        const v = await verifyInPage(receipt);
        replace(holder, v.valid ? resultSection(t('trade.result'), payload.result) : section(t('trade.result'), notice('error', t('trade.resultWithheld'))));
        replace(verdict, v.valid ? notice('ok', t('trade.verified', { fp: shortHash(v.fingerprint) })) : notice('error', t('trade.invalid', { reason: v.reason })));
        verdict.dataset.verified = String(v.valid);
      };
      receiptPart = h(
        'div',
        null,
        dl([
          [t('common.id'), mono(String(payload.receiptId ?? ''))],
          [t('trade.issuedAt'), dateTime(String(payload.issuedAt ?? ''))],
          [t('trade.computationHash'), mono(String(payload.computationHash ?? ''))],
          [t('trade.signingKey'), mono(String(payload.signingKeyFingerprint ?? ''))],
        ]),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', class: 'primary', onclick: () => download(`receipt-${tr.id}.json`, text) }, t('trade.download')),
          h('button', { type: 'button', onclick: () => void runVerify() }, t('trade.verify')),
        ),
        verdict,
        h('h3', null, t('trade.privacyApplied')),
        privacyFacts(payload.privacy as Record<string, unknown> | undefined),
        h('details', null, h('summary', null, 'receipt.json'), h('pre', { class: 'receipt-json' }, text)),
      );
      void runVerify();
    } catch (e) {
      receiptPart = errorBox(e);
    }
  }

  return h(
    'div',
    null,
    pageHeader(describeComputation(tr.computation), h('p', { class: 'sub' }, stateBadge(tr.state), ' ', mono(tr.id))),
    tr.failureReason ? notice('error', h('strong', null, t('trade.failure')), ': ', tr.failureReason) : null,
    h('div', { class: 'two-col' }, section(t('trade.timeline'), timeline(tr)), section(t('trade.receipt'), receiptPart)),
    resultPart,
    h('div', { class: 'two-col' }, section(t('trade.details'), tradeFacts(tr, { offer, datasetTitle: entry?.title ?? null, buyerName: me?.org.id === tr.buyerOrgId ? `${me.org.name} · ${me.user.name}` : null })), section(t('trade.computation'), computationBlock(tr), h('h3', null, t('trade.findings')), findingsBlock(tr))),
  );
}

