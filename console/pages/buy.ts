/**
 * The buyer's side of an offer: build a computation limited to what the offer sells (aggregate from the
 * schema's measures and dimensions, restricted SQL, 核验 verification), declare purpose and destination,
 * ask for a signed quote (price, ε, the noise of each output, the refusal charge) and submit it as a trade
 * with an Idempotency-Key kept per quote, so a retried click never holds the price twice.
 */
import type { Computation } from '../../contracts/computation.js';
import type { Column, DatasetSchema } from '../../contracts/dataset/schema.js';
import type { SignedQuote } from '../../client-sdk/sdk/types.js';
import { field, h, nextId, replace, table } from '../dom.js';
import { dateTime, lang, list, num, t, yuan } from '../i18n.js';
import { isMessageCode, render, type MessageParams } from '../../formats/messages.js';
import { buyerClient, type Offer } from '../endpoints.js';
import { go } from '../router.js';
import { describeComputation } from '../computation.js';
import { asProblem, errorText, notice, section } from '../ui.js';
import { purposeName } from './purposes.js';

type Kind = Offer['allowedKinds'][number];

/**
 * A refusal in the reader's language from the message catalogue (problem.<type>), with the server's own
 * detail — which names the column or rule — beneath it; anything else as the server said it.
 */
function problemText(e: unknown): Node {
  const p = asProblem(e);
  const code = p ? `problem.${p.slug}` : '';
  if (!p || !isMessageCode(code)) return document.createTextNode(errorText(e));
  const params = ((e as { problem?: { params?: unknown } }).problem?.params ?? {}) as MessageParams;
  return h('span', null, render(code, params, lang()), p.detail ? h('small', { class: 'detail' }, ` (${p.detail})`) : null);
}
const AGG_OPS = ['count', 'sum', 'mean'] as const;

interface Builder {
  node: HTMLElement;
  /** the computation, or the reason it cannot be built yet */
  read(): Computation | { error: string };
}

const allowedCols = (schema: DatasetSchema, offer: Offer, roles: Column['role'][]): Column[] =>
  schema.columns.filter((c) => offer.allowedColumns.includes(c.name) && roles.includes(c.role));

// ── aggregate ────────────────────────────────────────────────────────────────
function aggregateBuilder(schema: DatasetSchema, offer: Offer): Builder {
  const measures = allowedCols(schema, offer, ['measure']);
  const dims = allowedCols(schema, offer, ['dimension']);
  const metricList = h('ol', { class: 'metric-list' });
  const addMetric = (op: string = 'count', measure?: string): void => {
    const n = metricList.children.length + 1;
    const opSel = h('select', { 'aria-label': t('buy.metricOp', { n }), class: 'metric-op' }, (measures.length ? AGG_OPS : AGG_OPS.slice(0, 1)).map((o) => h('option', { value: o, selected: o === op }, t(`buy.op.${o}`))));
    const mSel = h('select', { 'aria-label': t('buy.metricMeasure', { n }), class: 'metric-measure' }, measures.map((m) => h('option', { value: m.name, selected: m.name === measure }, m.name)));
    const sync = () => {
      mSel.disabled = opSel.value === 'count';
    };
    opSel.addEventListener('change', sync);
    sync();
    const li = h('li', { class: 'metric' }, opSel, mSel, h('button', { type: 'button', class: 'ghost', 'aria-label': t('buy.removeMetric', { n }), onclick: () => li.remove() }, '×'));
    metricList.appendChild(li);
  };
  addMetric('count');

  const groupBoxes = dims.map((d) => h('input', { type: 'checkbox', value: d.name, class: 'group-by' }));
  const limitGroups = () => {
    const checked = groupBoxes.filter((b) => b.checked).length;
    for (const b of groupBoxes) b.disabled = !b.checked && checked >= 2;
  };
  groupBoxes.forEach((b) => b.addEventListener('change', limitGroups));

  const filterBoxes = new Map<string, HTMLInputElement[]>();
  const filters = dims.map((d) => {
    const boxes = (d.values ?? []).map((v) => h('input', { type: 'checkbox', value: v }));
    filterBoxes.set(d.name, boxes);
    return h(
      'details',
      { class: 'filter' },
      h('summary', null, t('buy.filterOn', { col: d.name })),
      h('div', { class: 'checks', role: 'group', 'aria-label': t('buy.filterOn', { col: d.name }) }, boxes.map((b, i) => h('label', null, b, ' ', d.values![i]!))),
    );
  });

  const node = h(
    'div',
    { class: 'builder aggregate' },
    h('fieldset', null, h('legend', null, t('buy.metrics')), metricList, measures.length ? h('button', { type: 'button', onclick: () => addMetric('mean', measures[0]!.name) }, t('buy.addMetric')) : null),
    dims.length
      ? h('fieldset', null, h('legend', null, t('buy.groupBy')), h('div', { class: 'checks' }, groupBoxes.map((b, i) => h('label', null, b, ' ', dims[i]!.name))), h('small', { class: 'hint' }, t('buy.groupByHint')))
      : null,
    dims.length ? h('fieldset', null, h('legend', null, t('buy.filters')), filters, h('small', { class: 'hint' }, t('buy.filtersHint'))) : null,
  );
  return {
    node,
    read() {
      const metrics = Array.from(metricList.querySelectorAll('li')).map((li) => {
        const op = (li.querySelector('.metric-op') as HTMLSelectElement).value;
        const measure = (li.querySelector('.metric-measure') as HTMLSelectElement).value;
        return op === 'count' ? { op: 'count' as const } : { op: op as 'sum' | 'mean', measure };
      });
      if (!metrics.length) return { error: t('buy.needMetric') };
      if (metrics.some((m) => m.op !== 'count' && !m.measure)) return { error: t('buy.needMeasure') };
      const groupBy = groupBoxes.filter((b) => b.checked).map((b) => b.value);
      const fs = [...filterBoxes].map(([column, boxes]) => ({ column, in: boxes.filter((b) => b.checked).map((b) => b.value) })).filter((f) => f.in.length > 0);
      return { kind: 'aggregate', metrics, groupBy, filters: fs };
    },
  };
}

