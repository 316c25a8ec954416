import { aggregateKind } from '../../release/aggregate.js';
import { releaseParsed } from '../../release/front.js';
import { AggregateReleaseRequest, AggregateReleaseResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

/** `releaseAggregate`: an HE aggregate through the release front (payload validated by the dispatcher). */
export const releaseAggregate = defineHandler({
  request: AggregateReleaseRequest,
  response: AggregateReleaseResponse,
  handle: (payload, ctx) => releaseParsed(aggregateKind, payload, ctx.release) as Promise<AggregateReleaseResponse>,
});
