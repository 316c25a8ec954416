import type { Computation } from '../../contracts/computation.js';
import type { OfferInput } from '../../contracts/offer/offer.js';
import type { DemoKey } from './data.js';

/**
 * The three demo trades: what each owner offers, what each buyer asks and why, and what
 * should happen — one approved and delivered, one rejected by the reviewer, one denied by the
 * negative list. The demo also writes these as JSON files, so every CLI command in the README can be
 * replayed by hand on the same inputs.
 */

const terms = (purposes: string[], extra: Partial<OfferInput['terms']> = {}): OfferInput['terms'] => ({
  purposes,
  validFrom: '2026-01-01T00:00:00.000Z',
  validUntil: '2030-12-31T23:59:59.000Z',
  queryQuotaPerBuyer: 100,
  destinations: ['CN'],
  minGroupSize: 5,
  epsilonPerQuery: 0,
  epsilonBudgetPerBuyer: 0,
  maxRowsPerPerson: 1,
  refusalAllowance: 3,
  refusalFeeBps: 10_000,
  ...extra,
});

export interface DemoTrade {
  dataset: DemoKey;
  owner: string;
  buyer: string;
  offer: OfferInput;
  computation: Computation;
  purpose: { code: string; statement: string };
  destination: string;
  expected: 'delivered' | 'rejected-by-reviewer' | 'denied-by-negative-list';
  /** what the reviewer says (approve or reject) when the trade reaches review */
  reviewerReason: string;
  story: string;
}

export const DEMO_TRADES: readonly DemoTrade[] = [
  {
    dataset: 'tourism',
    owner: '云南文旅数据有限公司 Yunnan Culture & Tourism Data Co.',
    buyer: '滇中旅游规划研究院 Central Yunnan Tourism Planning Institute',
    offer: {
      title: '各州市游客消费统计 Tourist spending statistics by prefecture',
      description: 'Counts, sums and means of spending and nights, by prefecture and origin.',
      allowedKinds: ['aggregate'],
      allowedColumns: ['prefecture', 'origin', 'spend_yuan', 'nights'],
      priceModel: { kind: 'per-row', fenPerThousandRows: 200, minimumFen: 5_000 },
      platformFeeBps: 1_000,
      terms: terms(['tourism-planning']),
    },
    computation: {
      kind: 'aggregate',
      metrics: [{ op: 'count' }, { op: 'mean', measure: 'spend_yuan' }, { op: 'mean', measure: 'nights' }],
      groupBy: ['prefecture'],
      filters: [{ column: 'origin', in: ['省外', '境外'] }],
    },
    purpose: { code: 'tourism-planning', statement: 'Plan 2026 hotel capacity per prefecture from average spend and nights of visitors from outside Yunnan.' },
    destination: 'CN-53',
    expected: 'delivered',
    reviewerReason: 'Aggregate by prefecture, groups above the minimum size, purpose matches the offer.',
    story: 'a planning institute buys average spending and nights per prefecture of visitors from outside Yunnan',
  },
  {
    dataset: 'health',
    owner: '云南省卫生健康数据中心 Yunnan Health Data Centre',
    buyer: '某医药营销公司 A pharmaceutical marketing firm',
    offer: {
      title: '门诊费用统计（差分隐私）Outpatient fee statistics (differentially private)',
      description: 'Differentially private counts and mean fees by hospital and department.',
      allowedKinds: ['aggregate'],
      allowedColumns: ['hospital', 'department', 'fee_yuan'],
      priceModel: { kind: 'epsilon', baseFen: 10_000, fenPerEpsilon: 20_000 },
      platformFeeBps: 1_000,
      terms: terms(['public-health-research', 'market-research'], { epsilonPerQuery: 1, epsilonBudgetPerBuyer: 5, minGroupSize: 10 }),
    },
    computation: { kind: 'aggregate', metrics: [{ op: 'count' }, { op: 'mean', measure: 'fee_yuan' }], groupBy: ['hospital', 'department'], filters: [] },
    purpose: { code: 'market-research', statement: 'Find the hospitals and departments with the highest fees to target our sales representatives.' },
    destination: 'CN',
    expected: 'rejected-by-reviewer',
    reviewerReason: 'Health data for targeting sales at named hospitals is not a purpose this data should serve; rejected.',
    story: 'a marketing firm asks for mean fees per hospital and department to target its sales force',
  },
  {
    dataset: 'logistics',
    owner: '云南物流枢纽运营公司 Yunnan Logistics Hub Operator',
    // on the negative list's entity list (NL-06): the purpose is a permitted one, the buyer is not
    buyer: 'Example Prohibited Data Broker Ltd',
    offer: {
      title: '干线货运量与运费 Freight volume and revenue by route',
      description: 'Sums and means of tonnes and freight revenue, by route and mode.',
      allowedKinds: ['aggregate'],
      allowedColumns: ['route', 'mode', 'tonnes', 'revenue_yuan'],
      priceModel: { kind: 'fixed', perQueryFen: 8_000 },
      platformFeeBps: 1_000,
      terms: terms(['transport-planning', 'credit-assessment']),
    },
    computation: { kind: 'aggregate', metrics: [{ op: 'sum', measure: 'tonnes' }, { op: 'sum', measure: 'revenue_yuan' }], groupBy: ['route'], filters: [] },
    purpose: { code: 'credit-assessment', statement: 'Assess the credit of carriers on routes with falling freight revenue before extending credit.' },
    destination: 'CN',
    expected: 'denied-by-negative-list',
    reviewerReason: '',
    story: 'a data broker on the entity list of prohibited counterparties asks for route revenues',
  },
];
