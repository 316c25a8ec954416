import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveActor, certify, uploadBundle, offerInput, topUp, approve, waitForTrade, idemKey, type Live, type SealedFixture } from '../../server/fixture.js';
import type { Actor } from '../../server/harness.js';
import { sealDataset } from '../../../client-sdk/dataset/seal.js';
import type { DatasetSchema } from '../../../contracts/dataset/schema.js';
import { Rng } from '../lib.js';

/**
 * A small telecom table for the attack files: district × plan × cohort × income band are public dimensions,
 * `phone` an attribute, `age` and `income` measures. One target customer lives alone in a rare cell
 * (district D6, plan pro, cohort 2019) and has TARGET_ROWS rows (monthly bills): the attacks try to learn
 * the target's age, income or income band from what is released.
 */
export const BANDS = Array.from({ length: 16 }, (_, i) => `b${String(i).padStart(2, '0')}`);
export const BAND_WIDTH = 5000;
export const bandOf = (income: number): string => BANDS[Math.min(15, Math.floor(income / BAND_WIDTH))]!;

export const SCHEMA: DatasetSchema = {
  sector: 'services',
  columns: [
    { name: 'customer_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal'] },
    { name: 'district', type: 'category', role: 'dimension', level: 1, tags: [], values: ['D1', 'D2', 'D3', 'D4', 'D5', 'D6'] },
    { name: 'plan', type: 'category', role: 'dimension', level: 1, tags: [], values: ['basic', 'plus', 'pro'] },
    { name: 'cohort', type: 'category', role: 'dimension', level: 1, tags: [], values: ['c2019', 'c2020', 'c2021'] },
    { name: 'income_band', type: 'category', role: 'dimension', level: 2, tags: ['financial'], values: BANDS },
    { name: 'phone', type: 'text', role: 'attribute', level: 2, tags: ['personal'] },
    { name: 'age', type: 'int', role: 'measure', level: 2, tags: ['personal'], bounds: [18, 99] },
    { name: 'income', type: 'int', role: 'measure', level: 2, tags: ['financial'], bounds: [0, 80000] },
  ],
};

export interface Row {
  id: string;
  district: string;
  plan: string;
  cohort: string;
  band: string;
  phone: string;
  age: number;
  income: number;
}

export const TARGET = { id: 'CUS-7Q4TARGET', district: 'D6', plan: 'pro', cohort: 'c2019', phone: '13912345678', age: 77, income: 61234 };
export const TARGET_ROWS = 10;

/** ~130 rows: 110 customers in D1..D5, the target (10 rows) and two neighbours in D6 (basic, c2021). */
export function telecomRows(seed = 5): Row[] {
  const rng = new Rng(seed);
  const rows: Row[] = [];
  const plans = ['basic', 'plus', 'pro'];
  const cohorts = ['c2019', 'c2020', 'c2021'];
  for (let i = 0; i < 110; i++) {
    // incomes stay below the target's band, so the target is alone in its band everywhere in D6
    const income = 3000 + rng.int(52_000);
    rows.push({
      id: `CUS-${(700_001 + i * 7919).toString(36).toUpperCase()}`,
      district: `D${1 + (i % 5)}`,
      plan: plans[rng.int(3)]!,
      cohort: cohorts[rng.int(3)]!,
      band: bandOf(income),
      phone: `139${String(10_000_000 + i * 104_729).slice(0, 8)}`,
      age: 18 + rng.int(60),
      income,
    });
  }
  for (let j = 0; j < TARGET_ROWS; j++) rows.push({ ...TARGET, band: bandOf(TARGET.income) });
  for (let j = 0; j < 2; j++) {
    const income = 21_000 + j * 4000;
    rows.push({ id: `CUS-NB${j}X9`, district: 'D6', plan: 'basic', cohort: 'c2021', band: bandOf(income), phone: `1370000000${j}`, age: 30 + j, income });
  }
  return rows;
}

export interface World {
  l: Live;
  owner: Actor;
  reviewer: Actor;
  rows: Row[];
  fixture: SealedFixture;
  dataset: Record<string, any>;
}

let seq = 0;
/** Seal the rows into a fresh bundle (its own commitment, so its own differencing history and budgets). */
export async function sealRows(l: Live, rows: Row[]): Promise<SealedFixture> {
  const dir = mkdtempSync(join(l.dir, `telecom-${++seq}-`));
  const csv = join(dir, 'bills.csv');
  writeFileSync(
    csv,
    ['customer_id,district,plan,cohort,income_band,phone,age,income', ...rows.map((r) => [r.id, r.district, r.plan, r.cohort, r.band, r.phone, r.age, r.income].join(','))].join('\n') + '\n',
  );
  const sealed = await sealDataset({ input: csv, schema: SCHEMA, enclave: l.enclaveInfo as any, outDir: join(dir, 'bundle'), threads: 1, rowsPerChunk: 64 });
  return { csv, rows: [], manifest: sealed.manifest as any, blobDir: sealed.blobDir, secrets: [] } as SealedFixture;
}

export async function newWorld(l: Live, rows = telecomRows()): Promise<World> {
  const owner = await liveActor(l, 'owner');
  const reviewer = await liveActor(l, 'reviewer');
  await certify(l, reviewer);
  const fixture = await sealRows(l, rows);
  const dataset = await uploadBundle(l, owner, fixture, 'Telecom bills by district');
  return { l, owner, reviewer, rows, fixture, dataset };
}

