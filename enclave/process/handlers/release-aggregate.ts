import { releaseAggregate as release } from '../../release/aggregate.js';
import { AggregateReleaseRequest, AggregateReleaseResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

export const releaseAggregate = defineHandler({
  request: AggregateReleaseRequest,
  response: AggregateReleaseResponse,
  handle: (payload, ctx) => release(payload, ctx.release),
});
