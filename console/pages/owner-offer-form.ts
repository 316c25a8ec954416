/**
 * The fields of an offer (new or revised) and how they read back into an OfferInput. Amounts are typed
 * in yuan and kept as integer fen without passing through a float; percentages become basis points.
 */
import type { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { OfferInput } from '../../client-sdk/sdk/types.js';
import { field, h } from '../dom.js';
import { bi, t } from '../i18n.js';
import { PURPOSES } from '../../contracts/policy/purposes.js';
import type { MessageKey } from '../messages.js';
import { safeT } from '../ui.js';
import { priceText } from './dataset.js';
import type { Offer } from './owner-data.js';

/** '12.5' → 1250 fen; null when not a non-negative amount with at most two decimals. */
export function fenOf(yuanText: string): number | null {
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(yuanText.trim());
  return m ? Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0')) : null;
}
export const yuanText = (fen: number): string => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

const codes = (text: string): string[] => text.split(/[,，、\s]+/).map((s) => s.trim()).filter(Boolean);
const day = (iso: string): string => iso.slice(0, 10);

export interface OfferForm {
  element: HTMLElement;
  /** The input as the form holds it, or the first problem the page can tell without the server. */
  read(): { ok: true; input: OfferInput } | { ok: false; problem: string; control: HTMLElement };
}

function checks(legend: string, name: string, options: { value: string; label: string; checked: boolean }[], hint?: string): HTMLFieldSetElement {
  return h(
    'fieldset',
    { class: 'checks', 'data-name': name },
    h('legend', null, legend),
    hint ? h('small', { class: 'hint' }, hint) : null,
    options.map((o) => h('label', null, h('input', { type: 'checkbox', name, value: o.value, checked: o.checked }), ' ', o.label)),
  );
}
const ticked = (set: HTMLElement): string[] => Array.from(set.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')).map((c) => c.value);

const numberInput = (value: number, attrs: Record<string, string | number> = {}): HTMLInputElement => h('input', { type: 'number', value: String(value), required: true, ...attrs });

export function offerForm(schema: DatasetSchema, current: Offer | null): OfferForm {
  const now = new Date();
  const c = current;
  const title = h('input', { type: 'text', class: 'wide', required: true, maxlength: 200, value: c?.title ?? '' });
  const description = h('textarea', { class: 'wide', rows: 3, maxlength: 5000 }, c?.description ?? '');
  const kinds = checks(t('offerEdit.kinds'), 'kinds', (['aggregate', 'sql', 'verify'] as const).map((k) => ({ value: k, label: t(`kind.${k}`), checked: c ? c.allowedKinds.includes(k) : k === 'aggregate' })));
  const columns = checks(
    t('offerEdit.columns'),
    'columns',
    schema.columns.map((col) => ({
      value: col.name,
      label: `${col.name} · L${col.level}${col.tags?.length ? ` · ${col.tags.map((x) => safeT(`tag.${x}` as MessageKey, x)).join(', ')}` : ''}`,
      checked: c ? c.allowedColumns.includes(col.name) : col.role !== 'identifier',
    })),
    t('offerEdit.columnsHint'),
  );

  const keep = c && c.priceModel.kind !== 'fixed' && c.priceModel.kind !== 'per-row' ? c.priceModel : null;
  const priceKind = h(
    'select',
    null,
    keep ? h('option', { value: 'keep' }, t('offerEdit.priceKeep', { text: priceText(keep) })) : null,
    h('option', { value: 'per-row' }, t('offerEdit.pricePerRow')),
    h('option', { value: 'fixed' }, t('offerEdit.priceFixed')),
  );
  priceKind.value = keep ? 'keep' : c?.priceModel.kind ?? 'per-row';
  const pm = c?.priceModel;
  const amount = h('input', { type: 'text', inputmode: 'decimal', required: true, size: 12, value: yuanText(pm?.kind === 'fixed' ? pm.perQueryFen : pm?.kind === 'per-row' ? pm.fenPerThousandRows : 200) });
  const minimum = h('input', { type: 'text', inputmode: 'decimal', size: 12, value: yuanText(pm?.kind === 'per-row' ? pm.minimumFen : 0) });
  const minimumField = field(t('offerEdit.minimum'), minimum);
  const amountField = field(t('offerEdit.amount'), amount);
  const fee = numberInput((c?.platformFeeBps ?? 1000) / 100, { min: 0, max: 100, step: 0.01 });
  const syncPrice = () => {
    minimumField.hidden = priceKind.value !== 'per-row';
    amountField.hidden = priceKind.value === 'keep';
  };
  priceKind.addEventListener('change', syncPrice);
  syncPrice();

  const terms = c?.terms;
  // the published catalogue, bundled: the purposes for this dataset's sector, those for any sector, and any already offered
  const chosen = new Set(terms?.purposes ?? []);
  const purposes = checks(
    t('offerEdit.purposes'),
    'purposes',
    PURPOSES.purposes
      .filter((p) => !p.sectors || p.sectors.includes(schema.sector) || chosen.has(p.code))
      .map((p) => ({ value: p.code, label: `${bi(p.name)} (${p.code})`, checked: chosen.has(p.code) })),
    t('offerEdit.purposesHint'),
  );
  const destinations = h('input', { type: 'text', required: true, value: terms?.destinations.join(', ') ?? 'CN' });
  const validFrom = h('input', { type: 'date', required: true, value: day(terms?.validFrom ?? now.toISOString()) });
  const validUntil = h('input', { type: 'date', required: true, value: day(terms?.validUntil ?? new Date(now.getTime() + 365 * 86_400_000).toISOString()) });
  const quota = numberInput(terms?.queryQuotaPerBuyer ?? 100, { min: 1, step: 1 });
  const minGroup = numberInput(terms?.minGroupSize ?? 10, { min: 1, step: 1 });
  const epsilon = numberInput(terms?.epsilonPerQuery ?? 0, { min: 0, max: 10, step: 0.01 });
  const epsilonBudget = numberInput(terms?.epsilonBudgetPerBuyer ?? 0, { min: 0, max: 100, step: 0.01 });
  const maxRows = numberInput(terms?.maxRowsPerPerson ?? 1, { min: 1, max: 1000, step: 1 });
  const refusals = numberInput(terms?.refusalAllowance ?? 3, { min: 0, max: 100, step: 1 });
  const refusalFee = numberInput((terms?.refusalFeeBps ?? 10_000) / 100, { min: 0, max: 100, step: 0.01 });

  const element = h(
    'div',
    { class: 'offer-form' },
    h('fieldset', null, h('legend', null, t('offerEdit.basics')), field(t('offerEdit.title'), title), field(t('offerEdit.description'), description), kinds, columns),
    h('fieldset', null, h('legend', null, t('offerEdit.price')), h('div', { class: 'inline-form' }, field(t('offerEdit.priceKind'), priceKind), amountField, minimumField, field(t('offerEdit.fee'), fee))),
    h(
      'fieldset',
      null,
      h('legend', null, t('offerEdit.terms')),
      purposes,
      field(t('offerEdit.destinations'), destinations, t('offerEdit.destinationsHint')),
      h('div', { class: 'inline-form' }, field(t('offerEdit.validFrom'), validFrom), field(t('offerEdit.validUntil'), validUntil)),
    ),
    h(
      'fieldset',
      null,
      h('legend', null, t('offerEdit.privacy')),
      h(
        'div',
        { class: 'inline-form' },
        field(t('offerEdit.quota'), quota),
        field(t('offerEdit.minGroup'), minGroup),
        field(t('offerEdit.epsilon'), epsilon),
        field(t('offerEdit.epsilonBudget'), epsilonBudget),
        field(t('offerEdit.maxRows'), maxRows),
        field(t('offerEdit.refusals'), refusals),
        field(t('offerEdit.refusalFee'), refusalFee),
      ),
    ),
  );

  const read: OfferForm['read'] = () => {
    const fail = (problem: string, control: HTMLElement) => ({ ok: false as const, problem, control });
    if (!title.value.trim()) return fail(t('offerEdit.badList'), title);
    const allowedKinds = ticked(kinds) as OfferInput['allowedKinds'];
    if (!allowedKinds.length) return fail(t('offerEdit.pickOne'), kinds);
    const allowedColumns = ticked(columns);
    if (!allowedColumns.length) return fail(t('offerEdit.pickOne'), columns);
    let priceModel: OfferInput['priceModel'];
    if (priceKind.value === 'keep' && keep) priceModel = keep;
    else {
      const a = fenOf(amount.value);
      if (a === null) return fail(t('offerEdit.badAmount'), amount);
      if (priceKind.value === 'fixed') priceModel = { kind: 'fixed', perQueryFen: a };
      else {
        const min = fenOf(minimum.value || '0');
        if (min === null) return fail(t('offerEdit.badAmount'), minimum);
        priceModel = { kind: 'per-row', fenPerThousandRows: a, minimumFen: min };
      }
    }
    const purposeCodes = ticked(purposes);
    if (!purposeCodes.length) return fail(t('offerEdit.pickOne'), purposes);
    const regions = codes(destinations.value).map((r) => r.toUpperCase());
    if (!regions.length) return fail(t('offerEdit.badList'), destinations);
    const bps = (input: HTMLInputElement) => Math.round(Number(input.value) * 100);
    return {
      ok: true,
      input: {
        title: title.value.trim(),
        description: description.value.trim(),
        allowedKinds,
        allowedColumns,
        priceModel,
        platformFeeBps: bps(fee),
        terms: {
          purposes: purposeCodes,
          destinations: regions,
          validFrom: `${validFrom.value}T00:00:00.000Z`,
          validUntil: `${validUntil.value}T00:00:00.000Z`,
          queryQuotaPerBuyer: Number(quota.value),
          minGroupSize: Number(minGroup.value),
          epsilonPerQuery: Number(epsilon.value),
          epsilonBudgetPerBuyer: Number(epsilonBudget.value),
          maxRowsPerPerson: Number(maxRows.value),
          refusalAllowance: Number(refusals.value),
          refusalFeeBps: bps(refusalFee),
        },
      },
    };
  };
  return { element, read };
}
