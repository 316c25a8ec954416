import { DatasetSchema } from '../../contracts/dataset/schema.js';
import type { OfferInput } from '../../contracts/offer/offer.js';

/** A small health-sector schema with one column per interesting level/tag. */
export const schema = DatasetSchema.parse({
  sector: 'health',
  columns: [
    { name: 'patient_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal'] },
    { name: 'county', type: 'category', role: 'dimension', level: 1, values: ['kunming', 'dali', 'lijiang'], tags: ['quasi-identifier'] },
    { name: 'sex', type: 'category', role: 'dimension', level: 2, values: ['f', 'm'], tags: ['quasi-identifier'] },
    { name: 'birth_year', type: 'category', role: 'dimension', level: 2, values: ['1980', '1990', '2000'], tags: ['quasi-identifier'] },
    { name: 'cost', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100000], tags: ['financial'] },
    { name: 'diagnosis', type: 'category', role: 'dimension', level: 3, values: ['a', 'b'], tags: ['health', 'sensitive-personal'] },
  ],
});

export const biometricSchema = DatasetSchema.parse({
  sector: 'public-security',
  columns: [
    { name: 'gate', type: 'category', role: 'dimension', level: 1, values: ['north', 'south'] },
    { name: 'visits', type: 'int', role: 'measure', level: 2, bounds: [0, 1000] },
    { name: 'face_template', type: 'text', role: 'attribute', level: 3, tags: ['biometric', 'sensitive-personal'] },
  ],
});

export function offerInput(over: Partial<OfferInput> = {}): OfferInput {
  return {
    title: 'Outpatient cost statistics',
    description: 'county-level cost aggregates',
    allowedKinds: ['aggregate'],
    allowedColumns: ['county', 'sex', 'cost'],
    priceModel: { kind: 'per-row', fenPerThousandRows: 50, minimumFen: 100 },
    platformFeeBps: 1000,
    terms: {
      purposes: ['public-health-research', 'statistics'],
      validFrom: '2026-01-01T00:00:00.000Z',
      validUntil: '2027-12-31T00:00:00.000Z',
      queryQuotaPerBuyer: 5,
      destinations: ['CN', 'HK'],
      minGroupSize: 10,
      epsilonPerQuery: 0.5,
      epsilonBudgetPerBuyer: 5,
      maxRowsPerPerson: 1,
      refusalAllowance: 3,
      refusalFeeBps: 10_000,
    },
    ...over,
  };
}