// ── SQL ──────────────────────────────────────────────────────────────────────
function sqlBuilder(schema: DatasetSchema, offer: Offer): Builder & { showRefusal(e: unknown): void; clear(): void } {
  const cols = schema.columns.filter((c) => offer.allowedColumns.includes(c.name));
  const dims = cols.filter((c) => c.role === 'dimension');
  const measure = cols.find((c) => c.role === 'measure');
  const example = `SELECT ${dims[0] ? `${dims[0].name}, ` : ''}COUNT(*) AS n${measure ? `, AVG(${measure.name}) AS avg_${measure.name}` : ''}\nFROM dataset${dims[0] ? `\nGROUP BY ${dims[0].name}` : ''}`;
  const area = h('textarea', { rows: 6, spellcheck: 'false', class: 'sql-editor', value: example });
  const errId = nextId('sqlerr');
  area.setAttribute('aria-describedby', errId);
  const errors = h('div', { id: errId, class: 'sql-errors', 'aria-live': 'polite' });
  const node = h(
    'div',
    { class: 'builder sql' },
    field(t('buy.sql'), area, t('buy.sqlHint', { cols: cols.map((c) => c.name).join(', ') })),
    errors,
  );
  return {
    node,
    read: () => (area.value.trim() ? { kind: 'sql', query: area.value.trim() } : { error: t('buy.needSql') }),
    showRefusal(e) {
      const p = asProblem(e);
      const ctx = ((e as { problem?: { context?: { errors?: unknown } } }).problem?.context?.errors ?? []) as { clause?: string; message?: string; rule?: string }[];
      area.setAttribute('aria-invalid', 'true');
      replace(
        errors,
        notice(
          'error',
          h('strong', null, t('buy.sqlRefused')),
          ctx.length
            ? h('ul', null, ctx.map((x) => h('li', null, x.clause ? h('code', null, x.clause) : null, ' ', x.message ?? '', x.rule ? h('small', null, ` (${x.rule})`) : null)))
            : h('p', null, p?.detail ?? errorText(e)),
        ),
      );
    },
    clear() {
      area.removeAttribute('aria-invalid');
      replace(errors);
    },
  };
}