/** The owner sets the dataset-wide ε total (what all buyers together may spend on it). */
export async function setDatasetEpsilonTotal(w: World, epsilonBudgetTotal: number): Promise<void> {
  const set = await w.l.http().put(`/v1/datasets/${w.dataset.id}/privacy-budget`).set(w.owner.auth).send({ epsilonBudgetTotal });
  expect(set.status, JSON.stringify(set.body)).to.equal(200);
}

export const PRICE = 5000;
export const purpose = { code: 'market-research', statement: 'Size the market for mobile plans by district' };

/** An offer on the world's dataset (exact unless `terms.epsilonPerQuery` > 0). */
export async function newOffer(w: World, terms: Record<string, unknown> = {}, columns = ['district', 'plan', 'cohort', 'income_band', 'age', 'income'], dataset = w.dataset): Promise<Record<string, any>> {
  const base = offerInput().terms as Record<string, unknown>;
  const o = await w.l.http().post(`/v1/datasets/${dataset.id}/offers`).set(w.owner.auth).send(
    offerInput({ title: 'Telecom bills', allowedKinds: ['aggregate', 'sql'], allowedColumns: columns, priceModel: { kind: 'fixed', perQueryFen: PRICE }, terms: { ...base, minGroupSize: 5, ...terms } }),
  );
  if (o.status !== 201) throw new Error(`offer: ${o.status} ${JSON.stringify(o.body)}`);
  return o.body.offer;
}

export async function newBuyer(l: Live, org?: { id: string }, funds = 10_000_000): Promise<Actor> {
  const b = await liveActor(l, 'buyer', org);
  if (!org) await topUp(l, b.orgId, funds);
  return b;
}

export async function wallet(l: Live, who: Actor): Promise<{ availableFen: number; heldFen: number; revenueFen: number }> {
  const r = await l.http().get('/v1/ledger/wallet').set(who.auth);
  if (r.status !== 200) throw new Error(`wallet: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export type Bought =
  | { ok: true; tradeId: string; result: any; receipt: any; quote: any }
  | { ok: false; stage: 'quote' | 'submit' | 'screening' | 'review' | 'enclave'; type: string; reason: string; tradeId?: string; chargedFen?: number; quote?: any; status?: number };

/** Quote only: the quote, or its refusal (status, problem type). */
export async function quote(w: World, offer: Record<string, any>, buyer: Actor, computation: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const q = await w.l.http().post(`/v1/offers/${offer.id}/quotes`).set(buyer.auth).send({ computation, purpose, destination: 'CN' });
  return { status: q.status, body: q.body };
}

/** Quote, submit, approve, wait: the released result and receipt, or where and why it was refused. */
export async function buy(w: World, offer: Record<string, any>, buyer: Actor, computation: Record<string, unknown>): Promise<Bought> {
  const { l } = w;
  const q = await quote(w, offer, buyer, computation);
  if (q.status !== 201) return { ok: false, stage: 'quote', type: q.body.type, reason: String(q.body.detail), status: q.status };
  const t = await l.http().post('/v1/trades').set(buyer.auth).set('Idempotency-Key', idemKey()).send({ quote: q.body, computation });
  if (t.status !== 201) return { ok: false, stage: 'submit', type: t.body.type, reason: String(t.body.detail), quote: q.body };
  if (t.body.state !== 'under_review') return { ok: false, stage: 'screening', type: t.body.state, reason: JSON.stringify(t.body).slice(0, 300), quote: q.body };
  const a = await approve(l, { owner: w.owner, buyer, reviewer: w.reviewer, fixture: w.fixture, dataset: w.dataset, offer }, t.body.id);
  if (a.status !== 200) return { ok: false, stage: 'review', type: String(a.body.type), reason: JSON.stringify(a.body).slice(0, 300), quote: q.body };
  const done = await waitForTrade(l, buyer.auth, t.body.id, ['settled', 'failed'], 120_000);
  if (done.state !== 'settled') {
    return { ok: false, stage: 'enclave', tradeId: t.body.id, type: done.failure?.type ?? 'unknown', reason: String(done.failureReason ?? JSON.stringify(done.job)).slice(0, 300), chargedFen: done.failure?.chargedFen, quote: q.body };
  }
  const r = await l.http().get(`/v1/trades/${t.body.id}/result`).set(buyer.auth);
  return { ok: true, tradeId: t.body.id, result: r.body.result, receipt: r.body.receipt, quote: q.body };
}

export const sql = (query: string, clamp?: Record<string, [number, number]>): Record<string, unknown> => ({ kind: 'sql', query, ...(clamp ? { clamp } : {}) });
export const he = (metrics: { op: string; measure?: string }[], groupBy: string[] = [], filters: { column: string; in: string[] }[] = []): Record<string, unknown> => ({ kind: 'aggregate', metrics, groupBy, filters });

/** The first value of the first group (ungrouped queries). */
export const only = (b: Bought, name: string): number | null => (b.ok ? (b.result.groups?.[0]?.values?.[name] ?? null) : null);
export const brief = (b: Bought): string => (b.ok ? 'released' : `refused at ${b.stage} (${b.type})`);
