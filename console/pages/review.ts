/**
 * The reviewer's queue and one trade's review. Approving signs the approval statement
 * (contracts/review/approval.ts signApproval) with the reviewer's SM2 private key IN THIS PAGE: the PEM
 * is read from a file or pasted, parsed into memory, and never sent, stored or logged.
 */
import { ReviewerClient } from '../../client-sdk/sdk/reviewer.js';
import { get } from '../api.js';
import { field, h, replace, table } from '../dom.js';
import { dateTime, t, yuan } from '../i18n.js';
import { reviewerClient, type Offer, type ReviewCase } from '../endpoints.js';
import type { RouteMatch } from '../router.js';
import { go } from '../router.js';
import { errorText, mono, notice, pageHeader, section, shortHash, stateBadge } from '../ui.js';
import { describeComputation } from '../computation.js';
import { computationBlock, epsilon, findingsBlock, tradeFacts } from './trade-parts.js';
import { keyLoader, loadedKey } from './key-loader.js';

export async function reviewQueuePage(): Promise<Node> {
  const { items } = await reviewerClient().queue({ limit: 100 });
  return h(
    'div',
    null,
    pageHeader(t('review.title')),
    items.length
      ? table(
          t('review.title'),
          [t('trade.submitted'), t('trade.buyer'), t('trade.purpose'), t('trade.computation'), t('trade.price'), t('trade.privacy'), t('trade.state'), ''],
          items.map((tr) => [
            dateTime(tr.createdAt),
            tr.buyerOrgName || mono(shortHash(tr.buyerOrgId)),
            tr.purpose.statement,
            describeComputation(tr.computation),
            yuan(tr.priceFen),
            `ε ${epsilon(tr.epsilonMilli)}`,
            stateBadge(tr.state),
            h('a', { href: `#/review/${tr.id}`, class: 'button', 'aria-label': `${t('review.open')}: ${tr.purpose.statement}` }, t('review.open')),
          ]),
          { numeric: [4] },
        )
      : notice('info', t('review.empty')),
  );
}

export async function reviewTradePage(m: RouteMatch): Promise<Node> {
  const client = reviewerClient();
  const rc: ReviewCase = await client.case(m.params[0]!);
  const tr = rc.trade;
  const offer = await get<Offer>(`/offers/${tr.offerId}`).catch(() => null);
  const remaining = rc.privacyBudget.remainingEpsilon;
  const pending = tr.state === 'under_review';
  const status = h('div', { 'aria-live': 'assertive', class: 'decision-status' });
  const reason = h('textarea', { rows: 3, class: 'wide', minlength: 4, maxlength: 2000, name: 'reason' });
  const approveBtn = h('button', { type: 'button', class: 'primary' }, t('review.approve'));
  const rejectBtn = h('button', { type: 'button', class: 'danger' }, t('review.reject'));
  const buttons = [approveBtn, rejectBtn];
  const busy = (on: boolean): void => buttons.forEach((b) => (b.disabled = on));

  const reasonOk = (): string | null => {
    const r = reason.value.trim();
    if (r.length >= 4) {
      reason.removeAttribute('aria-invalid');
      return r;
    }
    reason.setAttribute('aria-invalid', 'true');
    replace(status, notice('error', t('review.needReason')));
    reason.focus();
    return null;
  };

  rejectBtn.addEventListener('click', async () => {
    const r = reasonOk();
    if (!r) return;
    busy(true);
    try {
      await client.reject(tr.id, r);
      replace(status, notice('ok', t('review.rejected', { reason: r })));
      setTimeout(() => go('#/review'), 1200);
    } catch (e) {
      replace(status, notice('error', errorText(e)));
      busy(false);
    }
  });

  approveBtn.addEventListener('click', async () => {
    const r = reasonOk();
    if (!r) return;
    const reviewerKey = loadedKey();
    if (!reviewerKey) return replace(status, notice('error', t('review.needKey')));
    busy(true);
    replace(status, notice('info', t('review.signing')));
    try {
      // The SDK builds the statement from the case (recomputing the computation hash, checking the key
      // is the registered one) and signs it with signApproval — here, in the page.
      const approval = ReviewerClient.approvalFor(rc, reviewerKey.privateKey);
      await client.http.post(`/reviews/${tr.id}/decision`, { decision: 'approve', reason: r, approval });
      replace(status, notice('ok', t('review.approved', { fp: shortHash(reviewerKey.fingerprint) })));
      setTimeout(() => go('#/review'), 1200);
    } catch (e) {
      replace(status, notice('error', errorText(e)));
      busy(false);
    }
  });

  return h(
    'div',
    null,
    pageHeader(t('review.detail'), h('p', { class: 'sub' }, mono(tr.id))),
    h(
      'div',
      { class: 'two-col' },
      section(t('review.detail'), tradeFacts(tr, { datasetTitle: rc.dataset.title, buyerName: rc.buyer.name, offer, remainingEpsilon: remaining })),
      section(t('trade.computation'), computationBlock(tr, { open: true })),
    ),
    section(t('trade.findings'), findingsBlock(tr)),
    pending
      ? section(
          t('review.decision'),
          keyLoader(() => {
            replace(status); // an earlier "load your key first" no longer applies
            approveBtn.focus();
          }),
          field(t('review.reason'), reason, t('review.reasonHint')),
          h('div', { class: 'actions' }, approveBtn, rejectBtn),
          status,
        )
      : notice('info', t('review.notPending', { state: stateBadge(tr.state).textContent ?? tr.state })),
  );
}