// ── verify (核验) ─────────────────────────────────────────────────────────────
function verifyBuilder(schema: DatasetSchema, offer: Offer): Builder {
  const cols = allowedCols(schema, offer, ['identifier', 'attribute', 'dimension']);
  const inputs = cols.map((c) =>
    c.values
      ? h('select', { name: c.name }, h('option', { value: '' }, t('buy.any')), c.values.map((v) => h('option', { value: v }, v)))
      : h('input', { type: 'text', name: c.name, maxlength: 200, autocomplete: 'off' }),
  );
  const per = h('input', { type: 'checkbox' });
  const node = h(
    'div',
    { class: 'builder verify' },
    h('p', { class: 'hint' }, t('buy.verifyHint')),
    cols.map((c, i) => field(c.name, inputs[i]!, c.description)),
    h('label', { class: 'check' }, per, ' ', t('buy.perAttribute')),
  );
  return {
    node,
    read() {
      const match = Object.fromEntries(inputs.map((x, i) => [cols[i]!.name, x.value.trim()]).filter(([, v]) => v));
      if (!Object.keys(match).length) return { error: t('buy.needValue') };
      return { kind: 'verify', match, perAttribute: per.checked };
    },
  };
}

// ── quote ────────────────────────────────────────────────────────────────────
function quoteView(q: SignedQuote['statement']): HTMLElement {
  const acc = q.accuracy;
  return h(
    'div',
    { class: 'quote', 'data-quote-id': q.quoteId },
    h(
      'dl',
      { class: 'facts quote-facts' },
      h('dt', null, t('buy.price')),
      h('dd', null, h('strong', { class: 'quote-price' }, yuan(q.priceFen)), ' ', h('small', null, t('buy.priceSplit', { owner: yuan(q.ownerShareFen), fee: yuan(q.platformFeeFen), rows: num(q.rows) }))),
      h('dt', null, t('buy.epsilon')),
      h('dd', { class: 'quote-epsilon' }, q.epsilonMilli > 0 ? `ε ${num(q.epsilonMilli / 1000, 3)}` : t('buy.exact')),
      h('dt', null, t('buy.refusalCharge')),
      h('dd', { class: 'quote-refusal' }, t('buy.refusalText', { charge: yuan(q.refusalChargeFen), returned: yuan(q.priceFen - q.refusalChargeFen), n: q.refusalAllowance })),
      h('dt', null, t('buy.expires')),
      h('dd', null, dateTime(q.expiresAt)),
    ),
    acc
      ? table(
          t('buy.accuracy'),
          [t('buy.output'), t('buy.mechanism'), t('buy.noiseScale'), t('buy.interval')],
          acc.outputs.map((o) => [
            h('code', null, o.output),
            t(`buy.mech.${o.mechanism}`),
            // a mean's (variance's, stddev's) scale is that of its noisy sum part (contracts/pricing/accuracy.ts)
            o.formula ? `${num(o.noiseScale, 4)} ${t('buy.ofSum')}` : num(o.noiseScale, 4),
            o.halfWidth95 !== null ? `± ${num(o.halfWidth95, 4)}` : h('span', null, t('buy.intervalBySize'), o.formula ? h('small', { class: 'formula' }, ` ${o.formula}`) : null),
          ]),
          { className: 'accuracy', numeric: [2] },
        )
      : h('p', { class: 'quote-accuracy' }, t('buy.noNoise')),
    q.warnings.length ? notice('warn', h('ul', null, q.warnings.map((w) => h('li', null, h('code', null, w.output), ' ', w.message)))) : null,
  );
}

/** The panel on a dataset page: pick an offer, build, quote, submit. */
export function buyPanel(schema: DatasetSchema, offers: Offer[]): HTMLElement {
  const offerSel = h('select', { name: 'offer' }, offers.map((o) => h('option', { value: o.id }, `${o.title} · ${t('offer.version', { v: o.version })}`)));
  const body = h('div');
  const draw = () => replace(body, requestForm(schema, offers.find((o) => o.id === offerSel.value)!));
  offerSel.addEventListener('change', draw);
  draw();
  return section(t('buy.title'), field(t('buy.offer'), offerSel), body);
}

