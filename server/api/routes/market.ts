import { defineRoute, type RouteDef } from '../../http/route.js';
import { DomainError } from '../../../contracts/errors.js';
import type { Offer } from '../../../contracts/offer/offer.js';
import { IdParams, OfferInput, Offer as OfferSchema, OfferList, OfferScreening, OfferWritten, QuoteRequest, SignedQuote } from '../../../formats/http-api.js';
import type { DatasetRow } from '../../datasets/datasets.js';
import { datasetRef, buyerRef } from '../../trade/contracts.js';
import { sqlModeOfOffer, type SqlMode } from '../../trade/columns.js';
import { ClampBounds, type Computation } from '../../../contracts/computation.js';
import type { DatasetSchema } from '../../../contracts/dataset/schema.js';
import type { DimPredicate } from '../../../query/predicates.js';
import { sqlRefusal, type SqlFacts } from '../../../contracts/pricing/feasibility.js';
import { quotedComputation } from '../../../contracts/trade/quoting.js';
import type { TradeDeps } from './trades.js';

/** An SQL quote request may narrow DP clamp bounds (`clamp`, or `computation.clamp`): part of what is quoted and approved. */
const QuoteBody = QuoteRequest.extend({ clamp: ClampBounds.optional() }).strict();

/**
 * What the enclave's SQL validator finds for a query in the offer's mode (exact or DP, with the buyer's clamp):
 * columns, outputs with their per-row bounds, grouping. A refusal there is the quote's refusal: `sql-refused`
 * with the validator's errors, or the privacy rule's own type when one fired (MIN/MAX in an exact release is
 * `privacy-order-statistic-needs-dp`). The validator loads on the first SQL quote, not at every server start.
 */
async function sqlFactsFor(computation: Computation, schema: DatasetSchema, mode: SqlMode): Promise<SqlFacts | undefined> {
  if (computation.kind !== 'sql') return undefined;
  const { validateSql } = await import('../../../query/validate.js');
  const v = validateSql(computation.query, schema, { mode, ...(computation.clamp ? { clamp: computation.clamp } : {}) });
  if (!v.ok) throw sqlRefusal(v.errors);
  // an exact release lists every group its query can hold: too many of them is refused here, from the query alone
  if (mode === 'exact' && v.plan.selection) await plannedGroupsFor(v.plan.selection.where, v.plan.groupBy, schema);
  return { columnsUsed: v.columnsUsed, groupBy: v.plan.groupBy, outputs: v.outputs };
}

/** The enclave's planned groups of an exact query (throws `privacy-history-too-complex` as the enclave would). */
async function plannedGroupsFor(where: DimPredicate | null, groupBy: string[], schema: DatasetSchema): Promise<void> {
  const { plannedGroupKeys } = await import('../../../query/planned-groups.js');
  plannedGroupKeys(where, groupBy, schema.columns.filter((c) => c.role === 'dimension' && c.values).map((c) => ({ name: c.name, values: c.values! })));
}

/** The homomorphic path's own limits, decidable from the sealed bundle's layout (partitioning, plain modulus). */
async function checkHeLayout(computation: Computation, manifest: Record<string, unknown> | null): Promise<void> {
  if (computation.kind !== 'aggregate' || !manifest) return;
  const [{ BundleManifest }, { planAggregate, checkOverflow }, { BFV_PARAMS }] = await Promise.all([
    import('../../../formats/manifest.js'),
    import('../../../he/layout.js'),
    import('../../../he/params.js'),
  ]);
  const m = BundleManifest.parse(manifest);
  planAggregate(m, computation);
  const params = BFV_PARAMS[m.he.paramsId];
  if (params) checkOverflow(m, computation, params);
}

