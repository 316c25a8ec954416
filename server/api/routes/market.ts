import { z } from 'zod';
import { defineRoute, type RouteDef } from '../../http/route.js';
import { DomainError } from '../../../contracts/errors.js';
import type { Offer } from '../../../contracts/offer/offer.js';
import { IdParams, OfferInput, Offer as OfferSchema, OfferList, OfferWritten, QuoteRequest, SignedQuote } from '../schemas.js';
import type { DatasetRow } from '../../datasets/datasets.js';
import { datasetRef, buyerRef } from '../../trade/contracts.js';
import { columnsUsedFor } from '../../trade/columns.js';
import type { TradeDeps } from './trades.js';

/** Offers (listings) and quotes. Writing an offer needs the dataset's owner organisation; reading is for everyone signed in. */
export function marketRoutes(d: TradeDeps): RouteDef[] {
  const { s, contracts } = d;
  const datasetOf = (id: string): DatasetRow => {
    const ds = s.datasets.getDataset(id);
    if (!ds) throw new DomainError('not-found', `no dataset with id ${id}`);
    return ds;
  };
  const everyone = { owner: 'all', buyer: 'all', reviewer: 'all', operator: 'all' } as const;
  return [
    defineRoute({
      id: 'create-offer', method: 'post', path: '/v1/datasets/:id/offers', summary: 'List an offer on a dataset', roles: ['owner'],
      params: IdParams, object: { resource: 'dataset', param: 'id' }, body: OfferInput, responses: { 201: OfferWritten },
      handler: ({ object, body, principal }) => ({
        status: 201,
        body: contracts.createOffer({ dataset: datasetRef(object as DatasetRow), input: body, actor: { userId: principal!.userId, orgId: principal!.orgId } }),
      }),
    }),
    defineRoute({
      id: 'list-dataset-offers', method: 'get', path: '/v1/catalog/:id/offers', summary: "List a dataset's active offers",
      roles: ['owner', 'buyer', 'reviewer', 'operator'], params: IdParams, object: { resource: 'catalog-entry', param: 'id', scope: everyone },
      responses: { 200: OfferList },
      handler: ({ params }) => ({ status: 200, body: { items: contracts.listOffers({ datasetId: params.id, status: 'active' }) } }),
    }),
    defineRoute({
      id: 'get-offer', method: 'get', path: '/v1/offers/:id', summary: 'Read the latest version of an offer', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      params: IdParams, object: { resource: 'offer', param: 'id', scope: everyone }, responses: { 200: OfferSchema },
      handler: ({ object }) => ({ status: 200, body: object as Offer }),
    }),
    defineRoute({
      id: 'revise-offer', method: 'post', path: '/v1/offers/:id/versions', summary: 'Publish a new version of an offer', roles: ['owner'],
      params: IdParams, object: { resource: 'offer', param: 'id' }, body: OfferInput, responses: { 201: OfferWritten },
      handler: ({ object, body, principal }) => {
        const offer = object as Offer;
        return {
          status: 201,
          body: contracts.reviseOffer({ offerId: offer.id, dataset: datasetRef(datasetOf(offer.datasetId)), input: body, actor: { userId: principal!.userId, orgId: principal!.orgId } }),
        };
      },
    }),
    defineRoute({
      id: 'withdraw-offer', method: 'post', path: '/v1/offers/:id/withdraw', summary: 'Withdraw an offer', roles: ['owner'],
      params: IdParams, object: { resource: 'offer', param: 'id' }, responses: { 200: OfferSchema },
      handler: ({ object, principal }) => ({ status: 200, body: contracts.withdrawOffer({ offerId: (object as Offer).id, actor: { userId: principal!.userId, orgId: principal!.orgId } }) }),
    }),
    defineRoute({
      id: 'create-quote', method: 'post', path: '/v1/offers/:id/quotes', summary: 'Get a signed, expiring quote for a computation', roles: ['buyer'],
      params: IdParams, object: { resource: 'offer', param: 'id', scope: everyone }, body: QuoteRequest, responses: { 201: SignedQuote },
      handler: async ({ object, body, principal }) => {
        const offer = object as Offer;
        const ds = datasetOf(offer.datasetId);
        const columnsUsed = await columnsUsedFor(body.computation, ds.schema);
        const quote = await contracts.quote({
          request: { offerId: offer.id, computation: body.computation, purpose: body.purpose, destination: body.destination, ...(columnsUsed ? { columnsUsed } : {}) },
          dataset: datasetRef(ds),
          buyer: buyerRef(principal!, s.identity),
        });
        return { status: 201, body: quote };
      },
    }),
  ];
}

