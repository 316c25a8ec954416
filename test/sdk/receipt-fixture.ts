/** A realistic receipt payload (no signing key fingerprint: signReceipt adds it). */
export function sampleReceiptPayload(): Record<string, unknown> {
  return {
    receiptId: '01932c6e-7d2a-7cc1-8f00-000000000001',
    tradeId: '01932c6e-7d2a-7cc1-8f00-000000000002',
    datasetId: '01932c6e-7d2a-7cc1-8f00-000000000003',
    datasetCommitment: 'a'.repeat(64),
    offerId: '01932c6e-7d2a-7cc1-8f00-000000000004',
    computation: { kind: 'aggregate', metrics: [{ op: 'mean', measure: 'spend_yuan' }], groupBy: ['prefecture'], filters: [] },
    computationHash: 'b'.repeat(64),
    result: { groups: [{ key: ['昆明市'], values: { 'mean(spend_yuan)': 1234.5 } }] },
    privacy: { minGroupSize: 10, absentGroups: 'empty-or-withheld', mechanism: 'none', epsilonSpent: 0 },
    priceFen: 12_000,
    issuedAt: '2026-11-23T07:00:00.000Z',
  };
}
