/** Sign-in with a bearer token: checked with GET /v1/me before it is kept (in this tab only). */
import { field, h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { go, HOME } from '../router.js';
import { signIn } from '../session.js';
import { errorText, notice, pageHeader } from '../ui.js';

export function signInPage(): Node {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true, class: 'wide' });
  const status = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'card narrow',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) return replace(status, notice('error', t('signin.empty')));
        try {
          const me = await signIn(token);
          go(HOME[me.user.role]);
        } catch (err) {
          replace(status, notice('error', t('signin.bad', { detail: errorText(err) })));
          input.focus();
        }
      },
    },
    h('p', null, t('signin.intro')),
    field(t('signin.token'), input, t('signin.hint')),
    h('button', { type: 'submit', class: 'primary' }, t('signin.submit')),
    status,
  );
  return h('div', { class: 'signin' }, pageHeader(t('signin.title')), form);
}
