import { z } from 'zod';
import { defineRoute, type RouteDef } from '../../http/route.js';
import { HttpProblem } from '../../http/problems.js';
import {
  CreateUploadRequest, Upload, UploadList, IdParams, BlobParams, BlobReceived, Dataset, PageQuery, page, CatalogQuery, CatalogEntry,
  SampleQuery, Sample, PrivacyBudgetRequest,
} from '../../../formats/http-api.js';
import { pageOf } from '../pagination.js';
import type { Services } from '../services.js';
import type { DatasetRow, UploadRow } from '../../datasets/datasets.js';
import { generateSample } from '../../datasets/sample.js';
import { catalogVersion } from '../../store/tables/catalog-version.js';

export async function uploadView(s: Services, u: UploadRow): Promise<z.infer<typeof Upload>> {
  const blobs = await s.datasets.uploadBlobs(u.id);
  return {
    id: u.id,
    state: u.state,
    title: u.title,
    datasetId: u.datasetId,
    createdAt: u.createdAt,
    expiresAt: u.expiresAt,
    totalBytes: u.totalBytes,
    receivedBytes: blobs.filter((b) => b.received).reduce((a, b) => a + b.size, 0),
    blobs,
    missing: blobs.filter((b) => !b.received).map((b) => b.hash),
  };
}

export const datasetView = (d: DatasetRow): z.infer<typeof Dataset> => ({
  id: d.id,
  orgId: d.orgId,
  title: d.title,
  description: d.description,
  keywords: d.keywords,
  sector: d.sector,
  maxLevel: d.maxLevel,
  rowCount: d.rowCount,
  schema: d.schema,
  commitment: d.commitment,
  version: d.version,
  createdAt: d.createdAt,
  privacyBudget: { epsilonBudgetTotal: d.epsilonBudgetTotal, deltaBudgetTotal: d.deltaBudgetTotal },
});

/** Offers count per dataset, provided by the trade wiring once contracts are available. */
export type ActiveOfferCounter = (datasetId: string) => Promise<number>;

export function catalogView(d: DatasetRow, activeOffers: number): z.infer<typeof CatalogEntry> {
  const { schema: _schema, ...rest } = datasetView(d);
  return { ...rest, columns: d.schema.columns.map((c) => ({ name: c.name, type: c.type, role: c.role, level: c.level })), activeOffers };
}

