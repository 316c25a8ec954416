/**
 * Organisations' wallets and top-ups. A top-up is credited once per idempotency key: the key is made
 * when the form is shown and renewed only after a success, so a resubmission after a lost answer is
 * the same top-up, never a second one.
 */
import type { Org, Wallet } from '../../client-sdk/sdk/types.js';
import { newId } from '../../contracts/ids.js';
import { all } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { t, yuan } from '../i18n.js';
import { operatorClient } from '../endpoints.js';
import { go } from '../router.js';
import { errorText, notice, pageHeader, section } from '../ui.js';
import { fenOf } from './owner-offer-form.js';

export async function topUpsPage(): Promise<Node> {
  const op = operatorClient();
  const orgs = await all<Org>('/orgs');
  const wallets = await Promise.all(orgs.map((o) => op.wallet(o.id).catch(() => null as Wallet | null)));
  const status = h('div', { 'aria-live': 'polite', class: 'topup-status' });
  const org = h('select', { required: true }, orgs.map((o) => h('option', { value: o.id }, o.name)));
  const amount = h('input', { type: 'text', inputmode: 'decimal', required: true, size: 12, placeholder: '1000.00' });
  const memo = h('input', { type: 'text', maxlength: 500, class: 'wide' });
  let key = newId();
  const submit = h('button', { type: 'submit', class: 'primary' }, t('topups.submit'));
  const form = h(
    'form',
    {
      class: 'inline-form',
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const fen = fenOf(amount.value);
        if (!fen) {
          amount.setAttribute('aria-invalid', 'true');
          amount.focus();
          return replace(status, notice('error', t('offerEdit.badAmount')));
        }
        amount.removeAttribute('aria-invalid');
        submit.disabled = true;
        try {
          await op.topUp(org.value, fen, { memo: memo.value.trim(), idempotencyKey: key });
          key = newId();
          replace(status, notice('ok', t('topups.done', { org: orgs.find((o) => o.id === org.value)?.name ?? org.value, amount: yuan(fen) })));
          setTimeout(() => go('#/operator/topups'), 800);
        } catch (err) {
          replace(status, notice('error', errorText(err)));
        } finally {
          submit.disabled = false;
        }
      },
    },
    field(t('topups.org'), org),
    field(t('topups.amount'), amount),
    field(t('topups.memo'), memo),
    submit,
  );
  return h(
    'div',
    null,
    pageHeader(t('topups.title')),
    section(t('topups.form'), form, h('small', { class: 'hint' }, t('topups.hint')), status),
    section(
      t('topups.balances'),
      table(
        t('topups.balances'),
        [t('topups.org'), t('topups.available'), t('topups.held'), t('topups.revenue')],
        orgs.map((o, i) => {
          const w = wallets[i];
          return [h('span', { 'data-org': o.id }, o.name), w ? yuan(w.availableFen) : '—', w ? yuan(w.heldFen) : '—', w ? yuan(w.revenueFen) : '—'];
        }),
        { numeric: [1, 2, 3], className: 'balances' },
      ),
    ),
  );
}
