/**
 * Loads the signed-in user's SM2 private key into this page's memory — pasted PEM or a file — for
 * signing here (a reviewer's approvals, the operator's reviewer certificates). The PEM is parsed at
 * once and the text field cleared; the key is never sent, stored or logged, and a reload forgets it.
 * Only the key registered for the user (GET /v1/me fingerprint) is accepted.
 */
import { sm2Fingerprint, sm2PrivateKeyFromPem, sm2PublicFromPrivate } from '../../crypto/index.js';
import { field, h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { currentUser } from '../session.js';
import { errorText, notice, shortHash } from '../ui.js';

export interface LoadedKey {
  privateKey: Uint8Array;
  fingerprint: string;
}

let loaded: LoadedKey | null = null;

/** The key loaded in this page, if any (kept across in-page navigation, for the same user only). */
export const loadedKey = (): LoadedKey | null => (loaded && loaded.fingerprint === currentUser()?.user.keyFingerprint ? loaded : null);

export function forgetKey(): void {
  loaded?.privateKey.fill(0);
  loaded = null;
}

export function keyLoader(onLoaded: (key: LoadedKey) => void): HTMLElement {
  const me = currentUser()!;
  const status = h('div', { 'aria-live': 'polite' });
  const area = h('textarea', { rows: 4, class: 'mono wide', spellcheck: 'false', autocomplete: 'off', placeholder: '-----BEGIN PRIVATE KEY-----' });
  const file = h('input', { type: 'file', accept: '.pem,.key,text/plain' });
  const load = (pem: string): void => {
    try {
      const privateKey = sm2PrivateKeyFromPem(pem.trim());
      const fingerprint = sm2Fingerprint(sm2PublicFromPrivate(privateKey));
      area.value = '';
      if (fingerprint !== me.user.keyFingerprint) {
        replace(status, notice('error', t('review.keyMismatch', { fp: shortHash(me.user.keyFingerprint) })));
        return;
      }
      loaded = { privateKey, fingerprint };
      replace(status, notice('ok', t('review.keyLoaded', { fp: shortHash(fingerprint) })));
      onLoaded(loaded);
    } catch (e) {
      replace(status, notice('error', t('review.keyBad', { detail: errorText(e) })));
    }
  };
  area.addEventListener('input', () => {
    if (area.value.includes('-----END PRIVATE KEY-----')) load(area.value);
  });
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    file.value = '';
    if (f) load(await f.text());
  });
  const already = loadedKey();
  if (already) replace(status, notice('ok', t('review.keyLoaded', { fp: shortHash(already.fingerprint) })));
  return h('div', { class: 'key-loader' }, field(t('review.key'), area, t('review.keyHint')), field(t('review.keyFile'), file), status);
}