export function datasetRoutes(s: Services, activeOffers: ActiveOfferCounter): RouteDef[] {
  const catalogAt = catalogVersion(s.db);
  return [
    defineRoute({
      id: 'create-upload', method: 'post', path: '/v1/uploads', summary: 'Start uploading a sealed bundle', roles: ['owner'],
      body: CreateUploadRequest, responses: { 201: Upload },
      handler: async ({ body, principal }) => {
        const u = await s.datasets.createUpload({ orgId: principal!.orgId, userId: principal!.userId, ...body });
        return { status: 201, body: await uploadView(s, u) };
      },
    }),
    defineRoute({
      id: 'list-uploads', method: 'get', path: '/v1/uploads', summary: "List the organisation's uploads not yet published (open or being verified)",
      roles: ['owner'], responses: { 200: UploadList },
      handler: async ({ principal }) => ({ status: 200, body: { items: await Promise.all((await s.datasets.openUploads(principal!.orgId)).map((u) => uploadView(s, u))) } }),
    }),
    defineRoute({
      id: 'get-upload', method: 'get', path: '/v1/uploads/:id', summary: 'Read an upload and the blobs it still needs', roles: ['owner'],
      params: IdParams, object: { resource: 'upload', param: 'id' }, responses: { 200: Upload },
      handler: async ({ object }) => ({ status: 200, body: await uploadView(s, object as UploadRow) }),
    }),
    defineRoute({
      id: 'put-upload-blob', method: 'put', path: '/v1/uploads/:id/blobs/:hash', summary: 'Send one blob of an upload (streamed, by SM3 hash)',
      roles: ['owner'], params: BlobParams, object: { resource: 'upload', param: 'id' }, rawBody: { contentType: 'application/octet-stream' },
      longRunning: true, responses: { 200: BlobReceived },
      handler: async ({ object, params, req }) => {
        const type = req.headers['content-type'] ?? '';
        if (!type.startsWith('application/octet-stream')) {
          throw new HttpProblem('unsupported-media-type', 'send blob bytes with Content-Type: application/octet-stream');
        }
        const declared = Number(req.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > s.config.maxBlobBytes) {
          throw new HttpProblem('payload-too-large', `blob of ${declared} bytes exceeds the limit of ${s.config.maxBlobBytes}`);
        }
        return { status: 200, body: await s.datasets.putBlob(object as UploadRow, params.hash, req) };
      },
    }),
    defineRoute({
      id: 'complete-upload', method: 'post', path: '/v1/uploads/:id/complete', summary: 'Verify the bundle and publish the dataset',
      roles: ['owner'], params: IdParams, object: { resource: 'upload', param: 'id' }, responses: { 201: Dataset }, longRunning: true,
      handler: async ({ object }) => ({ status: 201, body: datasetView(await s.datasets.complete(object as UploadRow)) }),
    }),
    defineRoute({
      id: 'abort-upload', method: 'delete', path: '/v1/uploads/:id', summary: 'Abort an upload and delete its blobs', roles: ['owner'],
      params: IdParams, object: { resource: 'upload', param: 'id' }, responses: { 204: z.undefined() },
      handler: async ({ object }) => {
        const u = object as UploadRow;
        if (u.state === 'completed') throw new HttpProblem('upload-not-open', 'this upload already became a dataset');
        if (u.state === 'completing') throw new HttpProblem('upload-not-open', 'this upload is being verified; abort it after verification has ended');
        await s.datasets.abort(u.id, 'aborted by the owner');
        return { status: 204 };
      },
    }),
    defineRoute({
      id: 'list-datasets', method: 'get', path: '/v1/datasets', summary: "List the organisation's datasets", roles: ['owner', 'operator'],
      query: PageQuery, responses: { 200: page(Dataset) },
      handler: async ({ query, principal }) => {
        const rows = await s.datasets.listDatasets(principal!.role === 'operator' ? {} : { orgId: principal!.orgId }, query.cursor, query.limit + 1);
        const p = pageOf(rows, query.limit);
        return { status: 200, body: { items: p.items.map(datasetView), nextCursor: p.nextCursor } };
      },
    }),
    defineRoute({
      id: 'get-dataset', method: 'get', path: '/v1/datasets/:id', summary: 'Read a dataset', roles: ['owner', 'operator'],
      params: IdParams, object: { resource: 'dataset', param: 'id' }, responses: { 200: Dataset },
      handler: async ({ object }) => ({ status: 200, body: datasetView(object as DatasetRow) }),
    }),
    defineRoute({
      id: 'set-dataset-privacy-budget', method: 'put', path: '/v1/datasets/:id/privacy-budget',
      summary: "Set the dataset-wide privacy budget (ε, δ across all buyers)", roles: ['owner'],
      params: IdParams, object: { resource: 'dataset', param: 'id' }, body: PrivacyBudgetRequest, responses: { 200: Dataset },
      handler: async ({ object, body, principal }) =>
        ({ status: 200, body: datasetView(await s.datasets.setPrivacyBudget((object as DatasetRow).id, body, principal!.userId)) }),
    }),
    defineRoute({
      id: 'search-catalog', method: 'get', path: '/v1/catalog', summary: 'Search the catalogue', roles: ['owner', 'buyer', 'reviewer', 'operator'],
      query: CatalogQuery, responses: { 200: page(CatalogEntry) },
      // The page is the same for every signed-in caller (every role sees the whole catalogue) and is read
      // from datasets and offers only, whose every change moves catalogAt (the database's triggers, so a
      // change made through any server of a cluster moves every server's version).
      cache: { version: catalogAt, key: ({ query }) => JSON.stringify([query.sector ?? null, query.q ?? null, query.level ?? null, query.cursor ?? null, query.limit]) },
      handler: async ({ query }) => {
        const filter: { sector?: string; q?: string; maxLevel?: number } = {};
        if (query.sector) filter.sector = query.sector;
        if (query.q) filter.q = query.q;
        if (query.level !== undefined) filter.maxLevel = query.level;
        const p = pageOf(await s.datasets.listDatasets(filter, query.cursor, query.limit + 1), query.limit);
        const items = [];
        for (const d of p.items) items.push(catalogView(d, await activeOffers(d.id)));
        return { status: 200, body: { items, nextCursor: p.nextCursor } };
      },
    }),
    defineRoute({
      id: 'get-catalog-entry', method: 'get', path: '/v1/catalog/:id', summary: 'Read a catalogue entry with its schema',
      roles: ['owner', 'buyer', 'reviewer', 'operator'], params: IdParams,
      object: { resource: 'catalog-entry', param: 'id', scope: { owner: 'all', buyer: 'all', reviewer: 'all', operator: 'all' } },
      responses: { 200: CatalogEntry.extend({ schema: Dataset.shape.schema }) },
      handler: async ({ object }) => {
        const d = object as DatasetRow;
        return { status: 200, body: { ...catalogView(d, await activeOffers(d.id)), schema: d.schema } };
      },
    }),
    defineRoute({
      id: 'get-catalog-sample', method: 'get', path: '/v1/catalog/:id/sample', summary: 'Get a generated sample that follows the schema',
      roles: ['owner', 'buyer', 'reviewer', 'operator'], params: IdParams, query: SampleQuery,
      object: { resource: 'catalog-entry', param: 'id', scope: { owner: 'all', buyer: 'all', reviewer: 'all', operator: 'all' } },
      responses: { 200: Sample },
      handler: async ({ object, query }) => {
        const d = object as DatasetRow;
        return {
          status: 200,
          body: {
            generated: true as const,
            note: 'Generated from the declared schema (types, bounds, dimension values); it contains no real rows.',
            ...generateSample(d.schema, query.rows),
          },
        };
      },
    }),
  ];
}
