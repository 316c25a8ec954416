import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { DatasetSchema } from '../../contracts/dataset/schema.js';

/**
 * Deterministic demo data for three sectors (contracts/dataset/sectors.ts): tourism spending by prefecture
 * and month, hospital outpatient visits by department, logistics freight by route. Same seed and row
 * count → byte-identical CSV, so demo output and tests are reproducible. Values are generated, not real.
 */

/** mulberry32: a tiny deterministic PRNG; quality is ample for plausible-looking demo rows. */
export function prng(seed: string): () => number {
  let h = 1779033703 ^ seed.length;
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MONTHS = Array.from({ length: 12 }, (_, i) => `2025-${String(i + 1).padStart(2, '0')}`);
const PREFECTURES = ['昆明市', '曲靖市', '玉溪市', '保山市', '昭通市', '丽江市', '普洱市', '临沧市', '楚雄州', '红河州', '文山州', '西双版纳州', '大理州', '德宏州', '怒江州', '迪庆州'];
const DEPARTMENTS = ['内科', '外科', '儿科', '妇产科', '眼科', '口腔科', '中医科', '急诊科'];
const HOSPITALS = ['省第一人民医院', '医科大学附一院', '大理州人民医院', '曲靖市第一人民医院', '红河州第一人民医院'];
const ROUTES = ['昆明—大理', '昆明—曲靖', '昆明—玉溪', '昆明—磨憨', '昆明—河口', '大理—丽江', '昆明—瑞丽', '曲靖—昭通'];

export type DemoKey = 'tourism' | 'health' | 'logistics';

export interface DemoDataset {
  key: DemoKey;
  title: string;
  description: string;
  schema: DatasetSchema;
  /** one CSV row (values in schema column order) for row index i */
  row(rand: () => number, i: number): (string | number)[];
}

const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
/** A skewed pick: earlier entries are more frequent (large prefectures, busy departments). */
const pickSkewed = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * rand() * xs.length)]!;
const money = (x: number): string => x.toFixed(2);

export const DEMO_DATASETS: readonly DemoDataset[] = [
  {
    key: 'tourism',
    title: '云南省游客消费（按州市、月份）Tourist spending by prefecture and month',
    description: 'One row per trip: destination prefecture, month, origin, spending in yuan and nights stayed. Generated demo data.',
    schema: DatasetSchema.parse({
      sector: 'tourism',
      columns: [
        { name: 'trip_id', type: 'identifier', role: 'identifier', level: 2, description: 'pseudonymous trip number' },
        { name: 'prefecture', type: 'category', role: 'dimension', level: 1, values: PREFECTURES },
        { name: 'origin', type: 'category', role: 'dimension', level: 1, values: ['省内', '省外', '境外'] },
        { name: 'month', type: 'category', role: 'dimension', level: 1, values: MONTHS },
        { name: 'spend_yuan', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 20000] },
        { name: 'nights', type: 'int', role: 'measure', level: 2, bounds: [0, 30] },
      ],
    }),
    row(rand, i) {
      const pref = pickSkewed(rand, PREFECTURES);
      const nights = Math.min(30, Math.floor(rand() * rand() * 9));
      const spend = Math.min(20000, 300 + nights * (250 + rand() * 500) + rand() * 800);
      return [`T${String(i + 1).padStart(8, '0')}`, pref, pickSkewed(rand, ['省外', '省内', '境外']), pick(rand, MONTHS), money(spend), nights];
    },
  },
  {
    key: 'health',
    title: '门诊就诊统计（按医院、科室）Hospital outpatient visits by department',
    description: 'One row per outpatient visit: hospital, department, month and fee. Health data, level 3. Generated demo data.',
    schema: DatasetSchema.parse({
      sector: 'health',
      columns: [
        { name: 'visit_id', type: 'identifier', role: 'identifier', level: 3, tags: ['personal', 'health'] },
        { name: 'hospital', type: 'category', role: 'dimension', level: 2, values: HOSPITALS },
        { name: 'department', type: 'category', role: 'dimension', level: 2, values: DEPARTMENTS },
        { name: 'month', type: 'category', role: 'dimension', level: 1, values: MONTHS },
        { name: 'fee_yuan', type: 'decimal(2)', role: 'measure', level: 3, tags: ['health'], bounds: [0, 5000] },
      ],
    }),
    row(rand, i) {
      const dept = pickSkewed(rand, DEPARTMENTS);
      const fee = Math.min(5000, 20 + rand() * rand() * 900 + (dept === '急诊科' ? 300 : 0));
      return [`V${String(i + 1).padStart(8, '0')}`, pick(rand, HOSPITALS), dept, pick(rand, MONTHS), money(fee)];
    },
  },
  {
    key: 'logistics',
    title: '干线货运量（按线路）Freight volume by route',
    description: 'One row per consignment: route, month, mode, tonnes and freight revenue. Generated demo data.',
    schema: DatasetSchema.parse({
      sector: 'transport-logistics',
      columns: [
        { name: 'consignment_id', type: 'identifier', role: 'identifier', level: 2 },
        { name: 'route', type: 'category', role: 'dimension', level: 1, values: ROUTES },
        { name: 'mode', type: 'category', role: 'dimension', level: 1, values: ['公路', '铁路', '航空'] },
        { name: 'month', type: 'category', role: 'dimension', level: 1, values: MONTHS },
        { name: 'tonnes', type: 'decimal(1)', role: 'measure', level: 2, bounds: [0, 60] },
        { name: 'revenue_yuan', type: 'decimal(2)', role: 'measure', level: 2, bounds: [0, 100000] },
      ],
    }),
    row(rand, i) {
      const mode = pickSkewed(rand, ['公路', '铁路', '航空']);
      const tonnes = mode === '航空' ? rand() * 2 : 1 + rand() * 39;
      const perTonne = mode === '航空' ? 6000 : mode === '铁路' ? 180 : 320;
      return [`C${String(i + 1).padStart(8, '0')}`, pickSkewed(rand, ROUTES), mode, pick(rand, MONTHS), tonnes.toFixed(1), money(Math.min(100000, tonnes * perTonne * (0.8 + rand() * 0.4)))];
    },
  },
];

export const demoDataset = (key: DemoKey): DemoDataset => DEMO_DATASETS.find((d) => d.key === key)!;

/** Writes `rows` rows (header first) of a demo dataset; deterministic in (seed, key, rows). */
export async function writeDemoCsv(path: string, ds: DemoDataset, rows: number, seed = '001'): Promise<void> {
  const rand = prng(`${seed}:${ds.key}`);
  const out = createWriteStream(path);
  out.write(ds.schema.columns.map((c) => c.name).join(',') + '\n');
  let buf = '';
  for (let i = 0; i < rows; i++) {
    buf += ds.row(rand, i).join(',') + '\n';
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}
