import { sm2Fingerprint, sm2KeyPair, sm2PublicKeyToPem } from '../../crypto/index.js';
import { createContracts, type DatasetRef } from '../../contracts/index.js';
import { certifyReviewer, signApproval, type ReviewerCertificate, approvalStatementFor } from '../../contracts/review/approval.js';
import type { Trade } from '../../contracts/trade/trade.js';
import type { ContractsStore } from '../../contracts/store.js';
import { biometricSchema, offerInput, schema } from './fixtures.js';
import { freshStore, testClock, testSigner } from './helpers.js';

/** A small world: an owner, a buyer, a reviewer from a third organisation, the operator, real keys and a real store (SQLite or PostgreSQL). */
export async function world(opts: { store?: ContractsStore; platform?: ReturnType<typeof testSigner> } = {}) {
  const base = opts.store ? { db: undefined, store: opts.store } : await freshStore();
  const clock = testClock('2026-06-01T00:00:00.000Z');
  const platform = opts.platform ?? testSigner();
  const operator = sm2KeyPair();
  const reviewerKey = sm2KeyPair();
  const contracts = createContracts({ store: base.store, signer: platform, clock, operatorPublicKeyPem: sm2PublicKeyToPem(operator.publicKey) });
  const owner = { userId: 'u-owner', orgId: 'org-owner' };
  const buyer = { userId: 'u-buyer', orgId: 'org-buyer', orgName: 'Kunming Health Analytics' };
  const reviewer = { userId: 'u-reviewer', orgId: 'org-compliance' };
  const dataset: DatasetRef = { id: 'ds-1', ownerOrgId: owner.orgId, commitment: 'c'.repeat(64), schema, rowCount: 20_000 };
  const bioDataset: DatasetRef = { id: 'ds-bio', ownerOrgId: owner.orgId, commitment: 'b'.repeat(64), schema: biometricSchema, rowCount: 5_000 };

  const certificate: ReviewerCertificate = certifyReviewer(
    {
      type: 'shuyu.reviewer-cert.v1',
      reviewerId: reviewer.userId,
      orgId: reviewer.orgId,
      publicKeyPem: sm2PublicKeyToPem(reviewerKey.publicKey),
      fingerprint: sm2Fingerprint(reviewerKey.publicKey),
      issuedAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2027-01-01T00:00:00.000Z',
    },
    operator.privateKey,
  );

  function approvalFor(t: Trade, over: Record<string, unknown> = {}) {
    const now = clock.now();
    const statement = approvalStatementFor(
      { trade: t, privacy: t.privacyTerms, reviewerId: reviewer.userId, reviewerKeyFingerprint: sm2Fingerprint(reviewerKey.publicKey) },
      { decidedAt: now.toISOString(), expiresAt: new Date(now.getTime() + 3_600_000).toISOString() },
    );
    return signApproval({ ...statement, ...over } as typeof statement, reviewerKey.privateKey);
  }

  const computation = { kind: 'aggregate' as const, metrics: [{ op: 'sum' as const, measure: 'cost' }], groupBy: ['county'], filters: [] };

  async function quoteAndSubmit(over: { destination?: string; dataset?: DatasetRef; offerId: string; computation?: unknown; purpose?: { code: string; statement: string } }) {
    const ds = over.dataset ?? dataset;
    const comp = over.computation ?? computation;
    const quote = await contracts.quote({
      request: { offerId: over.offerId, computation: comp, purpose: over.purpose ?? { code: 'statistics', statement: 'county cost trends' }, destination: over.destination ?? 'CN-53' },
      dataset: ds,
      buyer,
    });
    return { quote, trade: await contracts.submitTrade({ request: { quote, computation: comp }, dataset: ds, buyer }) };
  }

  const listOffer = async (over: Parameters<typeof offerInput>[0] = {}, ds: DatasetRef = dataset) =>
    (await contracts.createOffer({ dataset: ds, input: offerInput({ terms: { ...offerInput().terms, destinations: ['CN', 'HK', 'US'] }, ...over }), actor: owner })).offer;

  return { ...base, contracts, clock, platform, operator, reviewerKey, owner, buyer, reviewer, dataset, bioDataset, certificate, approvalFor, computation, quoteAndSubmit, listOffer };
}