/** The request under one offer: the builder of the chosen kind, purpose and destination, quote, submit. */
function requestForm(schema: DatasetSchema, offer: Offer): HTMLElement {
  const kinds = offer.allowedKinds as Kind[];
  const kindSel = h('select', { name: 'kind' }, kinds.map((k) => h('option', { value: k }, t(`kind.${k}`))));
  const holder = h('div', { class: 'builder-holder' });
  let builder!: Builder & { showRefusal?: (e: unknown) => void; clear?: () => void };
  const makeBuilder = () => {
    const k = kindSel.value as Kind;
    builder = k === 'sql' ? sqlBuilder(schema, offer) : k === 'verify' ? verifyBuilder(schema, offer) : aggregateBuilder(schema, offer);
    replace(holder, builder.node);
    replace(quoteBox);
  };

  const purposeSel = h('select', { name: 'purpose' }, offer.terms.purposes.map((p) => h('option', { value: p }, purposeName(p))));
  const statement = h('textarea', { rows: 2, maxlength: 2000, name: 'statement' });
  const destSel = h('select', { name: 'destination' }, offer.terms.destinations.map((d) => h('option', { value: d }, d)));
  const quoteBox = h('div', { class: 'quote-box', 'aria-live': 'polite' });
  const quoteBtn = h('button', { type: 'submit', class: 'primary' }, t('buy.quote'));
  kindSel.addEventListener('change', makeBuilder);

  const onQuote = async (e: Event) => {
    e.preventDefault();
    builder.clear?.();
    const c = builder.read();
    if ('error' in c) return replace(quoteBox, notice('warn', c.error));
    if (statement.value.trim().length < 10) {
      statement.setAttribute('aria-invalid', 'true');
      return replace(quoteBox, notice('warn', t('buy.needStatement')));
    }
    statement.removeAttribute('aria-invalid');
    quoteBtn.disabled = true;
    replace(quoteBox, notice('info', t('buy.quoting')));
    const req = { computation: c, purpose: { code: purposeSel.value, statement: statement.value.trim() }, destination: destSel.value };
    try {
      const client = buyerClient();
      const [quote, wallet] = await Promise.all([client.quote(offer.id, req), client.wallet()]);
      showQuote(quote, c, wallet.availableFen);
    } catch (err) {
      const p = asProblem(err);
      if (c.kind === 'sql' && p && builder.showRefusal && (p.slug === 'sql-refused' || p.slug.startsWith('privacy-') || p.slug === 'dp-domain-too-large')) {
        builder.showRefusal(err);
        replace(quoteBox, notice('error', t('buy.quoteRefused')));
      } else replace(quoteBox, notice('error', t('buy.quoteFailed'), ' ', problemText(err)));
    } finally {
      quoteBtn.disabled = false;
    }
  };

  const showQuote = (quote: SignedQuote, c: Computation, available: number) => {
    // one key per quote: a retry of the same submission is recognised by the server, never held twice
    const key = crypto.randomUUID();
    const enough = available >= quote.statement.priceFen;
    const status = h('div', { class: 'submit-status', 'aria-live': 'polite' });
    const submit = h('button', { type: 'button', class: 'primary', disabled: !enough }, t('buy.submit'));
    submit.addEventListener('click', async () => {
      submit.disabled = true;
      replace(status, notice('info', t('buy.submitting')));
      try {
        const trade = await buyerClient().submit(quote, c, { idempotencyKey: key });
        go(`#/trades/${trade.id}`);
      } catch (err) {
        submit.disabled = false;
        replace(status, notice('error', t('buy.submitFailed'), ' ', problemText(err)));
      }
    });
    replace(
      quoteBox,
      h('h3', null, t('buy.quoteFor', { what: describeComputation(c) })),
      quoteView(quote.statement),
      h(
        'p',
        { class: 'wallet-line' },
        t('buy.wallet', { available: yuan(available) }),
        ' ',
        enough ? t('buy.afterHold', { held: yuan(quote.statement.priceFen), left: yuan(available - quote.statement.priceFen) }) : h('strong', { class: 'neg' }, t('buy.insufficient')),
      ),
      h('div', { class: 'actions' }, submit),
      status,
    );
  };

  const form = h(
    'form',
    { class: 'buy-form', onsubmit: (e: Event) => void onQuote(e) },
    kinds.length > 1 ? field(t('buy.kind'), kindSel) : h('p', null, t('buy.kindOnly', { kind: t(`kind.${kinds[0]!}`) })),
    holder,
    h(
      'fieldset',
      { class: 'purpose' },
      h('legend', null, t('buy.purposeLegend')),
      field(t('buy.purpose'), purposeSel),
      field(t('buy.statement'), statement, t('buy.statementHint')),
      field(t('buy.destination'), destSel, t('buy.destinationHint', { list: list(offer.terms.destinations) })),
    ),
    h('div', { class: 'actions' }, quoteBtn),
    quoteBox,
  );
  makeBuilder();
  return form;
}