/** Offers (listings) and quotes. Writing an offer needs the dataset's owner organisation; reading is for everyone signed in. */
export function marketRoutes(d: TradeDeps): RouteDef[] {
  const { s, contracts } = d;
  const datasetOf = async (id: string): Promise<DatasetRow> => {
    const ds = await s.datasets.getDataset(id);
    if (!ds) throw new DomainError('not-found', `no dataset with id ${id}`);
    return ds;
  };
  const everyone = { owner: 'all', buyer: 'all', reviewer: 'all', operator: 'all' } as const;
  return [
    defineRoute({
      id: 'create-offer', method: 'post', path: '/v1/datasets/:id/offers', summary: 'List an offer on a dataset', roles: ['owner'],
      params: IdParams, object: { resource: 'dataset', param: 'id' }, body: OfferInput, responses: { 201: OfferWritten },
      handler: async ({ object, body, principal }) => ({
        status: 201,
        body: await contracts.createOffer({ dataset: datasetRef(object as DatasetRow), input: body, actor: { userId: principal!.userId, orgId: principal!.orgId } }),
      }),
    }),
    defineRoute({
      id: 'screen-offer', method: 'post', path: '/v1/datasets/:id/offers/screen', summary: 'Preview the negative-list screening of an offer before listing it (writes nothing)',
      roles: ['owner'], params: IdParams, object: { resource: 'dataset', param: 'id' }, body: OfferInput, responses: { 200: OfferScreening },
      handler: async ({ object, body, principal }) => ({
        status: 200,
        body: { screening: await contracts.screenOffer({ dataset: datasetRef(object as DatasetRow), input: body, actor: { userId: principal!.userId, orgId: principal!.orgId } }) },
      }),
    }),
    defineRoute({
      id: 'list-dataset-offers', method: 'get', path: '/v1/catalog/:id/offers', summary: "List a dataset's active offers",
      roles: ['owner', 'buyer', 'reviewer', 'operator'], params: IdParams, object: { resource: 'catalog-entry', param: 'id', scope: everyone },
      responses: { 200: OfferList },
      handler: async ({ params }) => ({ status: 200, body: { items: await contracts.listOffers({ datasetId: params.id, status: 'active' }) } }),
    }),
    defineRoute({
      id: 'get-offer', method: 'get', path: '/v1/offers/:id', summary: 'Read the latest version of an offer', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      params: IdParams, object: { resource: 'offer', param: 'id', scope: everyone }, responses: { 200: OfferSchema },
      handler: async ({ object }) => ({ status: 200, body: object as Offer }),
    }),
    defineRoute({
      id: 'revise-offer', method: 'post', path: '/v1/offers/:id/versions', summary: 'Publish a new version of an offer', roles: ['owner'],
      params: IdParams, object: { resource: 'offer', param: 'id' }, body: OfferInput, responses: { 201: OfferWritten },
      handler: async ({ object, body, principal }) => {
        const offer = object as Offer;
        return {
          status: 201,
          body: await contracts.reviseOffer({ offerId: offer.id, dataset: datasetRef(await datasetOf(offer.datasetId)), input: body, actor: { userId: principal!.userId, orgId: principal!.orgId } }),
        };
      },
    }),
    defineRoute({
      id: 'withdraw-offer', method: 'post', path: '/v1/offers/:id/withdraw', summary: 'Withdraw an offer', roles: ['owner'],
      params: IdParams, object: { resource: 'offer', param: 'id' }, responses: { 200: OfferSchema },
      handler: async ({ object, principal }) => ({ status: 200, body: await contracts.withdrawOffer({ offerId: (object as Offer).id, actor: { userId: principal!.userId, orgId: principal!.orgId } }) }),
    }),
    defineRoute({
      id: 'create-quote', method: 'post', path: '/v1/offers/:id/quotes', summary: 'Get a signed, expiring quote for a computation', roles: ['buyer'],
      params: IdParams, object: { resource: 'offer', param: 'id', scope: everyone }, body: QuoteBody, responses: { 201: SignedQuote },
      handler: async ({ object, body, principal }) => {
        const offer = await contracts.getOffer((object as Offer).id); // the latest version: the one quoted
        const ds = await datasetOf(offer.datasetId);
        const computation = quotedComputation(body);
        const sql = await sqlFactsFor(computation, ds.schema, sqlModeOfOffer(offer));
        const quote = await contracts.quote({
          request: { offerId: offer.id, computation, purpose: body.purpose, destination: body.destination, ...(sql ? { sql } : {}) },
          dataset: datasetRef(ds),
          buyer: await buyerRef(principal!, s.identity),
          // after the offer's own checks (a kind it does not sell is refused as such), before signing
          beforeSign: async () => checkHeLayout(computation, await s.datasets.manifestOf(ds.id)),
        });
        return { status: 201, body: quote };
      },
    }),
  ];
}

