import { BudgetSpentRequest, BudgetSpentResponse } from '../../../formats/enclave-protocol.js';
import { defineHandler } from './types.js';

/** `budgetSpent`: ε and δ a buyer has been charged on a dataset (totals only), so a reviewer sees what is left. */
export const budgetSpent = defineHandler({
  request: BudgetSpentRequest,
  response: BudgetSpentResponse,
  handle: (payload, ctx) => ctx.ledger.spent(payload.buyerOrgId, payload.datasetId),
});
